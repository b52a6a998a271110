#!/usr/bin/env bash
# Build .gpu/ (git-ignored), what scripts/gpu_env.sh installs on a GPU machine without network
# whose python has torch but not fairseq (Python 3.12 by default, x86-64 Linux):
#   .gpu/whl/*.whl                     hydra-core, omegaconf, antlr4-python3-runtime (built
#                                      here: PyPI has only its sdist), bitarray, tensorboardX,
#                                      msgspec, orjson, isal, mwparserfromhell
#   .gpu/fairseq-0.12.3.1-cpXY.tar.gz  fairseq + fairseq_cli from the fairseq-fixed sdist, with
#                                      data_utils_fast, token_block_utils_fast (Cython) and
#                                      libbleu built here for that CPython. The torch C++
#                                      extensions (libbase, libnat: base layers, NAT models)
#                                      are left out; fairseq imports them only where used.
#
#   bash scripts/gpu_prepare.sh            # about a minute; needs PyPI and a C++ compiler
#
# Environment: PY_TARGET (the target's CPython here, default pyenv's 3.12.1), NUMPY_VERSION
# (headers the extensions are built against, default 2.5.2: builds against numpy 2.x run on
# any numpy 2.x), VENV_PY (a python with torch, default .venv/bin/python: pip runs
# fairseq-fixed's setup.py, which imports torch, to read the sdist's metadata), GPU_DIR (.gpu).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPU_DIR=${GPU_DIR:-$ROOT/.gpu}
VENV_PY=${VENV_PY:-$ROOT/.venv/bin/python}
PY_TARGET=${PY_TARGET:-$HOME/.pyenv/versions/3.12.1/bin/python3.12}
NUMPY_VERSION=${NUMPY_VERSION:-2.5.2}
FAIRSEQ=fairseq-fixed==0.12.3.1
PURE=(hydra-core==1.3.2 omegaconf==2.3.0 tensorboardX==2.6.5)
SDIST_ONLY=(antlr4-python3-runtime==4.9.3)
BINARY=(bitarray==3.12.3 msgspec==0.23.0 orjson==3.13.0 isal==1.9.1 mwparserfromhell==0.7.2)

[ -x "$PY_TARGET" ] || { echo "gpu_prepare.sh: $PY_TARGET not found (set PY_TARGET)" >&2; exit 2; }
[ -x "$VENV_PY" ] || { echo "gpu_prepare.sh: $VENV_PY not found (make venv, or set VENV_PY)" >&2; exit 2; }
read -r TAG VER < <("$PY_TARGET" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}", f"{sys.version_info[0]}.{sys.version_info[1]}")')
WORK=$(mktemp -d /tmp/gpu_prepare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "gpu_prepare.sh: target $TAG, work $WORK"

# 1. wheels
mkdir -p "$WORK/whl"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
"$VENV_PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$VER" --implementation cp \
    --abi "$TAG" "${PLATFORMS[@]}" -d "$WORK/whl" "${BINARY[@]}"
"$VENV_PY" -m pip download -q --no-deps --only-binary=:all: -d "$WORK/whl" "${PURE[@]}"
"$VENV_PY" -m pip wheel -q --no-deps -w "$WORK/whl" "${SDIST_ONLY[@]}"

# 2. fairseq sources and extensions
"$VENV_PY" -m pip download -q --no-deps --no-build-isolation --no-binary :all: -d "$WORK/sdist" "$FAIRSEQ"
tar -xzf "$WORK"/sdist/fairseq_fixed-*.tar.gz -C "$WORK"
SRC=$(echo "$WORK"/fairseq_fixed-*/)
"$PY_TARGET" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "numpy==$NUMPY_VERSION" "cython>=3" setuptools
cat > "$WORK/setup_ext.py" <<'EOF'
import sys
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
args = ["-std=c++11", "-O3"]
exts = [
    Extension("fairseq.libbleu", ["fairseq/clib/libbleu/libbleu.cpp", "fairseq/clib/libbleu/module.cpp"],
              extra_compile_args=args),
    Extension("fairseq.data.data_utils_fast", ["fairseq/data/data_utils_fast.pyx"], language="c++",
              extra_compile_args=args, include_dirs=[numpy.get_include()]),
    Extension("fairseq.data.token_block_utils_fast", ["fairseq/data/token_block_utils_fast.pyx"],
              language="c++", extra_compile_args=args, include_dirs=[numpy.get_include()]),
]
setup(name="fairseq_exts", ext_modules=cythonize(exts, language_level=3, quiet=True),
      script_args=["build_ext", "--build-lib", sys.argv[1], "--build-temp", sys.argv[2]])
EOF
(cd "$SRC" && "$WORK/venv/bin/python" "$WORK/setup_ext.py" "$WORK/ext" "$WORK/build" >/dev/null)
mkdir -p "$WORK/stage"
cp -r "$SRC/fairseq" "$SRC/fairseq_cli" "$WORK/stage/"
rm -rf "$WORK/stage/fairseq/clib" "$WORK"/stage/fairseq/data/*.cpp
find "$WORK/stage" -name __pycache__ -prune -exec rm -rf {} +
cp "$WORK"/ext/fairseq/libbleu*.so "$WORK/stage/fairseq/"
cp "$WORK"/ext/fairseq/data/*.so "$WORK/stage/fairseq/data/"
tar -C "$WORK/stage" -czf "$WORK/fairseq-0.12.3.1-$TAG.tar.gz" fairseq fairseq_cli

# 3. check with the target python: the wheels import, the extensions load and run (torch
# replaced by an empty module: token_block_utils_fast imports it but needs nothing of it)
mkdir -p "$WORK/check/stub"
"$WORK/venv/bin/pip" install -q packaging pyyaml
"$WORK/venv/bin/pip" install -q --no-index --no-deps --no-compile --target "$WORK/check/site" "$WORK"/whl/*.whl
for so in "$WORK"/ext/fairseq/data/*.so "$WORK"/ext/fairseq/libbleu*.so; do cp "$so" "$WORK/check/stub/"; done
touch "$WORK/check/stub/torch.py"
(cd "$WORK/check/stub" && PYTHONPATH="$WORK/check/site:$WORK/check/stub" "$WORK/venv/bin/python" -c "
import numpy as np
import hydra, omegaconf, antlr4, bitarray, msgspec, orjson, isal.igzip, mwparserfromhell
import data_utils_fast as d, token_block_utils_fast as t, libbleu
b = d.batch_by_size_vec(np.arange(10, dtype=np.int64), np.full(10, 5, dtype=np.int64), 20, 3, 1)
assert [len(x) for x in b] == [3, 3, 3, 1], b
s = t._get_slice_indices_fast(np.array([3, 4, 5], dtype=np.int64), 'complete', 6, 0)
assert s.tolist() == [[0, 3], [3, 7], [7, 12]], s
print('gpu_prepare.sh: check passed with', __import__('sys').version.split()[0], 'numpy', np.__version__)
")

rm -rf "$GPU_DIR/whl" "$GPU_DIR"/fairseq-0.12.3.1-"$TAG".tar.gz
mkdir -p "$GPU_DIR/whl"
cp "$WORK"/whl/*.whl "$GPU_DIR/whl/"
cp "$WORK/fairseq-0.12.3.1-$TAG.tar.gz" "$GPU_DIR/"
grep -qx '/.gpu/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$ROOT/.git/info/exclude"
du -sh "$GPU_DIR"
ls -l "$GPU_DIR" "$GPU_DIR/whl"
