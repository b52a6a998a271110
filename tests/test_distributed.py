"""Two CPU workers (torchrun, gloo): identical queues, no key lost or doubled."""

import math
import os
import sys

import pytest
import torch

from conftest import REPO, run_train


def examples_and_batches(data, batch_size):
    from xlmk_fairseq.tasks.knowledge_pretraining import (
        KnowledgePretrainingConfig,
        KnowledgePretrainingTask,
    )

    cfg = KnowledgePretrainingConfig(data=str(data), langs="en", tokens_per_sample=64,
                                     knowledge_tokens_per_sample=32, seed=1)
    task = KnowledgePretrainingTask.setup_task(cfg)
    task.load_dataset("train")
    dataset = task.datasets["train"]
    itr = task.get_batch_iterator(dataset, max_sentences=batch_size, seed=1, epoch=1,
                                  required_batch_size_multiple=1)
    return len(dataset), len(itr.next_epoch_itr(shuffle=False))


def test_two_workers_hold_identical_queues_and_count_every_key_once(synthetic_data, tmp_path):
    # a batch size that gives an odd number of batches: the second worker then ends each
    # epoch on a dummy batch
    for batch_size in range(6, 16):
        n_examples, n_batches = examples_and_batches(synthetic_data, batch_size)
        if n_batches % 2 == 1:
            break
    assert n_batches % 2 == 1
    dump = tmp_path / "dump"
    dump.mkdir()
    helper = os.path.join(REPO, "tests", "helpers", "train_and_dump_queues.py")
    launcher = [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc-per-node", "2",
                "--master-port", "29533", helper, str(dump)]
    proc, logs = run_train(
        synthetic_data, tmp_path / "ck", "--langs", "en", "--queue-size", "4096",
        "--max-epoch", "2", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
        "--batch-size", batch_size, "--required-batch-size-multiple", "1",
        launcher=launcher,
    )
    assert "distributed_world_size': 2" in proc.stdout + proc.stderr
    rank0 = torch.load(dump / "rank0.pt")
    rank1 = torch.load(dump / "rank1.pt")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    for name in ("mep_queue", "oe_queue"):
        assert int(rank0[name + ".num_enqueued"]) == 2 * n_examples
    n_updates = 2 * math.ceil(n_batches / 2)
    saved = torch.load(tmp_path / "ck" / "checkpoint_last.pt", weights_only=False)
    assert saved["optimizer_history"][-1]["num_updates"] == n_updates
    assert int(saved["model"]["mep_queue.num_enqueued"]) == 2 * n_examples


def torchrun(script, *args, port):
    return [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc-per-node", "2",
            "--master-port", str(port), script, *map(str, args)]


def assert_identical_queues(dump):
    rank0, rank1 = torch.load(dump / "rank0.pt"), torch.load(dump / "rank1.pt")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    return rank0


def test_an_out_of_memory_batch_on_one_worker_hangs_no_other(synthetic_data, tmp_path):
    """fairseq skips a batch that ran out of memory and carries on; the skipping worker must
    still join the key gather, or the other waits in it forever."""
    dump = tmp_path / "dump"
    dump.mkdir()
    helper = os.path.join(REPO, "tests", "helpers", "train_and_dump_queues.py")
    proc, _ = run_train(
        synthetic_data, tmp_path / "ck", "--langs", "en", "--max-update", "4",
        "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
        launcher=torchrun(helper, dump, port=29534), env={"XLMK_TEST_OOM": "1:2"}, timeout=300,
    )
    assert "out of memory; skipping this batch on this worker" in proc.stdout + proc.stderr
    assert '"skipped_oom": "1", ' in proc.stdout + proc.stderr  # logged by rank 0
    queues = assert_identical_queues(dump)
    # 4 updates x 2 workers x 8 keys, less the 8 of the batch that ran out of memory
    assert int(queues["mep_queue.num_enqueued"]) == 4 * 2 * 8 - 8


@pytest.mark.parametrize("key_encoder,tasks", [("shared", "mep,oe"), ("momentum", "mep,oe"), ("shared", "mep,oe,lp")])
def test_fairseqs_default_ddp_backend_trains_the_paper_configuration(synthetic_data, tmp_path, key_encoder, tasks):
    """--ddp-backend pytorch_ddp (c10d) without --find-unused-parameters fails at the second
    update if any parameter got no gradient in the first. With the momentum key encoder, its
    moving averages of identical weights stay identical on every worker; with link
    prediction, its sub-batch joins the one forward."""
    dump = tmp_path / "dump"
    dump.mkdir()
    helper = os.path.join(REPO, "tests", "helpers", "train_and_dump_queues.py")
    proc, _ = run_train(
        synthetic_data, tmp_path / "ck", "--langs", "en", "--max-update", "3",
        "--distributed-backend", "gloo", "--ddp-backend", "pytorch_ddp", "--key-encoder", key_encoder, "--knowledge-tasks", tasks,
        launcher=torchrun(helper, dump, port=29535), env={"XLMK_TEST_CPU_DDP": "1"}, timeout=300,
    )
    state = assert_identical_queues(dump)
    assert int(state["mep_queue.num_enqueued"]) == 3 * 2 * 8
    assert any(k.startswith("momentum.") for k in state) == (key_encoder == "momentum")


def test_key_gather_under_autocast_with_a_dummy_batch(synthetic_data, tmp_path):
    """Under --amp the keys are fp16 while a dummy batch's zero keys come in the queue's
    dtype: the gather must not mix them (gloo: a size mismatch; NCCL: a hang)."""
    import subprocess

    helper = os.path.join(REPO, "tests", "helpers", "gather_under_autocast.py")
    proc = subprocess.run(torchrun(helper, synthetic_data, tmp_path, port=29536), capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    queues = assert_identical_queues(tmp_path)
    assert int(queues["mep_queue.num_enqueued"]) == 8  # rank 0's keys; the dummy batch adds none
    assert queues["mep_queue.keys"].dtype == torch.float32
