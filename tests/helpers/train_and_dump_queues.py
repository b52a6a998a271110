"""Run fairseq-train in this process and, at exit, save this worker's queues.

Test instrumentation for distributed runs: fairseq writes checkpoints on rank 0 only, so
each worker dumps its own queue buffers (and momentum key encoder) to DUMP_DIR/rank<R>.pt to
compare them.

    torchrun --nproc-per-node 2 train_and_dump_queues.py DUMP_DIR FAIRSEQ_TRAIN_ARGS...

(the rank flags are added as xlmk_fairseq.torchrun_train adds them). With
XLMK_TEST_OOM=RANK:UPDATE, the forward of that worker at that update raises the error that
CUDA raises when it runs out of memory, once. With XLMK_TEST_CPU_DDP=1, fairseq's
pytorch_ddp backend (torch's DistributedDataParallel) runs on CPU modules: fairseq passes
the GPU's device_ids, which torch refuses for a CPU module, so they are dropped.
"""

import atexit
import os
import sys

import torch

import xlmk_fairseq  # noqa: F401
from fairseq_cli import train
from xlmk_fairseq.models.xlmk_roberta import XLMKRobertaModel
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
        state = {k: v for k, v in built[0].state_dict().items() if "_queue." in k or k.startswith("momentum.")}
        torch.save(state, os.path.join(dump_dir, f"rank{os.environ.get('RANK', '0')}.pt"))


def inject_oom(rank, update):
    forward_xlmk = XLMKRobertaModel.forward_xlmk

    def forward(self, *args, **kwargs):
        if self.training and self.num_updates == update and os.environ["RANK"] == rank and not fired:
            fired.append(True)
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")
        return forward_xlmk(self, *args, **kwargs)

    fired = []
    XLMKRobertaModel.forward_xlmk = forward


def allow_cpu_ddp():
    ddp_init = torch.nn.parallel.DistributedDataParallel.__init__

    def init(self, module, *args, **kwargs):
        kwargs.pop("device_ids", None)
        kwargs.pop("output_device", None)
        ddp_init(self, module, *args, **kwargs)

    torch.nn.parallel.DistributedDataParallel.__init__ = init


KnowledgePretrainingTask.build_model = build_model
if os.environ.get("XLMK_TEST_CPU_DDP"):
    allow_cpu_ddp()
if os.environ.get("XLMK_TEST_OOM"):
    oom_rank, oom_update = os.environ["XLMK_TEST_OOM"].split(":")
    inject_oom(oom_rank, int(oom_update))
atexit.register(dump)
sys.argv = ["fairseq-train", *sys.argv[2:], *torchrun_args()]
train.cli_main()
