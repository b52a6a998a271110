"""Run fairseq-train in this process and, at exit, save this worker's queues.

Test instrumentation for distributed runs: fairseq writes checkpoints on rank 0 only, so
each worker dumps its own queue buffers to DUMP_DIR/rank<R>.pt to compare them.

    torchrun --nproc-per-node 2 train_and_dump_queues.py DUMP_DIR FAIRSEQ_TRAIN_ARGS...

(the rank flags are added as xlmk_fairseq.torchrun_train adds them)
"""

import atexit
import os
import sys

import torch

import xlmk_fairseq  # noqa: F401
from fairseq_cli import train
from xlmk_fairseq.tasks.knowledge_pretraining import KnowledgePretrainingTask
from xlmk_fairseq.torchrun_train import torchrun_args

dump_dir = sys.argv[1]
built = []
_build_model = KnowledgePretrainingTask.build_model


def build_model(self, cfg, from_checkpoint=False):
    model = _build_model(self, cfg, from_checkpoint)
    built.append(model)
    return model


def dump():
    if built:
        state = {k: v for k, v in built[0].state_dict().items() if "_queue." in k}
        torch.save(state, os.path.join(dump_dir, f"rank{os.environ.get('RANK', '0')}.pt"))


KnowledgePretrainingTask.build_model = build_model
atexit.register(dump)
sys.argv = ["fairseq-train", *sys.argv[2:], *torchrun_args()]
train.cli_main()
