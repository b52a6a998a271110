"""The momentum key encoder (MoCo, He et al. 2020): a slowly moving copy of the key side.

Keys that sit in a 32k queue for hundreds of updates are only useful negatives if the
network that wrote them changed little in that time. As in MoCo, the keys that fill the
queue come from an exponential moving average of the trained network: the sentence encoder
and the key head of each task (MEP, OE), updated after every optimizer step as
``momentum = m * momentum + (1 - m) * online`` and never trained by gradients.

Its weights are buffers, not parameters: the optimizer, gradient clipping and DDP leave them
alone, checkpoints save them and resuming restores them. They stay in fp32 when fairseq
calls ``model.half()`` (--fp16): with m = 0.999 an update of 0.1% of the difference is below
fp16's resolution and the average would stall. The copy runs without dropout (a key is a
target, as data2vec's teacher runs in eval mode) and under autocast in the online model's
half precision, so that fp32 weights cost no fp32 compute.
"""

import contextlib
import copy

import torch
import torch.nn as nn


class MomentumKeyEncoder(nn.Module):
    def __init__(self, sentence_encoder: nn.Module, heads: dict):
        """``heads``: {task: the online key head whose copy maps that task's keys}."""
        super().__init__()
        self.sentence_encoder = _frozen_copy(sentence_encoder)
        self.heads = nn.ModuleDict({task: _frozen_copy(head) for task, head in heads.items()})
        self.train(False)

    def train(self, mode=True):
        return super().train(False)  # never dropout: see the module docstring

    def _apply(self, fn, *args, **kwargs):
        # .cuda()/.to(device) apply as usual; .half()/.bfloat16() are undone (fp32 EMA)
        super()._apply(fn, *args, **kwargs)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.is_floating_point() and buffer.dtype != torch.float32:
                    module._buffers[name] = buffer.float()
        return self

    @torch.no_grad()
    def features(self, tokens, compute_dtype):
        """Final hidden states [B, T, C] of ``tokens``, as RobertaEncoder.extract_features."""
        # fp32 (or --amp's autocast, already on): as the caller runs; else autocast to it
        half = compute_dtype != torch.float32
        with torch.autocast(tokens.device.type, dtype=compute_dtype) if half else contextlib.nullcontext():
            out = self.sentence_encoder(tokens)
        return out["encoder_out"][0].transpose(0, 1)

    @torch.no_grad()
    def keys(self, task, features):
        return self.heads[task](features.float())

    @torch.no_grad()
    def update(self, online: dict, momentum: float):
        """``online``: {name of a submodule here: the online module it follows}."""
        for name, module in online.items():
            mine = dict(self.get_submodule(name).named_buffers())
            for key, param in module.named_parameters():
                mine[key].lerp_(param.detach().to(mine[key].dtype), 1.0 - momentum)


def _frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters are buffers (same names, same values, fp32)."""
    clone = copy.deepcopy(module)
    for sub in clone.modules():
        for name, param in list(sub._parameters.items()):
            del sub._parameters[name]
            if param is not None:
                sub.register_buffer(name, param.detach().float().clone())
    return clone
