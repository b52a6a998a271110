"""fairseq's checkpoint writing, made safe: atomic copies, and a clear error for a --save-dir
that cannot hold checkpoints or a disk that fills up.

A run killed while saving must be able to resume. fairseq writes a checkpoint atomically (a ``.tmp`` file, then a rename) but then *copies* it to
its other names, ``checkpoint_last.pt`` among them (with ``--save-interval-updates``, the
recipes' setting), with a plain ``shutil.copyfile``. A kill -9, a node failure or a full disk
during that copy leaves a truncated ``checkpoint_last.pt``, and the relaunched run cannot
resume. Here the copy goes to ``NAME.tmp`` first and is renamed over NAME: NAME is always either
the previous checkpoint or the new one, whole.
"""

import os
import shutil

from fairseq import checkpoint_utils
from fairseq.file_io import PathManager

from .errors import ConfigError


class _AtomicCopyPathManager(PathManager):
    @staticmethod
    def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if PathManager.path_requires_pathmanager(dst_path):  # remote storage: fairseq's own way
            return PathManager.copy(src_path, dst_path, overwrite=overwrite)
        tmp = dst_path + ".tmp"
        try:
            shutil.copyfile(src_path, tmp)
            os.replace(tmp, dst_path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return True


def _torch_persistent_save(obj, filename, *args, **kwargs):
    """fairseq's atomic save; a failed one (a full disk) removes its .tmp file and stops with
    a one-line error: the checkpoints written before are whole, and a relaunch resumes."""
    try:
        _original_torch_persistent_save(obj, filename, *args, **kwargs)
    except OSError as e:
        if os.path.exists(filename + ".tmp"):
            os.remove(filename + ".tmp")
        raise ConfigError(f"{filename}: cannot write the checkpoint ({e.strerror or e}); the checkpoints "
                          "written before it are whole: free space and relaunch to resume") from None


def _verify_checkpoint_directory(save_dir):
    """fairseq's check, which ends in a traceback for a --save-dir that is a file or read-only."""
    try:
        _original_verify_checkpoint_directory(save_dir)
    except OSError as e:
        raise ConfigError(f"--save-dir {save_dir}: cannot write checkpoints there ({e.strerror or e})") from None


_original_verify_checkpoint_directory = checkpoint_utils.verify_checkpoint_directory
_original_torch_persistent_save = checkpoint_utils.torch_persistent_save


def install():
    checkpoint_utils.PathManager = _AtomicCopyPathManager
    checkpoint_utils.verify_checkpoint_directory = _verify_checkpoint_directory
    checkpoint_utils.torch_persistent_save = _torch_persistent_save
