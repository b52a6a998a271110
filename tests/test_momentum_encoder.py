"""The momentum key encoder (--key-encoder momentum): a moving copy of the encoder and key
heads, without gradient, writes the queue and the keys of MoCo's loss term; the in-batch
term keeps the online keys, with gradient; the copy equals the online weights until the
queue joins, is updated once per optimizer step from then, and stays fp32 under --fp16."""

import pytest
import torch

from tests_support import build_xlmk_tiny_training, first_batch

MOMENTUM = ["--key-encoder", "momentum"]


@pytest.fixture
def tiny(synthetic_data):
    torch.manual_seed(0)
    task, model, criterion = build_xlmk_tiny_training(synthetic_data, *MOMENTUM)
    return task, model.train(), criterion


def momentum_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith("momentum.")}


def key_sequences(sample, role):
    """The (padded) token rows of the MEP descriptions (role 1) or OE objects (role 3)."""
    k = sample["knowledge"]
    rows = [tokens[i] for tokens, _ in k["buckets"] for i in range(len(tokens))]
    m, o = k["num_mep"], k["num_oe"]
    start, count = {1: (m, m), 3: (2 * m + o, o)}[role]
    return [rows[r] for r in k["order"][start : start + count].tolist()]


def test_the_queue_is_filled_by_the_momentum_copy_and_the_batch_keys_stay_online(tiny):
    task, model, criterion = tiny
    assert not any(n.startswith("momentum.") for n, _ in model.named_parameters())
    with torch.no_grad():  # let the copy differ from the online weights
        for p in model.momentum.heads.buffers():
            p.mul_(1.5)
    sample = first_batch(task, 8)
    assert sample["knowledge"]["key_buckets"] >= 1
    out = model(xlmk_batch=sample)
    assert out["mep_key"].requires_grad and out["oe_key"].requires_grad
    for task_name, role in (("mep", 1), ("oe", 3)):
        features = torch.cat([model.momentum.features(t[None], torch.float32)[:, 0]
                              for t in key_sequences(sample, role)])
        queued, entities = model._pending_keys[task_name]
        assert not queued.requires_grad and queued is out[task_name + "_momentum_key"]
        assert torch.allclose(queued, model.momentum.keys(task_name, features), atol=1e-5)
        assert not torch.allclose(queued, out[task_name + "_key"], atol=1e-3)
        assert torch.equal(entities, sample["knowledge"][task_name + "_entities"])
    model.eval()  # validation: the same loss terms, nothing to enqueue
    model._pending_keys = None
    assert "mep_momentum_key" in model(xlmk_batch=sample) and model._pending_keys is None


def test_the_loss_adds_mocos_term_once_the_queue_joins(tiny):
    from xlmk_fairseq.criterions.xlmk import contrastive_loss

    task, model, criterion = tiny
    model.eval()  # no dropout: the same forward each time
    sample = first_batch(task, 8)
    criterion.cfg.queue_warmup_updates = 5
    model.set_num_updates(4)
    _, _, before = criterion(model, sample)
    out = model(xlmk_batch=sample)
    entities = sample["knowledge"]["mep_entities"]
    in_batch, _ = contrastive_loss(out["mep_query"], out["mep_key"], entities)
    assert before["mep_loss"] == pytest.approx(in_batch.item(), rel=1e-5)
    model.set_num_updates(5)
    _, _, after = criterion(model, sample)
    moco, correct = contrastive_loss(out["mep_query"], out["mep_momentum_key"], entities,
                                     model.mep_queue.keys, model.mep_queue.entities)
    assert after["mep_loss"] == pytest.approx(in_batch.item() + moco.item(), rel=1e-5)
    assert after["mep_correct"] == correct


class LossScalingFreeOptimizer:
    """What fairseq's train_step and optimizer_step call on an optimizer, around torch SGD."""

    def __init__(self, params, lr):
        self.sgd = torch.optim.SGD(params, lr=lr)

    def backward(self, loss):
        loss.backward()

    def step(self):
        self.sgd.step()


