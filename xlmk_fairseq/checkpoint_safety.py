"""Let torch's ``weights_only`` unpickler read fairseq checkpoints, and nothing more.

torch >= 2.6 loads checkpoints with ``weights_only=True``. fairseq checkpoints hold an
``argparse.Namespace`` (the model config of argparse-style models such as RoBERTa), and
older ones (the 2019 XLM-R release) hold numpy scalars and arrays in their extra state. We
allow exactly those classes, by name. A checkpoint that needs anything else is refused with
a message that names the class; we never fall back to ``weights_only=False``, because a
checkpoint is untrusted input and full unpickling runs arbitrary code.
"""

import argparse
import re

import numpy as np
import torch
from fairseq import checkpoint_utils

from .errors import ConfigError

# the functions numpy pickles scalars and arrays with
_SCALAR = np.float64(0).__reduce__()[0]
_RECONSTRUCT = np.zeros(0).__reduce__()[0]

SAFE_GLOBALS = [
    argparse.Namespace,
    np.ndarray,
    np.dtype,
    # a dtype unpickles as an instance of its class (numpy.dtypes.Float64DType, ...), which
    # torch must allow to have its state set: the bool and numeric ones, not object arrays
    *{type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]},
    # numpy 2 moved numpy.core to numpy._core; a pickle holds the module name it was written under
    *((function, f"{module}.{function.__name__}")
      for function in (_SCALAR, _RECONSTRUCT)
      for module in ("numpy.core.multiarray", "numpy._core.multiarray")),
]


class UnsafeCheckpointError(ConfigError):
    """A checkpoint whose pickle asks for a global we do not allow. A ConfigError, so that
    fairseq-train stops with this one line rather than a traceback."""


# torch's words for a refused global: not allowlisted, or from a module it blocks (os, sys)
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+) (?:was not an allowed global|whose module)")


def _load_checkpoint_to_cpu_checked(path, *args, **kwargs):
    try:
        return _original_load_checkpoint_to_cpu(path, *args, **kwargs)
    except Exception as e:
        # torch re-raises an unpickler error with advice to set weights_only=False; its
        # context is the unpickler's own error, which says only what it refused
        cause = e.__context__ if e.__context__ is not None and e.__suppress_context__ else e
        refused = _REFUSED_GLOBAL.search(str(cause))
        if refused:
            raise UnsafeCheckpointError(
                f"{path}: refused: the checkpoint's pickle asks for {refused.group(1)}, which "
                "xlmk_fairseq does not let torch.load build (a checkpoint is untrusted input, and "
                "unpickling anything but data can run code); allowed are tensors and "
                "xlmk_fairseq.checkpoint_safety.SAFE_GLOBALS"
            ) from None
        # torch's first sentence says what failed; advice follows (for a TorchScript file,
        # to set weights_only=False)
        first_sentence = re.split(r"(?<=\.)\s", str(cause).strip(), maxsplit=1)[0].split("\n")[0]
        raise ConfigError(
            f"{path}: cannot load as a fairseq checkpoint: the file is truncated, damaged or of "
            f"another kind ({type(cause).__name__}{': ' + first_sentence if first_sentence else ''})"
        ) from None


_original_load_checkpoint_to_cpu = checkpoint_utils.load_checkpoint_to_cpu


def install():
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    if checkpoint_utils.load_checkpoint_to_cpu is not _load_checkpoint_to_cpu_checked:
        checkpoint_utils.load_checkpoint_to_cpu = _load_checkpoint_to_cpu_checked
