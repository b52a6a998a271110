#!/usr/bin/env bash
# The quickstart (`make demo`), on 2 CPU cores in about 10 minutes:
#   the embedded multilingual sample (preprocess/sample/, real dump formats, 7 languages)
#   -> xlmk-preprocess (data directory + an mLAMA-style probe set)
#   -> xlmk_tiny trained with MLM alone (the stand-in for XLM-R)
#   -> continued with MLM + MEP + OE, as XLM-K continues XLM-R
#   -> probing (P@1) and cross-lingual entity retrieval, before and after
#   -> export to Hugging Face (verified) -> fill <mask> in two languages with transformers
#   -> a summary.
# Safe to re-run: every finished step is reused; an interrupted training run resumes from
# its checkpoint_last.pt. OUT (runs/quickstart), MLM_UPDATES, XLMK_UPDATES and
# OMP_NUM_THREADS (1) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
OUT=${OUT:-runs/quickstart}
MLM_UPDATES=${MLM_UPDATES:-600}
XLMK_UPDATES=${XLMK_UPDATES:-500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
mkdir -p "$OUT"
START=$SECONDS
step() { printf '\n== [%s/7] %s  (%d s so far)\n' "$1" "$2" $((SECONDS - START)); }
reused() { echo "  done before: reused ($1)"; }

step 1 "preprocess the embedded sample -> $OUT/data, probe set -> $OUT/probe"
if [ -f "$OUT/data/manifest.json" ]; then reused "$OUT/data"; else
    "$BIN/xlmk-preprocess" all --config recipes/config/preprocess_sample.yaml --work "$OUT/work" --out "$OUT/data"
fi
if [ -d "$OUT/probe" ]; then reused "$OUT/probe"; else
    "$BIN/xlmk-preprocess" probe-set --work "$OUT/work" --out "$OUT/probe"
fi

COMMON=(--user-dir xlmk_fairseq --task knowledge_pretraining --criterion xlmk --arch xlmk_tiny
        --batch-size 16 --tokens-per-sample 128 --knowledge-tokens-per-sample 96
        --optimizer adam --lr 2e-3 --lr-scheduler inverse_sqrt --warmup-updates 50
        --cpu --num-workers 0 --data-buffer-size 0 --seed 1 --no-epoch-checkpoints
        --log-format json --log-interval 25 --validate-interval 10)

# train NAME UPDATES FLAGS...: fairseq-train into $OUT/NAME; its output goes to $OUT/NAME.log
train() {
    local name=$1 updates=$2
    shift 2
    if [ "$(cat "$OUT/$name/finished" 2>/dev/null)" = "$updates" ]; then reused "$OUT/$name"; return; fi
    "$BIN/fairseq-train" "$OUT/data" "${COMMON[@]}" --max-update "$updates" --save-dir "$OUT/$name" \
        --tensorboard-logdir "$OUT/tb/$name" "$@" 2>&1 | "$PY" recipes/follow_log.py "$OUT/$name.log"
    echo "$updates" > "$OUT/$name/finished"
}

step 2 "MLM only, $MLM_UPDATES updates (the stand-in for XLM-R) -> $OUT/mlm"
train mlm "$MLM_UPDATES" --knowledge-tasks none --queue-size 32

step 3 "XLM-K: MLM + MEP + OE, $XLMK_UPDATES updates, continued from the MLM model -> $OUT/xlmk"
RESTORE=()
[ -f "$OUT/xlmk/checkpoint_last.pt" ] || RESTORE=(--restore-file "$OUT/mlm/checkpoint_last.pt"
    --reset-optimizer --reset-dataloader --reset-meters --reset-lr-scheduler)
train xlmk "$XLMK_UPDATES" "${RESTORE[@]}" --queue-size 32 --normalize-keys --temperature 0.05 \
    --queue-warmup-updates 150

step 4 "probe factual knowledge (mLAMA-style typed querying) and cross-lingual entity retrieval"
for name in mlm xlmk; do
    if [ -f "$OUT/probe_$name.json" ] && [ "$OUT/probe_$name.json" -nt "$OUT/$name/checkpoint_last.pt" ]; then
        reused "$OUT/probe_$name.json"; continue
    fi
    "$BIN/xlmk-probe" "$OUT/$name/checkpoint_last.pt" --data "$OUT/data" --mlama "$OUT/probe" \
        --retrieval --output "$OUT/probe_$name.json" > "$OUT/probe_$name.md"
    echo "  $name: $OUT/probe_$name.json"
done

step 5 "export to Hugging Face (verified against fairseq) -> $OUT/hf"
if [ -f "$OUT/hf/xlmk_export.json" ] && [ "$OUT/hf/xlmk_export.json" -nt "$OUT/xlmk/checkpoint_last.pt" ]; then
    reused "$OUT/hf"
else
    "$BIN/xlmk-export-hf" "$OUT/xlmk/checkpoint_last.pt" "$OUT/data" "$OUT/hf" --overwrite
fi

step 6 "fill <mask> with transformers, offline, in two languages"
"$PY" recipes/fill_mask.py "$OUT/hf" "Berlin is the capital of <mask>." "Berlin ist die Hauptstadt von <mask>."

step 7 "summary"
"$PY" recipes/quickstart_summary.py "$OUT"
printf '\nfinished in %d s\n' $((SECONDS - START))
