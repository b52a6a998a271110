"""fairseq-train for scripts/gpu_check.py: xlmk_fairseq.torchrun_train plus three test hooks.

    torchrun --standalone --nproc-per-node 1 scripts/gpu_train.py DATA --task ... (fairseq-train flags)

Without torchrun's environment (RANK/WORLD_SIZE unset) it runs plain fairseq-train. Hooks, each
switched on by an environment variable:

XLMK_CHECK_FORCE_DDP=1
    fairseq 0.12 wraps the model in DistributedDataParallel only when the data-parallel world
    size is above 1 (``Trainer.use_distributed_wrapper``), so one process on one GPU never
    runs the DDP code path even with an NCCL process group. This hook wraps it whenever a
    process group is initialised, so that a single-GPU check exercises --ddp-backend
    (the reducer's NCCL all-reduce over one rank, unused-parameter detection, the proxy).
XLMK_CHECK_BF16_NO_TPU=1
    ``options.parse_args_and_arch`` in fairseq 0.12 turns --bf16 into --bf16 --tpu (the
    trainer then asks torch_xla for its device). This hook clears the implied --tpu (an
    explicit --tpu stays), so --bf16 trains on a GPU: model and criterion in bfloat16, fp32
    master weights (FP16Optimizer, no loss scaling).
XLMK_CHECK_STATS=PATH
    writes a JSON file at exit: per update the seconds of Trainer.train_step (between CUDA
    synchronisations), the non-padding encoder tokens, padded slots, masked tokens and model
    FLOPs (formula in ``step_flops``); the model's sizes; the wrapper chain around the model;
    the process group's backend and size; torch.cuda.max_memory_allocated/reserved.
"""

import atexit
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# fairseq_cli.train first: it configures logging at import (fairseq's "time | level | name |"
# lines, which gpu_check.py parses); an earlier import may log and claim the root logger.
from fairseq_cli import train as fairseq_train  # noqa: E402
import torch  # noqa: E402
from fairseq import options  # noqa: E402
from fairseq import trainer as fairseq_trainer  # noqa: E402

Trainer = fairseq_trainer.Trainer
STATS = {"steps": [], "model": None, "wrapper_chain": None, "process_group": None,
         "hooks": {}, "argv": sys.argv[1:], "queues": None}
TRAINER = []  # the Trainer, kept at its first step to read the queues at exit


def install_force_ddp():
    original = Trainer.use_distributed_wrapper

    def use_distributed_wrapper(self):
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and not self.cfg.optimization.use_bmuf:
            return True
        return original.fget(self)

    Trainer.use_distributed_wrapper = property(use_distributed_wrapper)
    STATS["hooks"]["force_ddp"] = True


def install_bf16_without_tpu():
    original = options.parse_args_and_arch
    explicit_tpu = "--tpu" in sys.argv

    def parse_args_and_arch(*args, **kwargs):
        parsed = original(*args, **kwargs)
        if getattr(parsed, "bf16", False) and getattr(parsed, "tpu", False) and not explicit_tpu:
            parsed.tpu = False
            STATS["hooks"]["bf16_tpu_cleared"] = True
        return parsed

    options.parse_args_and_arch = parse_args_and_arch


def _unwrap_chain(model):
    chain = [type(model).__name__]
    while hasattr(model, "module") and isinstance(getattr(model, "module"), torch.nn.Module):
        model = model.module
        chain.append(type(model).__name__)
    return chain, model


def describe_model(trainer):
    chain, inner = _unwrap_chain(trainer.model)
    info = {"class": type(inner).__name__,
            "params": sum(p.numel() for p in inner.parameters()),
            "param_dtype": str(next(inner.parameters()).dtype)}
    try:
        encoder = inner.encoder
        se = encoder.sentence_encoder
        info.update(
            layers=len(se.layers),
            dim=se.embed_tokens.embedding_dim,
            vocab=se.embed_tokens.num_embeddings,
            layer_params=sum(p.numel() for p in se.layers.parameters()),
            embedding_params=sum(p.numel() for n, p in se.named_parameters() if not n.startswith("layers.")),
            lm_head_dense_params=sum(p.numel() for n, p in encoder.lm_head.named_parameters()
                                     if not n.startswith("weight")),
        )
        heads = getattr(inner, "knowledge_heads", None)
        if heads is not None:
            info["knowledge_head_params"] = sum(p.numel() for p in heads.parameters())
    except AttributeError as e:  # not a RoBERTa layout: tokens and time only
        info["flops_unavailable"] = str(e)
    STATS["wrapper_chain"] = chain
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        STATS["process_group"] = {"backend": str(torch.distributed.get_backend()),
                                  "world_size": torch.distributed.get_world_size()}
    return info


