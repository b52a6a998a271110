#!/usr/bin/env bash
# The paper's ablation (Tables 4 and 5) at toy scale, on the embedded sample: one MLM-trained
# xlmk_tiny (the stand-in for XLM-R) is continued with the same updates, settings and seeds as
#   mlm            MLM only                       (--knowledge-tasks none)
#   desc_mlm       MLM on the descriptions too    (--knowledge-tasks none --description-mlm: "w/o knowledge tasks")
#   mep            MLM + Masked Entity Prediction (--knowledge-tasks mep)
#   oe             MLM + Object Entailment        (--knowledge-tasks oe)
#   xlmk           MLM + MEP + OE, in-batch negatives only
#   xlmk_queue     MLM + MEP + OE, queue of keys from the shared encoder (the paper's setting)
#   xlmk_momentum  MLM + MEP + OE, queue of keys from a momentum encoder (MoCo)
#   lp             MLM + link prediction on code-switched triples (knowledge-injected QA paper)
#   xlmk_lp        MLM + MEP + OE + link prediction
# (mep, oe and xlmk use the sample's default, sample_lib.sh's SAMPLE_CONTINUE; the two queue
# rows add SAMPLE_QUEUE, the last one SAMPLE_MOMENTUM), validated once at the end (the queue rows
# also with in-batch negatives only, like the other rows: fairseq-validate), then each is
# probed (P@1; also on the probe facts whose triples were trained on and on the others,
# recipes/split_probe_set.py) and asked for cross-lingual entity retrieval; the table (mean and
# standard deviation over the seeds) goes to stdout and OUT/table.md.
#
#   recipes/ablation_table.sh            # 3 seeds x 9 variants x 400 updates: about 85 min with JOBS=2
#   recipes/ablation_table.sh --smoke    # 1 seed, 2 updates, a few facts: checks that it runs
# Environment: OUT (runs/ablation_table), SEEDS ("1 2 3"), UPDATES (400), MLM_UPDATES (600), QUEUE_JOIN
# (UPDATES/2: when the queue rows' queue joins),
# VARIANTS (all, in the order above), JOBS (1: runs at a time), PY. Finished runs are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
source recipes/sample_lib.sh
PROBE_FLAGS=()
if [ "${1:-}" = "--smoke" ]; then
    OUT=${OUT:-runs/ablation_smoke} SEEDS=1 UPDATES=2 MLM_UPDATES=2
    PROBE_FLAGS=(--langs en,de --max-facts-per-relation 2)
fi
OUT=${OUT:-runs/ablation_table}
SEEDS=${SEEDS:-1 2 3}
UPDATES=${UPDATES:-400}
MLM_UPDATES=${MLM_UPDATES:-600}
QUEUE_JOIN=${QUEUE_JOIN:-$((UPDATES / 2))}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PY BIN
declare -A VARIANT=(
    [mlm]="--knowledge-tasks none"
    [desc_mlm]="--knowledge-tasks none --description-mlm"
    [mep]="--knowledge-tasks mep"
    [oe]="--knowledge-tasks oe"
    [xlmk]="--knowledge-tasks mep,oe"
    [xlmk_queue]="--knowledge-tasks mep,oe ${SAMPLE_QUEUE[*]} --queue-warmup-updates $QUEUE_JOIN"
    [xlmk_momentum]="--knowledge-tasks mep,oe ${SAMPLE_QUEUE[*]} --queue-warmup-updates $QUEUE_JOIN ${SAMPLE_MOMENTUM[*]}"
    [lp]="--knowledge-tasks lp"
    [xlmk_lp]="--knowledge-tasks mep,oe,lp"
)
read -r -a ORDER <<< "${VARIANTS:-mlm desc_mlm mep oe xlmk xlmk_queue xlmk_momentum lp xlmk_lp}"

echo "== the sample and the MLM-trained starting point -> $OUT"
mkdir -p "$OUT"
prepare_sample "$OUT"
train_stage "$OUT/data" "$OUT/start" "$MLM_UPDATES" -- "${SAMPLE_MLM[@]}" --seed 1 > /dev/null
[ -d "$OUT/probe_split" ] || "$PY" recipes/split_probe_set.py "$OUT/data" "$OUT/probe" "$OUT/probe_split"

probe_facts() {  # SAVE PART: P@1 on OUT/probe_split/PART (seen, held_out) -> SAVE/probe_PART.json
    local out="$1/probe_$2.json"
    if [ -f "$out" ] && [ "$out" -nt "$1/checkpoint_last.pt" ]; then return; fi
    "$BIN/xlmk-probe" "$1/checkpoint_last.pt" --data "$OUT/data" --mlama "$OUT/probe_split/$2" \
        --output "$out" "${PROBE_FLAGS[@]}" > "${out%.json}.md" 2> "${out%.json}.log"
}

run_variant() {  # NAME SEED: continue the starting point, then probe
    local save="$OUT/$1/seed$2"
    # shellcheck disable=SC2086
    train_stage "$OUT/data" "$save" "$UPDATES" "$OUT/start/checkpoint_last.pt" -- "${SAMPLE_CONTINUE[@]}" \
        ${VARIANT[$1]} --seed "$2" --validate-interval 1000000 > /dev/null  # validated at the end only
    if [[ "${VARIANT[$1]}" == *--queue-size* ]]; then score_in_batch "$OUT/data" "$save" > /dev/null; fi
    probe_checkpoint "$save/checkpoint_last.pt" "$OUT/data" "$OUT/probe" "$save/probe.json" "${PROBE_FLAGS[@]}"
    probe_facts "$save" seen
    probe_facts "$save" held_out
    echo "  $1 seed $2: done"
}

echo "== ${#ORDER[@]} variants x seeds ($SEEDS), $UPDATES updates each, ${JOBS:-1} at a time"
running=0
for seed in $SEEDS; do
    for name in "${ORDER[@]}"; do
        run_variant "$name" "$seed" &
        running=$((running + 1))
        if [ "$running" -ge "${JOBS:-1}" ]; then wait -n; running=$((running - 1)); fi
    done
done
while [ "$running" -gt 0 ]; do wait -n; running=$((running - 1)); done

"$PY" recipes/ablation_table.py "$OUT" "${ORDER[@]}" | tee "$OUT/table.md"
