#!/usr/bin/env bash
# GPU check of XLM-K training on one CUDA GPU (about 6-8 minutes on an H200): xlmk_base from
# random init in --fp16, --amp and bf16 under DDP with NCCL, against fairseq's masked_lm
# (roberta_base) on the same text; finite losses, queue dtype and fill, tokens/s, peak memory,
# MFU. Details in scripts/gpu_check.py.
#
#   bash scripts/gpu_check.sh [gpu_check.py flags]      # writes summary.md, summary.json,
#                                                       # logs.tar.gz to $OUT (or runs/gpu_check)
#   bash scripts/gpu_check.sh --cpu-dry-run             # the same runs at toy size on the CPU
#
# Environment: PY (python with torch; default python3), OUT, XLMK_GPU_DIR (.gpu), XLMK_GPU_SITE
# (/tmp/xlmk_gpu_site): see scripts/gpu_env.sh, which installs fairseq from the carried .gpu/
# when $PY lacks it. Exit status: 0 when every check passed, 1 when one failed, 2 when the
# environment could not be set up.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
START=$(date +%s)
# shellcheck source=scripts/gpu_env.sh
source "$ROOT/scripts/gpu_env.sh" || { echo "gpu_check.sh: environment set-up failed" >&2; exit 2; }
echo "gpu_check.sh: environment ready in $(( $(date +%s) - START )) s"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader || true
fi
BUDGET=${GPU_CHECK_BUDGET_S:-450}
BUDGET=$(( BUDGET - ($(date +%s) - START) ))
exec "$PY" "$ROOT/scripts/gpu_check.py" --budget-s "$BUDGET" "$@"
