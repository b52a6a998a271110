"""The rehearsal at XLM-R's real shapes (tests/benchmarks/bench_xlmr_rehearsal.py): a
checkpoint shaped like the 2019 XLM-R base release restores into xlmk_base, trains, exports.

The full rehearsal is slow (minutes, ~7 GiB of memory): ``pytest -m slow tests/test_xlmr_rehearsal.py``.
"""

import math
import os
import shutil
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks"))

import xlmr_release_fixture as fx  # noqa: E402


@pytest.mark.parametrize("numpy_names", ["current", "numpy1"])
def test_the_release_fixture_loads_through_fairseqs_upgrade(tmp_path, numpy_names):
    """Small shapes: the file as fairseq 0.12 (with the plugin's safe loading) reads it."""
    import xlmk_fairseq  # noqa: F401 (safe globals)
    from fairseq import checkpoint_utils

    shape = dict(fx.SMALL, vocab=40)
    path = str(tmp_path / "model.pt")
    written = fx.write_release_checkpoint(path, shape, numpy_names=numpy_names)
    numpy_globals = {g for g in fx.pickled_globals(path) if g.startswith("numpy.") and "multiarray" in g}
    core = "numpy.core.multiarray" if numpy_names == "numpy1" else np.float64(0).__reduce__()[0].__module__
    assert numpy_globals == {f"{core}.scalar", f"{core}._reconstruct"}

    state = checkpoint_utils.load_checkpoint_to_cpu(path)
    assert state["cfg"].model.arch == "roberta_base" and state["cfg"].task._name == "masked_lm"
    assert state["extra_state"]["val_loss"] == written["extra_state"]["val_loss"]
    assert np.array_equal(state["extra_state"]["sampled_sentences_per_lang"],
                          written["extra_state"]["sampled_sentences_per_lang"])
    assert all(k.startswith("decoder.") for k in state["model"])
    assert all(v.dtype == torch.float16 for v in state["model"].values())

    # fairseq's own RoBERTa takes it: every tensor where the fixture's name mapping says
    from fairseq.data import Dictionary
    from fairseq.models.roberta import RobertaEncoder, RobertaModel
    from fairseq.models.roberta.model import base_architecture

    args = fx.release_args(shape)
    base_architecture(args)
    dictionary = Dictionary()
    for i in range(shape["vocab"] - len(dictionary) - 1):
        dictionary.add_symbol(f"w{i}")
    dictionary.add_symbol("<mask>")
    model = RobertaModel(args, RobertaEncoder(args, dictionary))
    model.load_state_dict(state["model"], strict=True)
    restored = model.state_dict()
    for key, tensor in written["model"].items():
        assert torch.equal(restored[fx.release_to_model_name(key)], tensor.float()), key


@pytest.mark.slow
def test_xlmr_base_release_restores_trains_2_updates_and_exports(tmp_path):
    from bench_xlmr_rehearsal import run_rehearsal

    results = run_rehearsal(str(tmp_path), updates=2, batch_size=2, tokens_per_sample=128,
                            knowledge_tokens_per_sample=64, numpy_names="numpy1", masked_lm=False,
                            log=lambda *_: None)
    run = results["runs"]["xlmk"]

    # restore: the knowledge heads and queues initialised freshly (and said so), every
    # release tensor restored exactly (fp16 -> fp32), nothing else left at its init
    assert run["restore_log"] and "knowledge_heads." in run["restore_log"], run["log"]
    restore = run["restore"]
    # as many tensors as the release has (12 layers of 16, 4 embedding, 6 LM head: 202)
    assert restore["compared"] == len(fx.release_state_dict(dict(fx.XLMR_BASE, dim=4, ffn=4, vocab=8))) == 202
    assert restore["mismatched"] == []
    assert restore["dtype"] == "torch.float32"
    leftover = [k for k in restore["not_in_release"]
                if not k.startswith(("knowledge_heads.", "mep_queue", "oe_queue"))]
    assert leftover == ["encoder.sentence_encoder.version"]

    # 2 updates with finite losses, at the stated shapes
    assert len(run["step_seconds"]) == 2
    inner = [r for tag, r in run["records"] if tag == "train_inner"]
    assert [int(r["num_updates"]) for r in inner] == [1, 2]
    for r in inner:
        for key in ("loss", "mlm_loss", "mep_loss", "oe_loss"):
            assert math.isfinite(float(r[key])), (key, r)
    mlm = [shape for name, shape, _ in run["batch"] if name == "mlm"]
    assert mlm and mlm[0][0] == 2 and mlm[0][1] <= 128

    # the export, verified by xlmk-export-hf itself
    export = results["export"]
    assert export["report"]["verified"] and export["report"]["max_abs_logit_diff"] <= 1e-4
    assert export["report"]["sentences"] >= 5
    out = export["out"]
    for name in ("model.safetensors", "config.json", "xlmk_knowledge_heads.safetensors", "sentencepiece.bpe.model"):
        assert os.path.isfile(os.path.join(out, name)), name
    import json

    assert json.load(open(os.path.join(out, "config.json")))["vocab_size"] == 250002
    # ~3 GB of checkpoints and export: kept only when the test fails
    for entry in os.listdir(tmp_path):
        shutil.rmtree(tmp_path / entry, ignore_errors=True)