def test_the_copy_starts_equal_and_follows_the_online_weights_after_each_step(tiny):
    task, model, criterion = tiny
    online = {"sentence_encoder": model.encoder.sentence_encoder,
              "heads.mep": model.knowledge_heads.mep_key, "heads.oe": model.knowledge_heads.oe_key}
    for name, module in online.items():
        for key, param in module.named_parameters():
            assert torch.equal(model.momentum.get_buffer(f"{name}.{key}"), param), (name, key)
    optimizer = LossScalingFreeOptimizer(model.parameters(), lr=0.5)
    task.cfg.key_momentum = 0.9
    criterion.cfg.queue_warmup_updates = 1
    for update in (0, 1):  # the queue joins at update 1: m = 0 before, 0.9 from then
        before = momentum_state(model)
        task.train_step(first_batch(task, 8), model, criterion, optimizer, update)
        task.optimizer_step(optimizer, model, update)
        m = 0.9 if update else 0.0
        changed = 0
        for name, module in online.items():
            for key, param in module.named_parameters():
                full = f"momentum.{name}.{key}"
                expected = m * before[full] + (1 - m) * param.detach()
                assert torch.allclose(model.state_dict()[full], expected, atol=1e-7), full
                changed += not torch.equal(model.state_dict()[full], before[full])
        assert changed > 10


def test_every_trainable_tensor_gets_a_gradient(tiny):
    task, model, criterion = tiny
    loss, _, _ = criterion(model, first_batch(task, 8))
    loss.backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_under_half_precision_the_copy_stays_fp32_and_does_not_stall(tiny):
    """With m = 0.999 an update moves a weight by 0.1% of its distance to the online
    weight: 0.00025 here, below half of fp16's spacing near 1 (0.00098), so an fp16 average
    would not move."""
    task, model, criterion = tiny
    model.half()
    weight = model.momentum.sentence_encoder.layers[0].fc1.weight
    assert weight.dtype == torch.float32 and model.mep_queue.keys.dtype == torch.float16
    online = model.encoder.sentence_encoder.layers[0].fc1.weight
    with torch.no_grad():
        weight.fill_(1.0)
        online.fill_(1.25)
    model.update_momentum_encoder(0.999)
    assert torch.allclose(weight, torch.full_like(weight, 1.00025), atol=1e-7)
    stalled = torch.ones(1, dtype=torch.float16).lerp_(torch.full((1,), 1.25, dtype=torch.float16), 0.001)
    assert stalled.item() == 1.0  # what an fp16 copy would have done
    loss, _, log = criterion(model, first_batch(task, 8))
    assert torch.isfinite(loss) and log["mep_loss"] > 0


def test_restoring_a_plain_encoder_copies_it_into_the_momentum_encoder(synthetic_data):
    """A checkpoint without a momentum encoder (XLM-R, an MLM stage, a shared-key run):
    the copy starts as the restored encoder and key heads, not as a fresh init."""
    torch.manual_seed(1)
    _, shared, _ = build_xlmk_tiny_training(synthetic_data)
    state = {k: v.clone() for k, v in shared.state_dict().items()}
    torch.manual_seed(2)
    _, model, _ = build_xlmk_tiny_training(synthetic_data, *MOMENTUM)
    model.load_state_dict(state, strict=True)  # fairseq's upgrade hook runs first
    restored = model.state_dict()
    for key, value in restored.items():
        if key.startswith("momentum.sentence_encoder."):
            assert torch.equal(value, state["encoder.sentence_encoder." + key[len("momentum.sentence_encoder."):]]), key
        elif key.startswith("momentum.heads.mep."):
            assert torch.equal(value, state["knowledge_heads.mep_key." + key[len("momentum.heads.mep."):]]), key
    assert torch.equal(restored["knowledge_heads.mep_key.dense.weight"], state["knowledge_heads.mep_key.dense.weight"])


def test_bad_momentum_is_refused(synthetic_data):
    from xlmk_fairseq.errors import ConfigError

    with pytest.raises(ConfigError, match="--key-momentum"):
        build_xlmk_tiny_training(synthetic_data, *MOMENTUM, "--key-momentum", "1.5")


def test_the_export_leaves_the_momentum_copy_out_and_says_so(sample_data, tmp_path, capsys):
    import json

    from conftest import run_train
    from xlmk_fairseq.hf_export.cli import main
    from xlmk_fairseq.hf_export.knowledge_heads_file import load_knowledge_heads

    run_train(sample_data, tmp_path / "ck", "--max-update", "2", *MOMENTUM)
    out = tmp_path / "hf"
    assert main([str(tmp_path / "ck" / "checkpoint_last.pt"), str(sample_data), str(out)]) == 0
    assert "left out (training state, not part of the model): the momentum key encoder" in capsys.readouterr().out
    assert "the momentum key encoder" in json.loads((out / "xlmk_export.json").read_text())["left_out"]
    heads = load_knowledge_heads(out)
    assert heads.heads == ("mep_query", "mep_key", "oe_query", "oe_key")
