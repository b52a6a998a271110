"""xlmk-import-hf: a Hugging Face XLM-R directory -> a fairseq checkpoint that XLM-K training
restores; exported back, it gives the original weights."""

import json
import os
import shutil

import pytest
import torch

from conftest import run_train
from hf_fixtures import write_hf_dir
from xlmk_fairseq.hf_export import weights
from xlmk_fairseq.hf_export.cli import export
from xlmk_fairseq.hf_import.cli import main

POSITIONS = "roberta.embeddings.position_embeddings.weight"
TOKEN_TYPES = "roberta.embeddings.token_type_embeddings.weight"
WORDS = "roberta.embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def hf_dirs(sample_data, tmp_path_factory):
    """XLMRobertaForMaskedLM (with tokenizer.json) and XLMRobertaModel (a pooler, the sentencepiece
    model only) on the sample's sentencepiece model, which the sample fixture trains."""
    root = tmp_path_factory.mktemp("hf")
    spm_model = sample_data / "sentencepiece.bpe.model"
    return {"mlm": write_hf_dir(root / "mlm", spm_model),
            "base": write_hf_dir(root / "base", spm_model, "XLMRobertaModel", tokenizer_files=False, seed=1)}


@pytest.fixture(scope="module")
def imported(hf_dirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("imported")
    for name, hf_dir in hf_dirs.items():
        assert main([str(hf_dir), str(root / name)]) == 0
    return {name: root / name for name in hf_dirs}


def hf_weights(hf_dir):
    """The directory's tensors under XLMRobertaForMaskedLM's names (an XLMRobertaModel's get "roberta.")."""
    from safetensors.torch import load_file

    return {k if k.startswith(("roberta.", "lm_head.")) else "roberta." + k: v
            for k, v in load_file(os.path.join(hf_dir, "model.safetensors")).items()}


def assert_exported_back(original, export_dir, untouched_positions_from=None):
    """The export of an imported model holds the original's tensors (pooler aside), with
    token_type_embeddings[0] folded into the positions; after training (``untouched_positions_from``:
    the first position row beyond every trained sequence), those rows still, the rest within 2 Adam steps."""
    back = hf_weights(export_dir)
    expected = {k: v for k, v in original.items() if not k.startswith("roberta.pooler.")}
    expected[POSITIONS] = original[POSITIONS] + original[TOKEN_TYPES][0]
    expected[TOKEN_TYPES] = torch.zeros_like(original[TOKEN_TYPES])
    for key, value in expected.items():
        if untouched_positions_from is None:
            assert torch.equal(back[key], value), key
        else:  # an update moves a weight by about --lr (1e-3) at most; a swapped tensor by far more
            assert (back[key] - value).abs().max() <= 5e-3, key
    if untouched_positions_from is not None:
        first = untouched_positions_from
        assert torch.equal(back[POSITIONS][first:], expected[POSITIONS][first:])
        assert not torch.equal(back[POSITIONS][:first], expected[POSITIONS][:first])
        assert not torch.equal(back[WORDS], expected[WORDS])


def first_untouched_position_row(data):
    """Sequences hold at most the longest train item + <s> (+ </s> in it), at rows 2, 3, ..."""
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    longest = 0
    for path in data.glob("*/*/train.bin"):
        if path.stat().st_size:  # numpy cannot map an empty file
            items = MMapIndexedDataset(str(path)[: -len(".bin")])  # kept alive while its map is read
            longest = max(longest, int(items.sizes.max()))
    return 3 + longest


def test_import_is_release_shaped_and_its_vocabulary_is_the_data_tokenizers(imported, hf_dirs, sample_data, tmp_path):
    from fairseq import checkpoint_utils

    from preprocess.cli import main as preprocess_main

    out = imported["mlm"]
    assert sorted(os.listdir(out)) == ["dict.txt", "model.pt", "sentencepiece.bpe.model", "xlmk_import.json"]
    record = json.load(open(out / "xlmk_import.json"))
    assert record["complete"] and record["verified"] and record["compared"] == "logits"
    assert record["max_abs_diff"] <= 1e-4 and record["sentences"] == 7
    assert record["fairseq_arch"] == "xlmk_tiny" and record["lm_head"] == "imported" and record["dropped"] == []
    # XLM-R's layout from the sentencepiece model: the sample's dict.txt, which xlmk-preprocess wrote
    assert (out / "dict.txt").read_text() == (sample_data / "dict.txt").read_text()
    assert preprocess_main(["spm", "--out", str(tmp_path), "--spm-model", str(out / "sentencepiece.bpe.model"),
                            "--dict", str(out / "dict.txt")]) == 0
    state = checkpoint_utils.load_checkpoint_to_cpu(str(out / "model.pt"))  # as --restore-file loads it
    args = state["args"]
    assert (args.arch, args.task, args.criterion, args.max_positions) == ("roberta_base", "masked_lm", "masked_lm", 512)
    model = state["model"]
    assert model["encoder.lm_head.weight"].data_ptr() == model["encoder.sentence_encoder.embed_tokens.weight"].data_ptr()
    assert model["encoder.sentence_encoder.embed_tokens.weight"].shape == (len((out / "dict.txt").read_text().splitlines()) + 5, 64)
    assert state["optimizer_history"][-1]["num_updates"] == 0 and "last_optimizer_state" not in state


def test_a_model_without_lm_head_gets_a_new_tied_one(imported, hf_dirs, tmp_path, caplog):
    record = json.load(open(imported["base"] / "xlmk_import.json"))
    assert record["lm_head"].startswith("new:") and record["compared"] == "final hidden states"
    assert record["dropped"] == ["pooler.dense.bias", "pooler.dense.weight"] and record["max_abs_diff"] <= 1e-4
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Paris ist die Hauptstadt von Frankreich.\n\n东京是日本的首都。\n", encoding="utf-8")
    with caplog.at_level("INFO"):
        assert main([str(hf_dirs["base"]), str(tmp_path / "again"), "--sentences", str(sentences)]) == 0
    assert "no LM head in the weights: a new one, tied to the input embeddings" in caplog.text
    assert "left out" in caplog.text and "pooler.dense.weight" in caplog.text
    assert json.load(open(tmp_path / "again" / "xlmk_import.json"))["sentences"] == 2
    # the same import twice, the same new head: fairseq's initialisation with a fixed seed
    first, again = (torch.load(d / "model.pt", weights_only=True)["model"] for d in (imported["base"], tmp_path / "again"))
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)


