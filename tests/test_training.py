"""fairseq-train with the plugin: the three losses, the ablation switches, the logs."""

import math
import os

import pytest

from conftest import records, run_train


def last_train_inner(logs):
    inner = records(logs, "train_inner")
    assert inner, "no per-update log"
    return inner[-1]


def test_trains_with_all_three_losses(synthetic_data, tmp_path):
    proc, logs = run_train(synthetic_data, tmp_path / "ck", "--max-update", "4",
                           "--tensorboard-logdir", tmp_path / "tb")
    last = last_train_inner(logs)
    for key in ("mlm_loss", "mep_loss", "oe_loss", "mep_acc", "oe_acc"):
        assert math.isfinite(float(last[key])), key
    assert float(last["mep_queue_fill"]) > 0
    valid = records(logs, "valid")[-1]
    assert math.isfinite(float(valid["mep_loss"])) and math.isfinite(float(valid["oe_loss"]))
    assert any(name.startswith("events.out.tfevents") for _, _, files in os.walk(tmp_path / "tb") for name in files)


ABLATIONS = {
    "mep_only": (["--knowledge-tasks", "mep"], {"mep_loss"}, {"oe_loss"}),
    "oe_only": (["--knowledge-tasks", "oe"], {"oe_loss"}, {"mep_loss"}),
    "without_knowledge_tasks": (["--knowledge-tasks", "none", "--description-mlm"],
                                {"desc_mlm_loss"}, {"mep_loss", "oe_loss"}),
    "without_multilingual_description": (["--mep-description-language", "same"], {"mep_loss", "oe_loss"}, set()),
    "oe_without_contrastive_loss": (["--oe-loss", "classification"], {"oe_loss", "oe_acc"}, {"oe_queue_fill"}),
    "normalized_keys_and_queue_warmup": (
        ["--normalize-keys", "--temperature", "0.1", "--queue-warmup-updates", "2"], {"mep_loss"}, set()),
    "in_batch_negatives_only": (["--queue-size", "0"], {"mep_loss", "oe_loss", "mep_acc"}, set()),
    "update_freq_and_max_tokens": (["--update-freq", "2", "--batch-size", "0", "--max-tokens", "2000"],
                                   {"mep_loss", "oe_loss"}, set()),
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_switch_runs(synthetic_data, tmp_path, name):
    flags, present, absent = ABLATIONS[name]
    if "--batch-size" in flags:  # replace the default --batch-size rather than add one
        flags = [f for f in flags if f not in ("--batch-size", "0")]
    _, logs = run_train(synthetic_data, tmp_path / "ck", "--max-update", "3", "--no-save", *flags,
                        **({"base": _without_batch_size()} if name == "update_freq_and_max_tokens" else {}))
    last = last_train_inner(logs)
    for key in present:
        assert math.isfinite(float(last[key])), key
    for key in absent:
        assert key not in last, key


def _without_batch_size():
    from conftest import TINY

    i = TINY.index("--batch-size")
    return TINY[:i] + TINY[i + 2:]


CONFIGURATIONS = {  # the paper's run and each row of its Table 4
    "paper": [],
    "mep_only": ["--knowledge-tasks", "mep"],
    "oe_only": ["--knowledge-tasks", "oe"],
    "without_multilingual_description": ["--mep-description-language", "same"],
    "oe_without_contrastive_loss": ["--oe-loss", "classification"],
    "without_knowledge_tasks": ["--knowledge-tasks", "none", "--description-mlm"],
    "mlm_only": ["--knowledge-tasks", "none"],
}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_trainable_tensor_gets_a_gradient(synthetic_data, name):
    """fairseq's default DDP backend (c10d, without --find-unused-parameters) stops at the
    second update when a parameter got no gradient: every configuration must use all of
    the parameters it builds."""
    from tests_support import build_xlmk_tiny_training, first_batch

    task, model, criterion = build_xlmk_tiny_training(synthetic_data, *CONFIGURATIONS[name])
    model.train()
    loss, _, _ = criterion(model, first_batch(task, 8))
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, unused
