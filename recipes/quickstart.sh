#!/usr/bin/env bash
# The quickstart (`make demo`), on 2 CPU cores in about 8 minutes:
#   the embedded multilingual sample (preprocess/sample/, real dump formats, 7 languages)
#   -> xlmk-preprocess (data directory + an mLAMA-style probe set)
#   -> xlmk_tiny trained with MLM alone (the stand-in for XLM-R)
#   -> continued with MLM + MEP + OE, as XLM-K continues XLM-R: in-batch negatives first, then
#      from half-way a queue of 1024 keys written by a momentum key encoder (MoCo), the queue
#      setting that holds on the sample (docs/design.md, "The momentum key encoder, measured")
#   -> probing (P@1) and cross-lingual entity retrieval, before and after
#   -> entity linking (xlmk-index, xlmk-link): a German and a Chinese mention, and accuracy on
#      the held-out MEP mentions, before (MLM only, <s> vectors) and after (the MEP heads)
#   -> export to Hugging Face (verified) -> fill <mask> in two languages with transformers
#   -> a summary.
# Safe to re-run: every finished step is reused; an interrupted training run resumes from
# its checkpoint_last.pt. OUT (runs/quickstart), MLM_UPDATES (600), XLMK_UPDATES (900), QUEUE_JOIN
# (XLMK_UPDATES/2) and OMP_NUM_THREADS (1) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
OUT=${OUT:-runs/quickstart}
MLM_UPDATES=${MLM_UPDATES:-600}
XLMK_UPDATES=${XLMK_UPDATES:-900}
QUEUE_JOIN=${QUEUE_JOIN:-$((XLMK_UPDATES / 2))}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
mkdir -p "$OUT"
START=$SECONDS
source recipes/sample_lib.sh
step() { printf '\n== [%s/8] %s  (%d s so far)\n' "$1" "$2" $((SECONDS - START)); }

step 1 "preprocess the embedded sample -> $OUT/data, probe set -> $OUT/probe"
prepare_sample "$OUT"

step 2 "MLM only, $MLM_UPDATES updates (the stand-in for XLM-R) -> $OUT/mlm"
train_stage "$OUT/data" "$OUT/mlm" "$MLM_UPDATES" -- "${SAMPLE_MLM[@]}" --seed 1

step 3 "XLM-K: MLM + MEP + OE, $XLMK_UPDATES updates, continued from the MLM model, the momentum queue from update $QUEUE_JOIN -> $OUT/xlmk"
train_stage "$OUT/data" "$OUT/xlmk" "$XLMK_UPDATES" "$OUT/mlm/checkpoint_last.pt" -- "${SAMPLE_CONTINUE[@]}" \
    "${SAMPLE_QUEUE[@]}" --queue-warmup-updates "$QUEUE_JOIN" "${SAMPLE_MOMENTUM[@]}" --seed 1
score_in_batch "$OUT/data" "$OUT/xlmk"  # the summary's "in-batch" column: the final model without its queue

step 4 "probe factual knowledge (mLAMA-style typed querying) and cross-lingual entity retrieval"
for name in mlm xlmk; do
    probe_checkpoint "$OUT/$name/checkpoint_last.pt" "$OUT/data" "$OUT/probe" "$OUT/probe_$name.json"
done

step 5 "entity linking: index the descriptions, link two mentions, score the held-out mentions"
# before: the MLM-only model has no MEP heads, so its index holds <s> states (--vectors cls)
for name in mlm xlmk; do
    vectors=$([ "$name" = mlm ] && echo cls || echo mep_key)
    ckpt="$OUT/$name/checkpoint_last.pt"
    if [ -f "$OUT/index_$name/index.json" ] && [ "$OUT/index_$name/index.json" -nt "$ckpt" ]; then
        reused "$OUT/index_$name"
    else
        "$BIN/xlmk-index" "$ckpt" --data "$OUT/data" --out "$OUT/index_$name" --vectors "$vectors" --overwrite \
            2> "$OUT/index_$name.log"
    fi
    echo "-- $name"
    "$BIN/xlmk-link" "$OUT/index_$name" "$ckpt" \
        "Die Hauptstadt [[Berlin]] liegt an der Spree." "[[东京]]是日本的首都。" -k 3 2>> "$OUT/index_$name.log"
    if [ -f "$OUT/linking_$name.json" ] && [ "$OUT/linking_$name.json" -nt "$ckpt" ]; then
        reused "$OUT/linking_$name.json"
    else
        "$BIN/xlmk-link" eval "$OUT/index_$name" "$ckpt" --mep --output "$OUT/linking_$name.json" \
            > "$OUT/linking_$name.md" 2>> "$OUT/index_$name.log"
    fi
done

step 6 "export to Hugging Face (verified against fairseq) -> $OUT/hf"
if [ -f "$OUT/hf/xlmk_export.json" ] && [ "$OUT/hf/xlmk_export.json" -nt "$OUT/xlmk/checkpoint_last.pt" ]; then
    reused "$OUT/hf"
else
    "$BIN/xlmk-export-hf" "$OUT/xlmk/checkpoint_last.pt" "$OUT/data" "$OUT/hf" --overwrite
fi

step 7 "fill <mask> with transformers, offline, in two languages"
"$PY" recipes/fill_mask.py "$OUT/hf" "Berlin is the capital of <mask>." "Berlin ist die Hauptstadt von <mask>."

step 8 "summary"
"$PY" recipes/quickstart_summary.py "$OUT"
printf '\nfinished in %d s\n' $((SECONDS - START))