def live_queues(trainer):
    """dtype and fill of the model's queues in memory: fairseq's checkpoints store float16 and
    bfloat16 tensors as float32 (utils.move_to_cpu in Trainer.save_checkpoint)."""
    _, inner = _unwrap_chain(trainer.model)
    out = {}
    for name in ("mep_queue", "oe_queue"):
        queue = getattr(inner, name, None)
        if queue is not None:
            out[name] = {"keys_dtype": str(queue.keys.dtype), "keys_device": str(queue.keys.device),
                         "entities_dtype": str(queue.entities.dtype),
                         "num_enqueued": int(queue.num_enqueued),
                         "keys_finite": bool(torch.isfinite(queue.keys.float()).all())}
    out["param_dtype"] = str(next(inner.parameters()).dtype)
    return out


def capture_queues():
    try:
        STATS["queues"] = live_queues(TRAINER[0])
    except Exception as e:  # reported by gpu_check.py
        STATS["queues"] = {"error": repr(e)}


def encoder_inputs(sample):
    """(src_tokens, MLM target or None) for every encoder input of a masked_lm or XLM-K batch."""
    if not isinstance(sample, dict):
        return
    if "net_input" in sample:  # fairseq masked_lm
        yield sample["net_input"]["src_tokens"], sample.get("target")
    for key in ("mlm", "desc_mlm"):
        if key in sample:
            yield sample[key]["net_input"]["src_tokens"], sample[key].get("target")
    for tokens, _ in sample.get("knowledge", {}).get("buckets", []):
        yield tokens, None


def step_flops(samples, pad, model):
    """Training FLOPs of one update (forward + backward = 3 x forward), per sequence of L
    non-padding tokens: 6 * P_layers * L (the layers' matrix products) + 12 * layers * d * L^2
    (attention scores and their weighted sum); per masked token: 6 * (d^2 + d * V) (the LM
    head's dense layer and output projection, computed only at masked positions). Embedding
    lookups, layer norms, softmax, the knowledge heads and the contrastive products against
    the queue (< 0.1% at base size) are left out; padding is not counted as work."""
    tokens = slots = masked = 0
    flops = 0
    for sample in samples:
        for src, target in encoder_inputs(sample):
            lengths = src.ne(pad).sum(dim=1).double()
            n = int(lengths.sum())
            tokens += n
            slots += src.numel()
            m = int(target.ne(pad).sum()) if target is not None else 0
            masked += m
            if model and "layer_params" in model:
                d, layers = model["dim"], model["layers"]
                flops += 6 * model["layer_params"] * n + 12 * layers * d * float((lengths ** 2).sum())
                flops += 6 * (d * d + d * model["vocab"]) * m
    return {"tokens": tokens, "slots": slots, "masked": masked, "flops": flops}


def install_stats(path):
    original = Trainer.train_step

    def train_step(self, samples, raise_oom=False):
        if STATS["model"] is None:
            STATS["model"] = describe_model(self)
            TRAINER.append(self)
        counts = step_flops(samples, self.task.source_dictionary.pad(), STATS["model"])
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = original(self, samples, raise_oom)
        if self.cuda:
            torch.cuda.synchronize()
        counts["seconds"] = time.perf_counter() - start
        counts["update"] = self.get_num_updates()
        STATS["steps"].append(counts)
        return out

    Trainer.train_step = train_step

    def write():
        if TRAINER and STATS["queues"] is None:
            capture_queues()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            STATS["cuda"] = {
                "device": torch.cuda.get_device_name(),
                "max_memory_allocated": torch.cuda.max_memory_allocated(),
                "max_memory_reserved": torch.cuda.max_memory_reserved(),
            }
        with open(path, "w") as f:
            json.dump(STATS, f)

    atexit.register(write)


def main():
    if os.environ.get("XLMK_CHECK_FORCE_DDP") == "1":
        install_force_ddp()
    if os.environ.get("XLMK_CHECK_BF16_NO_TPU") == "1":
        install_bf16_without_tpu()
    if os.environ.get("XLMK_CHECK_STATS"):
        install_stats(os.environ["XLMK_CHECK_STATS"])
    try:
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
            from xlmk_fairseq import torchrun_train
            torchrun_train.main()
        else:
            fairseq_train.cli_main()
    finally:
        if TRAINER:
            capture_queues()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
