"""Let torch's ``weights_only`` unpickler read fairseq checkpoints, and nothing more.

torch >= 2.6 loads checkpoints with ``weights_only=True``. fairseq checkpoints hold an
``argparse.Namespace`` (the model config of argparse-style models such as RoBERTa), and
older ones (the 2019 XLM-R release) hold numpy scalars in their extra state. We allow
exactly those classes, by name. A checkpoint that needs anything else is refused with a
message that names the class; we never fall back to ``weights_only=False``, because a
checkpoint is untrusted input and full unpickling runs arbitrary code.
"""

import argparse
import logging
import pickle
import re

import numpy as np
import torch
from fairseq import checkpoint_utils

logger = logging.getLogger(__name__)


def _numpy_safe_globals():
    """numpy classes found in fairseq checkpoints (extra_state meters, best scores)."""
    names = []
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            mod = __import__(module, fromlist=["scalar"])
            names.append(mod.scalar)
            break
        except (ImportError, AttributeError):
            continue
    names.append(np.dtype)
    # numpy >= 1.25 pickles a dtype through its class, e.g. numpy.dtypes.Float64DType
    for dtype in (np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_):
        names.append(type(np.dtype(dtype)))
    return names


SAFE_GLOBALS = [argparse.Namespace, *_numpy_safe_globals()]


class UnsafeCheckpointError(RuntimeError):
    pass


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _load_checkpoint_to_cpu_checked(path, *args, **kwargs):
    try:
        return _original_load_checkpoint_to_cpu(path, *args, **kwargs)
    except pickle.UnpicklingError as e:
        match = _UNSUPPORTED_GLOBAL.search(str(e))
        what = match.group(1) if match else str(e).splitlines()[0]
        raise UnsafeCheckpointError(
            f"{path}: the checkpoint contains {what}, which xlmk_fairseq does not allow "
            f"torch.load to unpickle (allowed: "
            f"{', '.join(c.__module__ + '.' + c.__qualname__ for c in SAFE_GLOBALS)}). "
            "If you trust this file, add that class to "
            "xlmk_fairseq.checkpoint_safety.SAFE_GLOBALS."
        ) from None


_original_load_checkpoint_to_cpu = checkpoint_utils.load_checkpoint_to_cpu


def install():
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    if checkpoint_utils.load_checkpoint_to_cpu is not _load_checkpoint_to_cpu_checked:
        checkpoint_utils.load_checkpoint_to_cpu = _load_checkpoint_to_cpu_checked