@pytest.mark.parametrize("name", ["mlm", "base"])
def test_round_trip_without_training_is_exact(imported, hf_dirs, name, tmp_path):
    out = tmp_path / "hf"
    assert export(str(imported[name] / "model.pt"), str(imported[name]), str(out))["verified"]
    assert_exported_back(hf_weights(hf_dirs[name]), out)
    if name == "base":  # the new head as fairseq initialises it
        back = hf_weights(out)
        assert not back["lm_head.bias"].any() and torch.equal(back["lm_head.layer_norm.weight"], torch.ones(64))


@pytest.mark.parametrize("name,flag", [("mlm", "--finetune-from-model"), ("base", "--restore-file")])
def test_restored_into_xlmk_training_then_exported_back(imported, hf_dirs, sample_data, name, flag, tmp_path):
    """--restore-file without the --reset-* flags too (the recipe test restores with them): the
    checkpoint holds no optimizer state to restore."""
    flags = [flag, str(imported[name] / "model.pt")]
    proc, _ = run_train(sample_data, tmp_path / "ck", "--max-update", "2", *flags)
    assert "initialised" in proc.stdout + proc.stderr  # the knowledge heads, as for the fairseq release
    out = tmp_path / "hf"
    assert export(str(tmp_path / "ck" / "checkpoint_last.pt"), str(sample_data), str(out))["verified"]
    assert_exported_back(hf_weights(hf_dirs[name]), out, first_untouched_position_row(sample_data))


