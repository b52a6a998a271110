"""The momentum key encoder (--key-encoder momentum): keys from a moving copy of the query
side, without gradient; updated once per optimizer step; fp32 under --fp16."""

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


def test_keys_come_from_the_momentum_copy_without_gradient(tiny):
    task, model, criterion = tiny
    assert "mep_key" not in model.knowledge_heads and "oe_key" not in model.knowledge_heads
    assert not any(n.startswith("momentum.") for n, _ in model.named_parameters())
    sample = first_batch(task, 8)
    assert sample["knowledge"]["key_buckets"] >= 1
    out = model(xlmk_batch=sample)
    assert out["mep_query"].requires_grad and not out["mep_key"].requires_grad
    assert not out["oe_key"].requires_grad
    # the key is the momentum query head on the momentum encoder's <s> state of the description
    k = sample["knowledge"]
    rows = [tokens[i] for tokens, _ in k["buckets"] for i in range(len(tokens))]
    m = k["num_mep"]
    descriptions = [rows[r] for r in k["order"][m : 2 * m].tolist()]  # role order, padded
    features = torch.cat([model.momentum.features(d[None], torch.float32)[:, 0] for d in descriptions])
    assert torch.allclose(out["mep_key"], model.momentum.keys("mep", features), atol=1e-5)


def test_the_copy_starts_equal_and_follows_the_online_weights_after_each_step(tiny):
    task, model, criterion = tiny
    online = {"sentence_encoder": model.encoder.sentence_encoder,
              "heads.mep": model.knowledge_heads.mep_query, "heads.oe": model.knowledge_heads.oe_query}
    for name, module in online.items():
        for key, param in module.named_parameters():
            assert torch.equal(model.momentum.get_buffer(f"{name}.{key}"), param), (name, key)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss, _, _ = criterion(model, first_batch(task, 8))
    loss.backward()
    before = momentum_state(model)
    task.cfg.key_momentum = 0.9
    task.optimizer_step(optimizer, model, 0)
    changed = 0
    for name, module in online.items():
        for key, param in module.named_parameters():
            full = f"momentum.{name}.{key}"
            expected = 0.9 * before[full] + 0.1 * param.detach()
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
    the copy starts as the restored encoder and query heads, not as a fresh init."""
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
            assert torch.equal(value, state["knowledge_heads.mep_query." + key[len("momentum.heads.mep."):]]), key
    assert "knowledge_heads.mep_key.dense.weight" not in restored  # left out, with a warning


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
    assert heads.heads == ("mep_query", "oe_query") and heads.entity_key is heads.mep_query
