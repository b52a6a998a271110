# Shared by quickstart.sh and ablation_table.sh (sourced, not run): the training settings for
# the embedded sample on a CPU and the steps both scripts take. Needs PY and BIN (the venv's
# python and bin directory). Why these values: docs/design.md, "What the quickstart shows".

SAMPLE_BATCH=16  # also the in-batch scoring's batch: in-batch chance is 1/SAMPLE_BATCH
SAMPLE_COMMON=(--user-dir xlmk_fairseq --task knowledge_pretraining --criterion xlmk --arch xlmk_tiny
               --batch-size "$SAMPLE_BATCH" --tokens-per-sample 128 --knowledge-tokens-per-sample 96 --queue-size 32
               --optimizer adam --cpu --num-workers 0 --data-buffer-size 0 --no-epoch-checkpoints
               --log-format json --log-interval 25 --validate-interval 10)
# stage 1, the stand-in for XLM-R: MLM alone
SAMPLE_MLM=(--knowledge-tasks none --lr 1e-3)
# stage 2, continued from stage 1 (a variant's own flags come after these): in-batch negatives
# only (the queue is filled and saved but never joins); the ablation rows compare the queues
# below against it (docs/design.md, "The momentum key encoder, measured").
SAMPLE_CONTINUE=(--lr 2e-3 --normalize-keys --temperature 0.05 --queue-warmup-updates 1000000)
# the queue on the sample, after SAMPLE_CONTINUE: 1024 keys (12 per entity of the sample's 82),
# full after 64 updates; the caller adds when it joins (--queue-warmup-updates: after the
# in-batch negatives have made the keys discriminative, about update 300 from the MLM start)
SAMPLE_QUEUE=(--queue-size 1024)
# the queue written by a momentum copy of the encoder and key heads (MoCo's m = 0.999; KEY_MOMENTUM
# in the environment overrides it). A queue of the shared encoder's keys collapses at the
# sample's learning rate (MoCo's m = 0 result); this one holds.
SAMPLE_MOMENTUM=(--key-encoder momentum --key-momentum "${KEY_MOMENTUM:-0.999}")

reused() { echo "  done before: reused ($1)"; }

# prepare_sample OUT: the embedded sample -> OUT/data (and OUT/work), the probe set -> OUT/probe
prepare_sample() {
    if [ -f "$1/data/manifest.json" ]; then reused "$1/data"; else
        "$BIN/xlmk-preprocess" all --config recipes/config/preprocess_sample.yaml --work "$1/work" --out "$1/data"
    fi
    if [ -d "$1/probe" ]; then reused "$1/probe"; else
        "$BIN/xlmk-preprocess" probe-set --work "$1/work" --out "$1/probe"
    fi
}

# train_stage DATA SAVE_DIR UPDATES [RESTORE_FROM] -- FLAGS...: fairseq-train into SAVE_DIR, its
# output into SAVE_DIR.log (progress lines on the terminal). A finished stage is reused; an
# interrupted one resumes from its checkpoint_last.pt; a new one starts from RESTORE_FROM.
train_stage() {
    local data=$1 save=$2 updates=$3 restore=()
    shift 3
    if [ "$1" != "--" ]; then
        [ -f "$save/checkpoint_last.pt" ] || restore=(--restore-file "$1" --reset-optimizer
            --reset-dataloader --reset-meters --reset-lr-scheduler)
        shift
    fi
    shift  # --
    if [ "$(cat "$save/finished" 2>/dev/null)" = "$updates" ]; then reused "$save"; return; fi
    mkdir -p "$save"
    "$BIN/fairseq-train" "$data" "${SAMPLE_COMMON[@]}" --max-update "$updates" --save-dir "$save" \
        --tensorboard-logdir "$save/tb" "${restore[@]}" "$@" 2>&1 | "$PY" recipes/follow_log.py "$save.log"
    echo "$updates" > "$save/finished"
}

# score_in_batch DATA SAVE_DIR: SAVE_DIR/checkpoint_last.pt's valid accuracies with in-batch negatives
# only -> SAVE_DIR/in_batch.log. A queue makes top-1 harder for the same model: a run whose queue
# joined is scored so to compare like for like with runs without one.
score_in_batch() {
    local out="$2/in_batch.log"
    if [ -f "$out" ] && [ "$out" -nt "$2/checkpoint_last.pt" ]; then reused "$out"; return; fi
    "$BIN/fairseq-validate" "$1" --user-dir xlmk_fairseq --task knowledge_pretraining --criterion xlmk \
        --path "$2/checkpoint_last.pt" --valid-subset valid --batch-size "$SAMPLE_BATCH" --cpu --num-workers 0 \
        --data-buffer-size 0 --log-format json --queue-warmup-updates 1000000 > "$out.tmp" 2>&1
    mv "$out.tmp" "$out"
}

# probe_checkpoint CHECKPOINT DATA PROBE_DIR OUT_JSON [xlmk-probe flags]: P@1 and retrieval,
# reused while OUT_JSON is newer than the checkpoint
probe_checkpoint() {
    local ckpt=$1 data=$2 probe=$3 out=$4
    shift 4
    if [ -f "$out" ] && [ "$out" -nt "$ckpt" ]; then reused "$out"; return; fi
    # the table goes to OUT.md, progress bars and messages to OUT.log (shown if the probe fails)
    if ! "$BIN/xlmk-probe" "$ckpt" --data "$data" --mlama "$probe" --retrieval --output "$out" "$@" \
            > "${out%.json}.md" 2> "${out%.json}.log"; then
        tail -n 20 "${out%.json}.log" >&2
        return 1
    fi
    echo "  probed $ckpt -> $out"
}
