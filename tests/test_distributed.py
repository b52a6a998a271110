"""Two CPU workers (torchrun, gloo): identical queues, no key lost or doubled."""

import math
import os
import sys

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
