#!/usr/bin/env bash
# XLM-K continued pre-training of XLM-R base, as in the paper (Jiang et al. 2022, "Details of
# Pre-Training"): effective batch 8192 through --update-freq, Adam, peak lr 3e-5 after 10k
# warm-up updates, candidate queue 32k, 512-token MLM blocks and 256-token knowledge inputs,
# 16 GPUs (2 nodes x 8 by default), fp16.
#
#   recipes/xlmk_base.sh DATA XLMR_CHECKPOINT SAVE_DIR [more fairseq-train flags]
#   recipes/xlmk_base.sh --smoke [SAVE_DIR] [more fairseq-train flags]
#
# DATA: a directory written by xlmk-preprocess with XLM-R's sentencepiece.bpe.model + dict.txt;
# XLMR_CHECKPOINT: XLM-R base, restored with fresh knowledge heads: the fairseq release's model.pt,
# or a Hugging Face directory (xlm-roberta-base or a model of its shape: config.json, weights,
# sentencepiece.bpe.model), imported once into SAVE_DIR/xlmr_import by xlmk-import-hf. DATA must
# be encoded with the checkpoint's vocabulary: a dict.txt beside the checkpoint (the release's, the
# import's) must list DATA/dict.txt's symbols.
# Later flags override earlier ones, so the ablation scripts (recipes/ablations/) append theirs.
#
# Key encoder: shared (--key-encoder shared): MEP and OE keys, in-batch and queued, come from the
# trained encoder and key heads, with gradient, as in the paper. From XLM-R at lr 3e-5 the keys
# drift slowly, so a 32k queue of the shared encoder's keys stays close to current ones (the
# paper's setting, docs/design.md "Which settings learn from which start"). On the sample a
# momentum encoder (--key-encoder momentum, MoCo) keeps a queue from collapsing where the shared
# one collapses, without beating in-batch negatives (docs/design.md, "The momentum key encoder,
# measured"), and the quickstart, whose tiny encoder moves fast, trains with it; pass
# --key-encoder momentum after the other arguments to try it at scale.
#
# Launch (torchrun, one process per GPU; run the same command on every node):
#   NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 MASTER_PORT=29500 GPUS_PER_NODE=8 recipes/xlmk_base.sh ...
# Under SLURM (fairseq's own launch: one task per GPU; fairseq reads SLURM_NODELIST, SLURM_PROCID):
#   LAUNCHER=slurm srun --nodes 2 --ntasks-per-node 8 --gpus-per-node 8 recipes/xlmk_base.sh ...
# (A Hugging Face directory is imported by node 0 / SLURM task 0; the others wait for it.)
# Environment: NNODES (2), GPUS_PER_NODE (8), NODE_RANK (0), MASTER_ADDR (localhost),
# MASTER_PORT (29500), BATCH_PER_GPU (16 sequences), TOTAL_BATCH (8192), MAX_UPDATE (100000;
# the paper does not state it), LAUNCHER (torchrun | slurm), PY (python of the venv).
#
# --smoke: the same recipe scaled down to the CPU: the embedded sample (preprocessed into
# runs/sample/data when missing), xlmk_tiny from scratch (or restored from $XLMR_CHECKPOINT when
# set, of xlmk_tiny's shape), one process under torchrun with gloo, 3 updates. The tests run
# every recipe this way so that none rots.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
BIN=$(dirname "$PY")
fail() { echo "xlmk_base.sh: error: $*" >&2; exit 2; }

