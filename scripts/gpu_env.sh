# Source me: makes fairseq importable on a machine whose python has torch but not fairseq
# (the GPU machine: /opt/torch/.venv, Python 3.12, torch 2.11 CUDA, no network).
#
#   source scripts/gpu_env.sh      # then: python3 -c "import fairseq"
#
# When $PY (default python3) already imports fairseq, hydra and omegaconf, nothing is done.
# Otherwise it installs, without network, from $XLMK_GPU_DIR (default .gpu/, git-ignored,
# written by scripts/gpu_prepare.sh and carried to the machine):
#   whl/*.whl                            hydra-core, omegaconf, antlr4-python3-runtime, bitarray,
#                                        tensorboardX, msgspec, orjson, isal, mwparserfromhell
#   fairseq-0.12.3.1-cpXY.tar.gz         fairseq + fairseq_cli sources with the Cython/C++
#                                        extensions data_utils_fast, token_block_utils_fast and
#                                        libbleu built for that CPython
# into $XLMK_GPU_SITE (default /tmp/xlmk_gpu_site) and puts it and the repository first on
# PYTHONPATH. Takes a few seconds; a second source in the same machine reuses the folder.
_xlmk_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-python3}
XLMK_GPU_DIR=${XLMK_GPU_DIR:-$_xlmk_root/.gpu}
XLMK_GPU_SITE=${XLMK_GPU_SITE:-/tmp/xlmk_gpu_site}

_xlmk_env_fail() { echo "gpu_env.sh: error: $*" >&2; return 1; }

_xlmk_env_setup() {
    if "$PY" -c "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('fairseq', 'hydra', 'omegaconf')) else 1)" 2>/dev/null; then
        echo "gpu_env.sh: $PY already has fairseq; using it"
        export PYTHONPATH="$_xlmk_root${PYTHONPATH:+:$PYTHONPATH}"
        return 0
    fi
    local tag
    tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")') \
        || _xlmk_env_fail "$PY does not run" || return 1
    [ -d "$XLMK_GPU_DIR" ] || _xlmk_env_fail "$XLMK_GPU_DIR is missing: build it with scripts/gpu_prepare.sh and carry it (carry: [\".gpu\"])" || return 1
    local tarball="$XLMK_GPU_DIR/fairseq-0.12.3.1-$tag.tar.gz"
    [ -f "$tarball" ] || _xlmk_env_fail "$tarball is missing: $XLMK_GPU_DIR holds $(cd "$XLMK_GPU_DIR" && ls fairseq-*.tar.gz 2>/dev/null | tr '\n' ' ')(built for another Python than $("$PY" -V 2>&1)?)" || return 1
    ls "$XLMK_GPU_DIR"/whl/*.whl >/dev/null 2>&1 || _xlmk_env_fail "no wheels in $XLMK_GPU_DIR/whl" || return 1
    local stamp="$XLMK_GPU_SITE/.xlmk_gpu_env_$tag"
    if [ ! -f "$stamp" ] || [ "$tarball" -nt "$stamp" ]; then
        rm -rf "$XLMK_GPU_SITE" && mkdir -p "$XLMK_GPU_SITE" || return 1
        local wheels=()
        local w
        for w in "$XLMK_GPU_DIR"/whl/*.whl; do
            case "$(basename "$w")" in
                *-none-any.whl|*-$tag-*.whl) wheels+=("$w") ;;
            esac
        done
        if "$PY" -m pip --version >/dev/null 2>&1; then
            "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
                --target "$XLMK_GPU_SITE" "${wheels[@]}" || _xlmk_env_fail "pip install --target $XLMK_GPU_SITE failed" || return 1
        else  # no pip: a wheel is a zip file; these ones need nothing more than unpacking
            "$PY" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
                "$XLMK_GPU_SITE" "${wheels[@]}" || _xlmk_env_fail "unpacking the wheels failed" || return 1
        fi
        tar -xzf "$tarball" -C "$XLMK_GPU_SITE" || _xlmk_env_fail "unpacking $tarball failed" || return 1
        touch "$stamp"
    fi
    export PYTHONPATH="$XLMK_GPU_SITE:$_xlmk_root${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -c "
import fairseq, hydra, omegaconf
from fairseq.data import data_utils_fast, token_block_utils_fast
print('gpu_env.sh: fairseq', fairseq.__version__, 'from', fairseq.__path__[0])
" || _xlmk_env_fail "fairseq does not import from $XLMK_GPU_SITE (see the error above)" || return 1
}

_xlmk_env_setup