def test_a_vocabulary_larger_than_xlmrs_imports(sample_data, tmp_path):
    """260,002 rows (XLM-R: 250,002) at width 8: the sample's sentencepiece model with extra pieces."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto.FromString((sample_data / "sentencepiece.bpe.model").read_bytes())
    lowest = min(p.score for p in proto.pieces)
    for i in range(260_000 - len(proto.pieces)):
        proto.pieces.add(piece=f"▁zq{i}", score=lowest - 1 - i * 1e-6)
    proto.trainer_spec.vocab_size = len(proto.pieces)
    spm_model = tmp_path / "large.model"
    spm_model.write_bytes(proto.SerializeToString())
    hf_dir = write_hf_dir(tmp_path / "hf", spm_model, num_hidden_layers=1, hidden_size=8, intermediate_size=16,
                          num_attention_heads=2, max_position_embeddings=130)
    assert main([str(hf_dir), str(tmp_path / "out")]) == 0
    record = json.load(open(tmp_path / "out" / "xlmk_import.json"))
    assert record["vocab_size"] == 260_002 and record["verified"] and record["fairseq_arch"] is None
    assert len((tmp_path / "out" / "dict.txt").read_text(encoding="utf-8").splitlines()) == 260_000 - 3


def test_pytorch_model_bin_is_read_with_weights_only(hf_dirs, imported, tmp_path, capsys):
    from safetensors.torch import load_file

    hf_dir = tmp_path / "bin"
    shutil.copytree(hf_dirs["mlm"], hf_dir)
    state = load_file(hf_dir / "model.safetensors")
    os.remove(hf_dir / "model.safetensors")
    torch.save(state, hf_dir / "pytorch_model.bin")
    assert main([str(hf_dir), str(tmp_path / "out")]) == 0
    ours, theirs = (torch.load(d / "model.pt", weights_only=True)["model"] for d in (tmp_path / "out", imported["mlm"]))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    torch.save({**state, "hook": print}, hf_dir / "pytorch_model.bin")  # a pickle that names a function
    assert main([str(hf_dir), str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err
    assert "transformers cannot load the weights (UnpicklingError" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "refused").exists()


def edit_json(path, **changes):
    value = json.load(open(path))
    value.update(changes)
    json.dump(value, open(path, "w"))


def swap_two_pieces(path):
    value = json.load(open(path))
    vocab = value["model"]["vocab"]
    vocab[10], vocab[11] = vocab[11], vocab[10]
    json.dump(value, open(path, "w"))


def set_tokenizer_type(path):
    value = json.load(open(path))
    value["model"]["type"] = "BPE"
    json.dump(value, open(path, "w"))


REFUSALS = {
    "pre-LN (XLM-R XL)": (lambda d: edit_json(d / "config.json", model_type="xlm-roberta-xl"), "pre-LayerNorm layers"),
    "relative positions": (lambda d: edit_json(d / "config.json", position_embedding_type="relative_key_query"),
                           "position_embedding_type 'relative_key_query'"),
    "rotary positions": (lambda d: edit_json(d / "config.json", position_embedding_type="rotary"),  # jina-embeddings-v3
                         "position_embedding_type 'rotary'"),
    "another model type": (lambda d: edit_json(d / "config.json", model_type="bert"), "model_type 'bert'"),
    "padding index": (lambda d: edit_json(d / "config.json", pad_token_id=0), "pad_token_id 0"),
    "tokenizer class": (lambda d: edit_json(d / "tokenizer_config.json", tokenizer_class="BertTokenizer"),
                        "tokenizer_class 'BertTokenizer'"),
    "tokenizer type": (lambda d: set_tokenizer_type(d / "tokenizer.json"), "a BPE tokenizer"),
    "tokenizer.json only": (lambda d: os.remove(d / "sentencepiece.bpe.model"),
                            "no sentencepiece.bpe.model (only tokenizer.json, tokenizer_config.json)"),
    "vocabulary order": (lambda d: swap_two_pieces(d / "tokenizer.json"), "order does not match sentencepiece.bpe.model: id 10 is"),
    "vocabulary size": (lambda d: edit_json(d / "config.json", vocab_size=3010),
                        "vocab_size is 3010, but sentencepiece.bpe.model has 3000 pieces, which make 3002 ids"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_what_fairseq_cannot_express_is_refused_and_nothing_written(hf_dirs, case, tmp_path, capsys):
    hf_dir = tmp_path / "hf"
    shutil.copytree(hf_dirs["mlm"], hf_dir)
    edit, message = REFUSALS[case]
    edit(hf_dir)
    assert main([str(hf_dir), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xlmk-import-hf: error:") and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_an_untied_lm_head_is_refused(sample_data, tmp_path, capsys):
    hf_dir = write_hf_dir(tmp_path / "hf", sample_data / "sentencepiece.bpe.model", tie_word_embeddings=False)
    assert main([str(hf_dir), str(tmp_path / "out")]) == 1
    assert "not tied to the input embeddings" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_another_layer_norm_eps_is_left_to_the_verification(sample_data, tmp_path, caplog, capsys):
    """transformers' XLM-R default, 1e-12, against fairseq's fixed 1e-5: on this tiny random model
    (hidden states of variance ~1e-3) the outputs differ beyond 1e-4, and the error says why."""
    hf_dir = write_hf_dir(tmp_path / "hf", sample_data / "sentencepiece.bpe.model", layer_norm_eps=1e-12)
    assert main([str(hf_dir), str(tmp_path / "out")]) == 1
    assert "layer_norm_eps is 1e-12; fairseq's RoBERTa uses 1e-05" in caplog.text
    err = capsys.readouterr().err
    assert "import verification failed: logits differ" in err and "(the model's layer_norm_eps is 1e-12, fairseq's 1e-05)" in err
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_a_wrong_conversion_fails_verification_and_leaves_nothing(hf_dirs, tmp_path, monkeypatch, capsys):
    swapped = dict(weights.LAYER_NAMES, **{"self_attn.q_proj": "attention.self.key",
                                           "self_attn.k_proj": "attention.self.query"})
    monkeypatch.setattr(weights, "LAYER_NAMES", swapped)
    assert main([str(hf_dirs["mlm"]), str(tmp_path / "out")]) == 1
    assert "import verification failed: logits differ" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_only_its_own_output_is_replaced(imported, hf_dirs, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    ours = tmp_path / "ours"
    shutil.copytree(imported["mlm"], ours)
    (tmp_path / "ours.partial").mkdir()
    (tmp_path / "ours.partial" / "xlmk_import.json").write_text("{}")  # a stale one of an interrupted run
    (tmp_path / "theirs.partial").mkdir()
    cases = [
        ([str(hf_dirs["mlm"]), str(foreign), "--overwrite"], "holds no xlmk_import.json: not written by xlmk-import-hf"),
        ([str(hf_dirs["mlm"]), str(ours)], "pass --overwrite"),
        ([str(hf_dirs["mlm"]), str(tmp_path / "theirs")], "theirs.partial exists and holds no xlmk_import.json"),
        ([str(tmp_path / "missing"), str(tmp_path / "new")], "no such directory"),
        ([str(foreign), str(tmp_path / "new")], "no config.json"),
        ([str(hf_dirs["mlm"]), str(tmp_path / "new"), "--sentences", str(tmp_path / "none.txt")], "no such file"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("xlmk-import-hf: error:") and message in err and "Traceback" not in err, err
    assert (foreign / "notes.txt").read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["foreign", "ours", "ours.partial", "theirs.partial"]
    (ours / "model.pt").write_bytes(b"replaced below")
    assert main([str(hf_dirs["mlm"]), str(ours), "--overwrite"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["foreign", "ours", "theirs.partial"]
    assert json.load(open(ours / "xlmk_import.json"))["complete"] and (ours / "model.pt").stat().st_size > 1000
