"""Restoring XLM-R-style checkpoints, and resuming XLM-K runs with their queues."""

import os
import shutil
import subprocess

import pytest
import torch

from conftest import BIN, run_train
from tests_support import build_xlmk_tiny_model


@pytest.fixture(scope="module")
def masked_lm_checkpoint(synthetic_data, tmp_path_factory):
    """A checkpoint of fairseq's own masked_lm task (no plugin), XLM-R's layout at toy size."""
    root = tmp_path_factory.mktemp("masked_lm")
    data = root / "data"
    data.mkdir()
    shutil.copy(os.path.join(synthetic_data, "dict.txt"), data / "dict.txt")
    for split in ("train", "valid"):
        for ext in ("bin", "idx"):
            shutil.copy(os.path.join(synthetic_data, "mlm", "en", f"{split}.{ext}"), data / f"{split}.{ext}")
    cmd = [
        os.path.join(BIN, "fairseq-train"), str(data), "--task", "masked_lm", "--criterion", "masked_lm",
        "--arch", "roberta_base", "--encoder-layers", "2", "--encoder-embed-dim", "64",
        "--encoder-ffn-embed-dim", "256", "--encoder-attention-heads", "4", "--max-positions", "512",
        "--tokens-per-sample", "64", "--sample-break-mode", "complete", "--batch-size", "8",
        "--optimizer", "adam", "--lr", "1e-3", "--max-update", "2", "--cpu", "--num-workers", "0",
        "--save-dir", str(root / "ck"), "--no-epoch-checkpoints", "--data-buffer-size", "0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "ck" / "checkpoint_last.pt"


def build_xlmk_tiny(data):
    return build_xlmk_tiny_model(data)[1]


def test_plain_roberta_checkpoint_restores_with_every_encoder_tensor_unchanged(
        synthetic_data, masked_lm_checkpoint, caplog):
    from fairseq import checkpoint_utils

    state = checkpoint_utils.load_checkpoint_to_cpu(str(masked_lm_checkpoint))
    original = {k: v.clone() for k, v in state["model"].items()}
    assert not any(k.startswith(("knowledge_heads.", "mep_queue.")) for k in original)
    model = build_xlmk_tiny(synthetic_data)
    with caplog.at_level("INFO"):
        model.load_state_dict(state["model"], strict=True)
    assert "initialised" in caplog.text and "knowledge_heads" in caplog.text
    restored = model.state_dict()
    encoder_keys = [k for k in original if k.startswith("encoder.")]
    assert any(k.startswith("encoder.sentence_encoder.") for k in encoder_keys)
    assert any(k.startswith("encoder.lm_head.") for k in encoder_keys)
    for key in encoder_keys:
        assert torch.equal(restored[key], original[key]), key


@pytest.mark.parametrize("how", ["restore_file", "finetune_from_model"])
def test_training_continues_from_a_plain_roberta_checkpoint(synthetic_data, masked_lm_checkpoint, tmp_path, how):
    flags = (["--restore-file", masked_lm_checkpoint, "--reset-optimizer", "--reset-dataloader",
              "--reset-meters", "--reset-lr-scheduler"] if how == "restore_file"
             else ["--finetune-from-model", masked_lm_checkpoint])
    proc, logs = run_train(synthetic_data, tmp_path / "ck", "--max-update", "2", *flags)
    assert "initialised" in proc.stdout + proc.stderr
    assert torch.load(tmp_path / "ck" / "checkpoint_last.pt", weights_only=False)["optimizer_history"][-1]["num_updates"] == 2


@pytest.mark.parametrize("key_encoder", ["shared", "momentum"])
def test_resume_restores_queues_bit_exactly(synthetic_data, tmp_path, key_encoder):
    from fairseq import checkpoint_utils

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    flags = ["--key-encoder", key_encoder]
    run_train(synthetic_data, straight, "--max-update", "6", "--save-interval-updates", "3", *flags)
    midway = checkpoint_utils.load_checkpoint_to_cpu(str(straight / "checkpoint_1_3.pt"))
    assert int(midway["model"]["mep_queue.num_enqueued"]) == 3 * 8
    # interrupted run: resume from the update-3 checkpoint as checkpoint_last.pt
    resumed.mkdir()
    shutil.copy(straight / "checkpoint_1_3.pt", resumed / "checkpoint_last.pt")
    proc, _ = run_train(synthetic_data, resumed, "--max-update", "6", *flags)
    assert "Loaded checkpoint" in proc.stdout + proc.stderr
    a = checkpoint_utils.load_checkpoint_to_cpu(str(straight / "checkpoint_last.pt"))["model"]
    b = checkpoint_utils.load_checkpoint_to_cpu(str(resumed / "checkpoint_last.pt"))["model"]
    queue_keys = [k for k in a if "_queue." in k or k.startswith("momentum.")]
    assert any(k.startswith("momentum.") for k in queue_keys) == (key_encoder == "momentum")
    for key in queue_keys:
        assert torch.equal(a[key], b[key]), key
    assert int(b["mep_queue.num_enqueued"]) == 6 * 8


def test_an_empty_queue_of_another_size_is_replaced_but_a_filled_one_is_refused(synthetic_data):
    """An MLM-only stage saves queues that never held a key; the next stage picks its own
    --queue-size. A queue that holds keys is part of the run's state and must match."""
    from xlmk_fairseq.errors import ConfigError

    stage1 = build_xlmk_tiny(synthetic_data)  # --queue-size 64, nothing enqueued
    stage2 = build_xlmk_tiny_model(synthetic_data, "--queue-size", "32")[1]
    state = {k: v.clone() for k, v in stage1.state_dict().items()}
    stage2.upgrade_state_dict_named(state, "")
    stage2.load_state_dict(state, strict=True)
    assert stage2.mep_queue.keys.shape[0] == 32 and int(stage2.oe_queue.num_enqueued) == 0

    stage1.mep_queue.enqueue(torch.randn(3, 64), torch.arange(3))
    state = {k: v.clone() for k, v in stage1.state_dict().items()}
    with pytest.raises(ConfigError, match="holds keys"):
        stage2.upgrade_state_dict_named(state, "")


def test_a_run_killed_while_copying_a_checkpoint_resumes(synthetic_data, tmp_path):
    """fairseq saves checkpoint_1_4.pt atomically, then copies it to checkpoint_last.pt. A
    kill -9 right after the first appears lands in that copy (a large queue makes it take a
    while): checkpoint_last.pt must still be a whole checkpoint, and the run must resume."""
    import signal
    import time

    from conftest import TINY
    from fairseq import checkpoint_utils

    save = tmp_path / "ck"
    flags = ["--queue-size", "400000", "--max-update", "6", "--save-interval-updates", "2",
             "--disable-validation"]  # no checkpoint_best.pt: checkpoint_last.pt is the next copy
    cmd = [os.path.join(BIN, "fairseq-train"), str(synthetic_data), *TINY, "--save-dir", str(save), *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    while not (save / "checkpoint_1_4.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (save / "checkpoint_1_4.pt").exists(), "the run ended before its second save"
    state = checkpoint_utils.load_checkpoint_to_cpu(str(save / "checkpoint_last.pt"))
    assert state["optimizer_history"][-1]["num_updates"] in (2, 4)
    proc, _ = run_train(synthetic_data, save, *flags)
    assert "Loaded checkpoint" in proc.stdout + proc.stderr


def test_a_failed_checkpoint_copy_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    import shutil

    from fairseq import checkpoint_utils

    import xlmk_fairseq  # noqa: F401 (installs the atomic copy)

    (tmp_path / "new.pt").write_bytes(b"new" * 1000)
    (tmp_path / "last.pt").write_bytes(b"old")

    def copy_half_then_fail(src, dst):
        with open(dst, "wb") as f:
            f.write(b"ne")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        checkpoint_utils.PathManager.copy(str(tmp_path / "new.pt"), str(tmp_path / "last.pt"), overwrite=True)
    assert (tmp_path / "last.pt").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "new.pt"]


def test_a_full_disk_while_saving_stops_with_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from fairseq import checkpoint_utils

    import xlmk_fairseq  # noqa: F401 (installs the checkpoint writing checks)
    from xlmk_fairseq.errors import ConfigError

    path = tmp_path / "checkpoint_last.pt"
    path.write_bytes(b"the previous checkpoint")

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(ConfigError, match="cannot write the checkpoint .No space left on device.; the checkpoints "
                                          "written before it are whole"):
        checkpoint_utils.torch_persistent_save({"model": {}}, str(path))
    assert path.read_bytes() == b"the previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_last.pt"]
