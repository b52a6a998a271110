"""Checkpoints are read with torch's weights_only unpickler: fairseq's own checkpoints load
(numpy 1 ones included), anything else stops with one line that names the file."""

import pickletools
import struct
import zipfile

import numpy as np
import pytest
import torch

from conftest import run_train


@pytest.fixture(scope="module")
def checkpoint(synthetic_data, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("ck")
    run_train(synthetic_data, save_dir, "--max-update", "2")
    return save_dir / "checkpoint_last.pt"


def with_numpy_extra_state(checkpoint, path):
    state = torch.load(checkpoint, weights_only=False)  # our own file
    state["extra_state"]["best"] = np.float64(1.5)  # as in the 2019 XLM-R release
    state["extra_state"]["counts"] = np.arange(5, dtype=np.int64)  # as in fairseq issue 5603
    torch.save(state, path)
    return path


def rewrite_pickle(path, rewrite):
    """Replace the pickle (data.pkl) in the torch zip at ``path`` with ``rewrite(pickle)``."""
    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            zf.writestr(name, rewrite(data) if name.endswith("/data.pkl") else data)


def as_numpy_1_wrote_it(pickled):
    """numpy 1 named numpy._core.multiarray numpy.core.multiarray. torch.save writes protocol
    2, where every global is a GLOBAL opcode holding "module\\nname\\n"."""
    ops = list(pickletools.genops(pickled))
    assert not any(op.name == "STACK_GLOBAL" for op, _, _ in ops)
    out, copied = [], 0
    for (op, arg, start), (_, _, end) in zip(ops, ops[1:]):
        if op.name == "GLOBAL" and arg.startswith("numpy._core."):
            module, name = arg.split(" ")
            out += [pickled[copied:start], f"c{module.replace('numpy._core.', 'numpy.core.')}\n{name}\n".encode()]
            copied = end
    return b"".join(out) + pickled[copied:]


def test_a_checkpoint_written_under_numpy_1_restores_and_trains(synthetic_data, checkpoint, tmp_path):
    from fairseq import checkpoint_utils

    old = with_numpy_extra_state(checkpoint, tmp_path / "numpy1.pt")
    rewrite_pickle(old, as_numpy_1_wrote_it)
    with zipfile.ZipFile(old) as zf:
        pickled = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    assert b"numpy.core.multiarray\nscalar\n" in pickled and b"numpy.core.multiarray\n_reconstruct\n" in pickled
    assert b"numpy._core" not in pickled

    extra = checkpoint_utils.load_checkpoint_to_cpu(str(old))["extra_state"]
    assert extra["best"] == 1.5 and isinstance(extra["best"], np.float64)
    assert extra["counts"].dtype == np.int64 and np.array_equal(extra["counts"], np.arange(5))

    run_train(synthetic_data, tmp_path / "ck", "--max-update", "4", "--restore-file", old)
    resumed = torch.load(tmp_path / "ck" / "checkpoint_last.pt", weights_only=False)
    assert resumed["optimizer_history"][-1]["num_updates"] == 4


class NotAllowed:
    pass


def test_numpy_2_scalars_and_arrays_load_and_a_class_not_allowed_is_refused_by_name(checkpoint, tmp_path):
    from fairseq import checkpoint_utils

    from xlmk_fairseq.checkpoint_safety import UnsafeCheckpointError

    ok = with_numpy_extra_state(checkpoint, tmp_path / "ok.pt")
    extra = checkpoint_utils.load_checkpoint_to_cpu(str(ok))["extra_state"]
    assert extra["best"] == 1.5 and np.array_equal(extra["counts"], np.arange(5))

    state = torch.load(ok, weights_only=False)
    state["extra_state"]["meter"] = NotAllowed()
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(UnsafeCheckpointError, match="NotAllowed") as refused:
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "bad.pt"))
    assert "weights_only" not in str(refused.value)


def malicious(path, module, marker):
    """A torch zip whose pickle calls module.system("touch marker") when fully unpickled."""
    command = f"touch {marker}".encode()
    torch.save({}, path)
    rewrite_pickle(path, lambda _: b"\x80\x02c" + f"{module}\nsystem\n".encode()
                   + b"X" + struct.pack("<I", len(command)) + command + b"\x85R.")
    return path


def broken(kind, tmp_path):
    path = tmp_path / f"{kind}.pt"
    if kind == "posix.system":
        return malicious(path, "posix", tmp_path / "pwned")
    torch.save({"model": torch.zeros(1000)}, path)
    whole = path.read_bytes()
    path.write_bytes({"truncated": whole[: len(whole) // 2], "empty": b"",
                      "random": np.random.default_rng(0).bytes(4096)}[kind])
    return path


@pytest.mark.parametrize("module", ["posix", "os", "subprocess"])
def test_a_malicious_pickle_is_refused_naming_the_global_without_advice_to_unprotect(module, tmp_path):
    from fairseq import checkpoint_utils

    from xlmk_fairseq.checkpoint_safety import UnsafeCheckpointError

    path = malicious(tmp_path / "evil.pt", module, tmp_path / "pwned")
    with pytest.raises(UnsafeCheckpointError) as refused:
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    message = str(refused.value)
    assert f"{module}.system" in message and str(path) in message
    assert "weights_only" not in message and "\n" not in message
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("kind", ["truncated", "empty", "random", "posix.system"])
def test_fairseq_train_stops_with_one_line_naming_a_bad_restore_file(synthetic_data, kind, tmp_path):
    path = broken(kind, tmp_path)
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--restore-file", path, check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "weights_only" not in proc.stderr
    naming = [line for line in proc.stderr.splitlines() if str(path) in line]
    assert len(naming) == 1 and naming[0].startswith("xlmk_fairseq: error:"), proc.stderr[-3000:]
    assert proc.stderr.splitlines()[-1] == naming[0]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("kind", ["truncated", "empty", "random", "posix.system"])
def test_the_hub_loader_stops_with_one_line_naming_a_bad_checkpoint(kind, tmp_path):
    from xlmk_fairseq.errors import ConfigError
    from xlmk_fairseq.hub import SPM_FILE, load_fairseq_hub

    path = broken(kind, tmp_path)
    for name in ("dict.txt", SPM_FILE):  # only checked to exist before the checkpoint is read
        (tmp_path / name).write_text("")
    with pytest.raises(ConfigError) as stopped:
        load_fairseq_hub(str(path), str(tmp_path))
    message = stopped.value.message
    assert message.startswith(str(path)) and "\n" not in message and "weights_only" not in message
