"""The GPU precision modes, emulated on the CPU: --amp (autocast float16) and --fp16
(model.half()). The GPU itself is exercised by scripts/gpu_check.sh."""

import math

import pytest
import torch

from tests_support import build_xlmk_tiny_training, first_batch
from xlmk_fairseq.criterions.xlmk import contrastive_loss
from xlmk_fairseq.models.key_queue import KeyQueue

FP16_MAX = torch.finfo(torch.float16).max
SHIFT = 100.0  # added to every output of the heads: dot products near 64 * 100^2, past 65504


def large_queries_and_keys(scale=100.0, n=8, dim=64):
    """fp16 queries and keys, as autocast heads return them, whose dot products pass fp16's range."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(n, dim, generator=g) * scale
    k = q + torch.randn(n, dim, generator=g) * scale / 4
    return q.half(), k.half(), torch.arange(n)


def test_scores_beyond_fp16_range_give_the_fp32_loss_under_autocast():
    q, k, entities = large_queries_and_keys()
    queue = KeyQueue(16, 64)
    assert (q.float() @ k.float().t()).abs().max() > FP16_MAX
    expected = contrastive_loss(q.float(), k.float(), entities, queue.keys, queue.entities)
    with torch.autocast("cpu", dtype=torch.float16):
        # what the loss computed before: autocast runs the product in fp16
        assert not torch.isfinite(q.float() @ k.float().t()).all()
        loss, correct = contrastive_loss(q, k, entities, queue.keys, queue.entities)
    assert torch.isfinite(loss)
    assert loss.dtype == torch.float32
    assert torch.equal(loss, expected[0]) and torch.equal(correct, expected[1])


@pytest.fixture(scope="module")
def tiny(synthetic_data):
    task, model, criterion = build_xlmk_tiny_training(synthetic_data)
    return task, model, criterion, first_batch(task, 8)


def test_a_training_step_under_autocast_with_grown_heads_stays_finite(tiny):
    task, model, criterion, sample = tiny
    model.train()
    heads = model.knowledge_heads
    with torch.no_grad():  # shift the heads' outputs until their dot products leave fp16
        for head in (heads.mep_query, heads.mep_key, heads.oe_query, heads.oe_key):
            head.out_proj.bias.add_(SHIFT)
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            out = model(xlmk_batch=sample)
            assert out["mep_query"].dtype == torch.float16
            with torch.autocast("cpu", enabled=False):
                assert (out["mep_query"].float() @ out["mep_key"].float().t()).abs().max() > FP16_MAX
            loss, _, log = criterion(model, sample)
        loss.backward()
        for key in ("loss", "mlm_loss", "mep_loss", "oe_loss"):
            assert math.isfinite(log[key]), key
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
    finally:
        model.zero_grad(set_to_none=True)
        model.enqueue_pending_keys(skip=True)
        with torch.no_grad():
            for head in (heads.mep_query, heads.mep_key, heads.oe_query, heads.oe_key):
                head.out_proj.bias.sub_(SHIFT)


def test_a_half_precision_model_trains_and_fills_its_fp16_queue(synthetic_data):
    """--fp16 calls model.half(): the queues turn fp16 along with the weights."""
    task, model, criterion = build_xlmk_tiny_training(synthetic_data)
    model.half().train()
    assert model.mep_queue.keys.dtype == torch.float16
    assert model.mep_queue.entities.dtype == torch.long
    sample = first_batch(task, 8)
    for _ in range(2):
        loss, _, log = criterion(model, sample)
        loss.backward()
        model.enqueue_pending_keys()
        assert math.isfinite(log["mep_loss"]) and math.isfinite(log["oe_loss"])
    assert model.mep_queue.fill == 16 and model.oe_queue.fill == 16
    assert torch.isfinite(model.mep_queue.keys).all()
