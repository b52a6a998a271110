#!/usr/bin/env bash
# The main job on a CPU: the embedded multilingual sample (preprocess/sample/, real dump
# formats, 7 languages) -> xlmk-preprocess -> MLM-only xlmk_tiny (the stand-in for XLM-R)
# -> continued with MLM + MEP + OE, as XLM-K continues XLM-R -> a summary.
# Safe to re-run: finished steps are reused (fairseq resumes from checkpoint_last.pt and
# stops at once when --max-update is reached).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
OUT=${OUT:-runs/demo}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"

if [ ! -f "$OUT/data/manifest.json" ]; then
    echo "== 1/3 preprocess the embedded sample -> $OUT/data"
    "$BIN/xlmk-preprocess" all --config recipes/config/preprocess_sample.yaml --work "$OUT/work" --out "$OUT/data"
fi

COMMON=(--user-dir xlmk_fairseq --task knowledge_pretraining --criterion xlmk --arch xlmk_tiny
        --batch-size 16 --tokens-per-sample 128 --knowledge-tokens-per-sample 96 --queue-size 64
        --optimizer adam --cpu --num-workers 0 --data-buffer-size 0 --seed 1 --no-epoch-checkpoints
        --log-format json --log-interval 10)

echo "== 2/3 MLM only (the stand-in for XLM-R) -> $OUT/mlm"
"$BIN/fairseq-train" "$OUT/data" "${COMMON[@]}" --knowledge-tasks none \
    --lr 1e-3 --max-update ${MLM_UPDATES:-400} --save-dir "$OUT/mlm" \
    --tensorboard-logdir "$OUT/tb/mlm" --log-file "$OUT/mlm.log" > /dev/null
tail -n 1 "$OUT/mlm.log"

echo "== 3/3 XLM-K: MLM + MEP + OE, continued from the MLM model -> $OUT/xlmk"
RESTORE=()
[ -f "$OUT/xlmk/checkpoint_last.pt" ] || RESTORE=(--restore-file "$OUT/mlm/checkpoint_last.pt"
    --reset-optimizer --reset-dataloader --reset-meters --reset-lr-scheduler)
"$BIN/fairseq-train" "$OUT/data" "${COMMON[@]}" "${RESTORE[@]}" \
    --lr 1e-3 --normalize-keys --temperature 0.1 --queue-warmup-updates 100 \
    --max-update ${XLMK_UPDATES:-300} --save-dir "$OUT/xlmk" \
    --tensorboard-logdir "$OUT/tb/xlmk" --log-file "$OUT/xlmk.log" > /dev/null

"$PY" recipes/summarize_log.py "$OUT/xlmk.log" --batch-size 16
echo "checkpoint: $OUT/xlmk/checkpoint_last.pt   TensorBoard: $OUT/tb"
