"""A FIFO queue of detached keys that serve as extra negatives (MoCo, He et al. 2020).

The queue lives on the model as registered buffers, so checkpoints save it and resuming
restores it bit-exactly. The entity id of every key is stored next to it, so that a query
never treats a queued key of its own entity as a negative. Slots that still hold the random
initialisation carry entity id -1. A queue of size 0 holds nothing: in-batch negatives only.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.distributed import utils as distributed_utils


class KeyQueue(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self.size = size
        # Randomly initialised as in the paper; unit norm keeps the initial logits O(1).
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=-1))
        self.register_buffer("entities", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        # All keys ever enqueued (on all workers); "fill" is min(num_enqueued, size).
        self.register_buffer("num_enqueued", torch.zeros((), dtype=torch.long))

    @property
    def fill(self) -> int:
        return min(int(self.num_enqueued), self.size)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, entities: torch.Tensor):
        """Gather ``keys`` from every data-parallel worker and append them all.

        A collective: every worker must call it at every step, with zero keys for a dummy
        batch. Workers may hold different numbers of keys, so the counts are gathered first
        and the keys padded to the largest count.
        """
        if self.size == 0:  # --queue-size 0: in-batch negatives only, on every worker alike
            return
        # Under --amp the keys are fp16 and the queue fp32; a dummy batch's zero keys come in
        # the queue's dtype. Gathering mixed dtypes fails on gloo and hangs NCCL: cast first.
        keys = keys.detach().to(self.keys.dtype)
        keys, entities = _gather_from_workers(keys, entities)
        n = keys.size(0)
        if n == 0:
            return
        if n > self.size:
            keys, entities = keys[-self.size :], entities[-self.size :]
        ptr = int(self.ptr)
        idx = (torch.arange(min(n, self.size), device=keys.device) + ptr) % self.size
        self.keys[idx] = keys
        self.entities[idx] = entities
        self.ptr.fill_((ptr + n) % self.size)
        self.num_enqueued.add_(n)

    def extra_repr(self):
        return f"size={self.size}, dim={self.keys.size(1)}"


def _gather_from_workers(keys, entities):
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return keys, entities
    group = distributed_utils.get_data_parallel_group()
    world_size = distributed_utils.get_world_size(group)
    if world_size == 1:
        return keys, entities
    count = torch.tensor([keys.size(0)], dtype=torch.long, device=keys.device)
    counts = distributed_utils.all_gather(count, group, return_tensor=True).view(-1).tolist()
    longest = max(counts)
    if longest == 0:
        return keys[:0], entities[:0]
    pad = longest - keys.size(0)
    keys = F.pad(keys, (0, 0, 0, pad))
    entities = F.pad(entities, (0, pad), value=-1)
    all_keys = distributed_utils.all_gather(keys, group, return_tensor=True)
    all_entities = distributed_utils.all_gather(entities, group, return_tensor=True)
    all_keys = all_keys.view(world_size, longest, -1)
    all_entities = all_entities.view(world_size, longest)
    return (
        torch.cat([all_keys[r, :c] for r, c in enumerate(counts)]),
        torch.cat([all_entities[r, :c] for r, c in enumerate(counts)]),
    )
