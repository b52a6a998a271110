"""--knowledge-tasks with lp: link prediction trains through the MLM head, alone or beside
MEP and OE; an old data directory stops it at start-up; resume and two workers."""

import math
import os
import shutil

import pytest
import torch

from conftest import run_train


def lp_records(logs):
    return [r for tag, r in logs if tag == "train_inner" and "lp_loss" in r]


@pytest.mark.parametrize("tasks", ["lp", "mep,oe,lp"])
def test_lp_trains_alone_and_beside_mep_and_oe(synthetic_data, tmp_path, tasks):
    proc, logs = run_train(synthetic_data, tmp_path / "ck", "--max-update", "3", "--knowledge-tasks", tasks)
    records = lp_records(logs)
    assert records, proc.stderr[-2000:]
    first = records[0]
    assert float(first["lp_loss"]) > 0 and 0 <= float(first["lp_acc"]) <= 1
    kinds = sum(float(first[f"lp_kind{k}"]) for k in (1, 2, 3))
    assert kinds == pytest.approx(1.0, abs=1e-2)  # every example is of one kind
    assert ("mep_loss" in first) == ("mep" in tasks)
    state = torch.load(tmp_path / "ck" / "checkpoint_last.pt", weights_only=False)["model"]
    assert not any(k.startswith("knowledge_heads.") for k in state) or "mep" in tasks  # lp needs no head


def test_lp_learns_the_masked_labels(synthetic_data, tmp_path):
    """A sanity check of the gradient path, not a knowledge result: 150 updates of lp alone
    from a random encoder take the masked-label loss well below the uniform level (log2 of
    the vocabulary, ~10 bits) and the token accuracy to many times chance (1 / vocabulary).
    Measured: 7.1 bits and 0.026 at update 150 (0.09 at 400)."""
    from fairseq.data import Dictionary

    vocab = len(Dictionary.load(os.path.join(synthetic_data, "dict.txt"))) + 1  # + <mask>
    _, logs = run_train(synthetic_data, tmp_path / "ck", "--max-update", "150", "--knowledge-tasks", "lp",
                        "--lr", "2e-3", "--log-interval", "50", "--no-save", "--disable-validation")
    end = lp_records(logs)[-1]
    assert float(end["lp_loss"]) < math.log2(vocab) - 2, end
    assert float(end["lp_acc"]) > 10 / vocab, end


def test_a_data_directory_without_labels_trains_other_tasks_and_stops_lp_at_start(synthetic_data, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(synthetic_data, old)
    shutil.rmtree(old / "labels")
    run_train(old, tmp_path / "ck", "--max-update", "1", "--knowledge-tasks", "mep,oe")
    proc, _ = run_train(old, tmp_path / "ck_lp", "--max-update", "1", "--knowledge-tasks", "mep,oe,lp",
                        check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("xlmk_fairseq: error:") and "labels/entities/" in err and "binarize" in err
    assert "Traceback" not in proc.stderr


def test_bad_kind_probabilities_are_refused(synthetic_data, tmp_path):
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--max-update", "1", "--knowledge-tasks", "lp",
                        "--lp-kind-probs", "1,x,1", check=False)
    assert proc.returncode != 0 and "--lp-kind-probs" in proc.stderr.strip().splitlines()[-1]


def test_resume_continues_exactly(synthetic_data, tmp_path):
    from fairseq import checkpoint_utils

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    flags = ["--knowledge-tasks", "mep,oe,lp"]
    run_train(synthetic_data, straight, "--max-update", "6", "--save-interval-updates", "3", *flags)
    resumed.mkdir()
    shutil.copy(straight / "checkpoint_1_3.pt", resumed / "checkpoint_last.pt")
    proc, _ = run_train(synthetic_data, resumed, "--max-update", "6", *flags)
    assert "Loaded checkpoint" in proc.stdout + proc.stderr
    a = checkpoint_utils.load_checkpoint_to_cpu(str(straight / "checkpoint_last.pt"))["model"]
    b = checkpoint_utils.load_checkpoint_to_cpu(str(resumed / "checkpoint_last.pt"))["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
