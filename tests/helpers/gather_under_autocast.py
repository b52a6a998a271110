"""One XLM-K training step per worker under CPU autocast float16, then the key gather.

Test instrumentation (run under torchrun with gloo): the last rank treats its batch as a
dummy batch, as fairseq does when a worker has run out of data, so it enqueues zero keys
while the others enqueue the fp16 keys that autocast produced. Each worker saves its
queues to OUT_DIR/rank<R>.pt.

    torchrun --nproc-per-node 2 gather_under_autocast.py DATA OUT_DIR
"""

import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests_support import build_xlmk_tiny_training, first_batch  # noqa: E402

data, out_dir = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(1)  # the same initial queues on every worker, as fairseq's --seed gives
task, model, criterion = build_xlmk_tiny_training(data)
sample = first_batch(task, 8)
model.train()
with torch.autocast("cpu", dtype=torch.float16):
    loss, _, _ = criterion(model, sample)
loss.backward()
assert model._pending_keys["mep"][0].dtype == torch.float16, "autocast did not produce fp16 keys"
model.enqueue_pending_keys(skip=rank == world - 1)
torch.save({k: v for k, v in model.state_dict().items() if "_queue." in k},
           os.path.join(out_dir, f"rank{rank}.pt"))
dist.destroy_process_group()
