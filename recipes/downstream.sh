#!/usr/bin/env bash
# recipes/downstream.sh EXPORT_DIR DATA_ROOT OUT
#
# The paper's downstream protocol for one model: MLQA (with the G-XLT grid), XNLI and NER, each
# fine-tuned on English with the paper's settings and seeds 1-4 (xlmk-finetune's defaults), every
# language predicted and scored, into OUT/<NAME>/{qa,xnli,ner}/; then OUT/table.md compares every
# model fine-tuned into OUT. Run it once with the XLM-K export and once with the baseline (an
# XLM-R directory, or the MLM-only export) and the same OUT: the table shows both side by side.
#
# DATA_ROOT layout (where to get each set: docs/finetuning.md):
#   squad/train-v1.1.json
#   mlqa/MLQA_V1/dev/dev-context-<c>-question-<q>.json     (the c = q files select the model)
#   mlqa/MLQA_V1/test/test-context-<c>-question-<q>.json   (all 49 pairs: the G-XLT grid)
#   xnli/multinli.train.en.tsv                             (XNLI-MT-1.0/multinli/, or MultiNLI's .jsonl)
#   xnli/xnli.dev.tsv  xnli/xnli.test.tsv                  (XNLI-1.0/)
#   ner/en.train  ner/<lang>.dev  ner/<lang>.test          (XGLUE's NER/; PAN-X files work too)
#
# Environment: NAME (the model's row in the tables; default EXPORT_DIR's name), SEEDS (1,2,3,4),
# TASKS ("qa xnli ner"), FLAGS (added for every task, e.g. --bf16), QA_FLAGS, XNLI_FLAGS, NER_FLAGS,
# FINETUNE (the command; e.g. "torchrun --nproc_per_node 8 -m xlmk_fairseq.finetune.cli" for 8 GPUs).
# The CPU smoke run on generated data (README): see docs/finetuning.md.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 EXPORT_DIR DATA_ROOT OUT" >&2
    exit 2
fi
MODEL=$1 DATA=$2 OUT=$3
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
FINETUNE=${FINETUNE:-$PY -m xlmk_fairseq.finetune.cli}
NAME=${NAME:-$(basename "$MODEL")}
SEEDS=${SEEDS:-1,2,3,4}
TASKS=${TASKS:-qa xnli ner}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
read -r -a flags <<< "${FLAGS:-}"

need() { for f in "$@"; do [ -e "$f" ] || { echo "downstream.sh: missing $f (layout: see the top of $0)" >&2; exit 2; }; done; }

for task in $TASKS; do
    out="$OUT/$NAME/$task"
    case $task in
        qa)   need "$DATA/squad/train-v1.1.json" "$DATA/mlqa/MLQA_V1/dev" "$DATA/mlqa/MLQA_V1/test"
              read -r -a extra <<< "${QA_FLAGS:-}"
              inputs=(--train "$DATA/squad/train-v1.1.json" --dev "$DATA/mlqa/MLQA_V1/dev"
                      --test "$DATA/mlqa/MLQA_V1/test") ;;
        xnli) need "$DATA/xnli/multinli.train.en.tsv" "$DATA/xnli/xnli.dev.tsv" "$DATA/xnli/xnli.test.tsv"
              read -r -a extra <<< "${XNLI_FLAGS:-}"
              inputs=(--train "$DATA/xnli/multinli.train.en.tsv" --dev "$DATA/xnli/xnli.dev.tsv"
                      --test "$DATA/xnli/xnli.test.tsv") ;;
        ner)  need "$DATA/ner/en.train"
              read -r -a extra <<< "${NER_FLAGS:-}"
              inputs=(--train "$DATA/ner/en.train" --dev "$DATA"/ner/*.dev --test "$DATA"/ner/*.test) ;;
        *)    echo "downstream.sh: unknown task $task (qa, xnli, ner)" >&2; exit 2 ;;
    esac
    echo "== $NAME: $task -> $out"
    $FINETUNE "$task" --model "$MODEL" "${inputs[@]}" --output-dir "$out" --seeds "$SEEDS" --name "$NAME" \
        --overwrite ${flags[@]+"${flags[@]}"} ${extra[@]+"${extra[@]}"}
done
"$PY" -m xlmk_fairseq.finetune.tables "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
