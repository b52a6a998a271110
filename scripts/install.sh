#!/usr/bin/env bash
# Create .venv with torch (CPU, pinned), fairseq-fixed and this package.
# Order matters: fairseq-fixed is built against the torch/numpy/cython already in the venv
# (--no-build-isolation) and without its declared deps (--no-deps), because its build and
# runtime requirements would otherwise pull a CUDA torch and torchaudio.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/pip"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$PIP" install -q --upgrade pip
"$PIP" install -q -c constraints.txt torch==2.13.0 numpy cython setuptools wheel
if ! "$VENV/bin/python" -c "import fairseq" 2>/dev/null; then
    echo "building fairseq-fixed (3-5 minutes)..."
    "$PIP" install -q -c constraints.txt --no-build-isolation --no-deps fairseq-fixed==0.12.3.1
fi
# fairseq's runtime dependencies, by hand (never torchaudio: its PyPI build is CUDA-only).
"$PIP" install -q -c constraints.txt cffi cython hydra-core==1.3.2 omegaconf==2.3.0 numpy regex \
    sacrebleu tqdm bitarray scikit-learn packaging
"$PIP" install -q -c constraints.txt -e ".[test,hf]"
"$VENV/bin/python" -c "import torch, fairseq, xlmk_fairseq; print('torch', torch.__version__, 'fairseq', fairseq.__version__)"