if [ "${1:-}" = "--smoke" ]; then
    shift
    SAVE_DIR=${1:-$ROOT/runs/smoke/$(basename "$0" .sh)}
    [ $# -gt 0 ] && shift
    DATA=${SMOKE_DATA:-$ROOT/runs/sample/data}
    if [ ! -f "$DATA/manifest.json" ]; then
        "$BIN/xlmk-preprocess" all --config "$ROOT/recipes/config/preprocess_sample.yaml" \
            --work "$(dirname "$DATA")/work" --out "$DATA"
    fi
    NNODES=1 GPUS_PER_NODE=1 NODE_RANK=0
    SETTINGS=(--arch xlmk_tiny --cpu --distributed-backend gloo --ddp-backend legacy_ddp
              --batch-size 4 --update-freq 2 --tokens-per-sample 64 --knowledge-tokens-per-sample 64
              --queue-size 16 --lr 1e-4 --warmup-updates 1 --max-update 3 --num-workers 0
              --data-buffer-size 0 --no-epoch-checkpoints --disable-validation --log-interval 1)
    export OMP_NUM_THREADS=1
    ARCH=xlmk_tiny XLMR_CHECKPOINT=${XLMR_CHECKPOINT:-}
else
    if [ $# -lt 3 ]; then
        sed -n '7,8p' "$0" | sed 's/^# */usage: /' >&2
        exit 2
    fi
    DATA=$1 XLMR_CHECKPOINT=$2 SAVE_DIR=$3
    shift 3
    [ -f "$DATA/manifest.json" ] || fail "$DATA/manifest.json: no such file"
    NNODES=${NNODES:-2} GPUS_PER_NODE=${GPUS_PER_NODE:-8} NODE_RANK=${NODE_RANK:-0}
    WORLD=$((NNODES * GPUS_PER_NODE))
    BATCH_PER_GPU=${BATCH_PER_GPU:-16} TOTAL_BATCH=${TOTAL_BATCH:-8192}
    UPDATE_FREQ=$(( (TOTAL_BATCH + WORLD * BATCH_PER_GPU - 1) / (WORLD * BATCH_PER_GPU) ))
    ARCH=xlmk_base
    SETTINGS=(--arch xlmk_base
              --batch-size "$BATCH_PER_GPU" --update-freq "$UPDATE_FREQ"
              --tokens-per-sample 512 --knowledge-tokens-per-sample 256 --queue-size 32768
              --lr 3e-5 --warmup-updates 10000 --max-update "${MAX_UPDATE:-100000}"
              --fp16 --distributed-backend nccl --ddp-backend legacy_ddp --num-workers 2
              --save-interval-updates 5000 --keep-interval-updates 3 --validate-interval-updates 5000)
fi

# restore_from CHECKPOINT: start from a fairseq model.pt, or from a Hugging Face directory imported
# into SAVE_DIR/xlmr_import (once: a finished import is reused). --finetune-from-model, not
# --restore-file: fairseq uses it only while SAVE_DIR has no checkpoint_last.pt, so a relaunched
# run resumes where it stopped instead of starting over from the checkpoint.
restore_from() {
    local ckpt=$1 imported=$SAVE_DIR/xlmr_import rank=$NODE_RANK
    if [ "${LAUNCHER:-torchrun}" = slurm ]; then rank=${SLURM_PROCID:-0}; fi
    if [ -f "$ckpt/config.json" ]; then
        if [ -f "$imported/model.pt" ]; then
            echo "xlmk_base.sh: reusing $imported (xlmk-import-hf of $ckpt, done before)" >&2
        elif [ "$rank" = 0 ]; then
            "$BIN/xlmk-import-hf" "$ckpt" "$imported"
        else
            echo "xlmk_base.sh: waiting for the first process to import $ckpt into $imported" >&2
            for _ in $(seq "${IMPORT_WAIT:-3600}"); do [ -f "$imported/model.pt" ] && break; sleep 1; done
            [ -f "$imported/model.pt" ] || fail "$imported/model.pt: not written within ${IMPORT_WAIT:-3600} s"
        fi
        local arch
        arch=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["fairseq_arch"])' "$imported/xlmk_import.json")
        [ "$arch" = "$ARCH" ] || fail "$ckpt does not have $ARCH's shape (its import says fairseq_arch $arch," \
            "see $imported/xlmk_import.json); this recipe trains $ARCH"
        ckpt=$imported/model.pt
    elif [ ! -f "$ckpt" ]; then
        fail "$ckpt: no such file, nor a Hugging Face directory (with config.json)"
    fi
    local vocabulary
    vocabulary=$(dirname "$ckpt")/dict.txt
    if [ -f "$vocabulary" ] && ! cmp -s <(cut -d' ' -f1 "$vocabulary") <(cut -d' ' -f1 "$DATA/dict.txt"); then
        fail "$DATA/dict.txt is not the vocabulary of $vocabulary: encode the data with the checkpoint's," \
            "xlmk-preprocess spm --spm-model $(dirname "$ckpt")/sentencepiece.bpe.model --dict $vocabulary, then binarize"
    fi
    SETTINGS+=(--finetune-from-model "$ckpt")
}
[ -z "$XLMR_CHECKPOINT" ] || restore_from "$XLMR_CHECKPOINT"

ARGS=("$DATA" --user-dir "$ROOT/xlmk_fairseq" --task knowledge_pretraining --criterion xlmk
      --optimizer adam --adam-betas "(0.9,0.98)" --adam-eps 1e-6 --weight-decay 0.01 --clip-norm 1.0
      --lr-scheduler polynomial_decay --total-num-update "${MAX_UPDATE:-100000}"
      --sample-break-mode complete --multilang-sampling-alpha 0.3 --seed 1 --key-encoder shared
      --save-dir "$SAVE_DIR" --tensorboard-logdir "$SAVE_DIR/tb" --log-format json
      "${SETTINGS[@]}" "$@")

if [ "${LAUNCHER:-torchrun}" = slurm ]; then
    exec "$BIN/fairseq-train" "${ARGS[@]}" --distributed-port "${MASTER_PORT:-29500}" \
        --distributed-world-size "$((NNODES * GPUS_PER_NODE))"
fi
if [ "$NNODES" = 1 ]; then
    RENDEZVOUS=(--standalone)  # a free local port: parallel runs on one machine do not collide
else
    RENDEZVOUS=(--nnodes "$NNODES" --node-rank "$NODE_RANK" --master-addr "${MASTER_ADDR:-localhost}"
                --master-port "${MASTER_PORT:-29500}")
fi
exec "$BIN/torchrun" "${RENDEZVOUS[@]}" --nproc-per-node "$GPUS_PER_NODE" \
    -m xlmk_fairseq.torchrun_train "${ARGS[@]}"
