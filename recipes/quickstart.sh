#!/usr/bin/env bash
# The quickstart (`make demo`), on 2 CPU cores in about 7 minutes:
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
source recipes/sample_lib.sh
step() { printf '\n== [%s/7] %s  (%d s so far)\n' "$1" "$2" $((SECONDS - START)); }

step 1 "preprocess the embedded sample -> $OUT/data, probe set -> $OUT/probe"
prepare_sample "$OUT"

step 2 "MLM only, $MLM_UPDATES updates (the stand-in for XLM-R) -> $OUT/mlm"
train_stage "$OUT/data" "$OUT/mlm" "$MLM_UPDATES" -- "${SAMPLE_MLM[@]}" --seed 1

step 3 "XLM-K: MLM + MEP + OE, $XLMK_UPDATES updates, continued from the MLM model -> $OUT/xlmk"
train_stage "$OUT/data" "$OUT/xlmk" "$XLMK_UPDATES" "$OUT/mlm/checkpoint_last.pt" -- "${SAMPLE_CONTINUE[@]}" --seed 1

step 4 "probe factual knowledge (mLAMA-style typed querying) and cross-lingual entity retrieval"
for name in mlm xlmk; do
    probe_checkpoint "$OUT/$name/checkpoint_last.pt" "$OUT/data" "$OUT/probe" "$OUT/probe_$name.json"
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
