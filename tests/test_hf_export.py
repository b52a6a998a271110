"""xlmk-export-hf: a fairseq checkpoint -> a Hugging Face directory that computes the same thing."""

import json
import os

import pytest
import torch

from xlmk_fairseq.hf_export import cli, weights
from xlmk_fairseq.hf_export.cli import VERIFY_SENTENCES, export, load_fairseq_hub, main
from xlmk_fairseq.hf_export.knowledge_heads_file import load_knowledge_heads

SENTENCES = ["Paris ist die Hauptstadt von Frankreich.", "东京是日本的首都。", "Rabat هي عاصمة المغرب."]


def test_export_gives_the_fairseq_logits_for_a_padded_batch(exported, sample_checkpoint, sample_data):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    report = json.load(open(exported / "xlmk_export.json"))
    assert report["verified"] and report["max_abs_logit_diff"] <= 1e-4
    # and up to 3 lines of each language's mlm/<lang>/valid text (the sample's de has 2)
    assert report["sentences"] == 7 and report["data_sentences"] == 3 * 6 + 2
    hub = load_fairseq_hub(str(sample_checkpoint), str(sample_data))
    tokenizer = AutoTokenizer.from_pretrained(exported)
    model = AutoModelForMaskedLM.from_pretrained(exported).eval()
    batch = tokenizer(SENTENCES, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
        for i, sentence in enumerate(SENTENCES):
            ids = hub.encode(sentence)
            assert batch["input_ids"][i, : len(ids)].tolist() == ids.tolist()
            expected = hub.model(ids.unsqueeze(0))[0][0]
            assert torch.allclose(logits[i, : len(ids)], expected, atol=1e-4)


def test_fill_mask_pipeline_runs_offline(exported):
    from transformers import pipeline

    fill = pipeline("fill-mask", model=str(exported), top_k=3)
    for text in ("Berlin ist die <mask> von Deutschland.", "Madrid es la <mask> de España."):
        results = fill(text)
        assert len(results) == 3 and all("<mask>" not in r["sequence"] for r in results)


def test_knowledge_heads_load_and_give_the_fairseq_entity_keys(exported, sample_checkpoint, sample_data):
    from transformers import AutoModelForMaskedLM

    hub = load_fairseq_hub(str(sample_checkpoint), str(sample_data))
    heads = load_knowledge_heads(exported)
    for name, tensor in hub.model.knowledge_heads.state_dict().items():
        assert torch.equal(heads.state_dict()[name], tensor)
    ids = hub.encode(SENTENCES[0]).unsqueeze(0)
    model = AutoModelForMaskedLM.from_pretrained(exported).eval()
    with torch.no_grad():
        ours = hub.model.knowledge_heads.mep_key(hub.model.encoder.extract_features(ids)[0][:, 0])
        theirs = heads.mep_key(model.roberta(input_ids=ids).last_hidden_state[:, 0])
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert (exported / "relations.tsv").read_text() == (sample_data / "relations.tsv").read_text()


def test_a_fairseq_masked_lm_checkpoint_exports(sample_masked_lm_checkpoint, sample_data, tmp_path):
    """fairseq's own masked_lm task (no plugin) on the sample's English MLM data."""
    out = tmp_path / "hf"
    report = export(str(sample_masked_lm_checkpoint), str(sample_data), str(out))
    assert report["verified"]
    assert not (out / "xlmk_knowledge_heads.safetensors").exists()
    assert json.load(open(out / "config.json"))["max_position_embeddings"] == 66


def test_a_wrong_conversion_fails_verification_and_writes_nothing(sample_checkpoint, sample_data, tmp_path,
                                                                  monkeypatch, capsys):
    swapped = dict(weights.LAYER_NAMES, **{"self_attn.q_proj": "attention.self.key",
                                           "self_attn.k_proj": "attention.self.query"})
    monkeypatch.setattr(weights, "LAYER_NAMES", swapped)
    out = tmp_path / "hf"
    assert main([str(sample_checkpoint), str(sample_data), str(out)]) == 1
    assert "logits differ" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "hf.partial").exists()


def test_a_mismatch_only_on_the_data_text_fails_verification_and_writes_nothing(
        sample_checkpoint, sample_data, tmp_path, monkeypatch, capsys):
    """Positions past the longest fixed sentence converted wrong: only the data's longer lines show it."""
    hub = load_fairseq_hub(str(sample_checkpoint), str(sample_data))
    longest = max(len(hub.encode(s)) for s in VERIFY_SENTENCES)
    convert = cli.hf_state_dict

    def wrong_late_positions(state, num_layers):
        out = convert(state, num_layers)
        positions = out["roberta.embeddings.position_embeddings.weight"]
        positions[2 + longest:] = positions[2 + longest:].flip(-1)
        return out

    monkeypatch.setattr(cli, "hf_state_dict", wrong_late_positions)
    out = tmp_path / "hf"
    assert main([str(sample_checkpoint), str(sample_data), str(out)]) == 1
    err = capsys.readouterr().err
    assert "logits differ" in err and "valid item" in err and "of the data)" in err
    assert not out.exists() and not (tmp_path / "hf.partial").exists()


@pytest.fixture(scope="module")
def user_defined_data(sample_data, tmp_path_factory):
    """The sample's dict.txt and sentencepiece model, retrained on the sample's text to the same
    size with the user-defined symbols <ent> and </ent> (fairseq's masked_lm layout: no mlm/)."""
    import sentencepiece as spm

    from preprocess.cli import _corpus_lines

    size = spm.SentencePieceProcessor(model_file=str(sample_data / "sentencepiece.bpe.model")).get_piece_size()
    out = tmp_path_factory.mktemp("user_defined")
    spm.SentencePieceTrainer.train(
        sentence_iterator=_corpus_lines(str(sample_data.parent / "work")), model_prefix=str(out / "sentencepiece.bpe"),
        vocab_size=size, model_type="unigram", character_coverage=0.9995, user_defined_symbols=["<ent>", "</ent>"],
        minloglevel=2, num_threads=1)
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    assert sp.get_piece_size() == size
    (out / "dict.txt").write_text("".join(f"{sp.id_to_piece(i)} 1\n" for i in range(3, size)), encoding="utf-8")
    return out


def test_a_sentencepiece_model_with_user_defined_symbols_is_refused(sample_masked_lm_checkpoint, user_defined_data,
                                                                    tmp_path, monkeypatch, capsys):
    from transformers import AutoTokenizer

    out = tmp_path / "hf"
    assert main([str(sample_masked_lm_checkpoint), str(user_defined_data), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xlmk-export-hf: error:") and "user-defined symbol(s) (<ent> </ent>)" in err
    assert "drops the" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "hf.partial").exists()

    # why: without the refusal, the export verifies (no fixed sentence holds a user-defined symbol)
    # but its tokenizer drops the "▁" that sentencepiece emits before <ent>
    monkeypatch.setattr(cli, "refuse_user_defined_symbols", lambda path: None)
    assert export(str(sample_masked_lm_checkpoint), str(user_defined_data), str(out))["verified"]
    sentence = "Berlin ist die <ent>Hauptstadt</ent> von Deutschland."
    hub = load_fairseq_hub(str(sample_masked_lm_checkpoint), str(user_defined_data))
    pieces = hub.bpe.sp.encode(sentence, out_type=str)
    assert pieces[pieces.index("<ent>") - 1] == "▁"
    assert AutoTokenizer.from_pretrained(out)(sentence)["input_ids"] != hub.encode(sentence).tolist()


def test_sentences_file_and_data_without_text(sample_masked_lm_checkpoint, sample_data, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("dict.txt", "sentencepiece.bpe.model"):
        os.symlink(sample_data / name, data / name)
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Paris ist die Hauptstadt von Frankreich.\n\n东京是日本的首都。\n", encoding="utf-8")
    out = tmp_path / "hf"
    assert main([str(sample_masked_lm_checkpoint), str(data), str(out), "--sentences", str(sentences)]) == 0
    assert "verified on 2 sentences and no data text: DATA has no mlm/*/valid text" in capsys.readouterr().out
    report = json.load(open(out / "xlmk_export.json"))
    assert report["sentences"] == 2 and report["data_sentences"] == 0


def test_bad_inputs_stop_with_a_message(sample_checkpoint, sample_data, synthetic_data, tmp_path, capsys):
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("hello")
    existing = tmp_path / "existing"
    existing.mkdir()
    cases = [
        ([str(tmp_path / "missing.pt"), str(sample_data), str(tmp_path / "a")], "no such file"),
        ([str(not_a_checkpoint), str(sample_data), str(tmp_path / "b")], "cannot load"),
        ([str(sample_checkpoint), str(tmp_path), str(tmp_path / "c")], "dict.txt: no such file"),
        ([str(sample_checkpoint), str(sample_data), str(existing)], "--overwrite"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("xlmk-export-hf: error:") and message in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["existing", "notes.pt"]


def test_export_of_unsupported_architecture_is_refused(sample_checkpoint, sample_data):
    hub = load_fairseq_hub(str(sample_checkpoint), str(sample_data))
    hub.model.args.encoder_normalize_before = True
    with pytest.raises(SystemExit, match="pre-LayerNorm"):
        weights.hf_config(hub.model.args, 10)


def test_probing_the_checkpoint_and_its_export_gives_the_same_p_at_1(exported, sample_checkpoint, sample_data, tmp_path):
    from preprocess.cli import main as preprocess_main
    from xlmk_fairseq.evaluation.probe_cli import main as probe_main

    probe = tmp_path / "probe"
    assert preprocess_main(["probe-set", "--work", str(sample_data.parent / "work"), "--out", str(probe),
                            "--langs", "en,zh"]) == 0
    results = []
    for model, extra in ((sample_checkpoint, ["--data", str(sample_data)]), (exported, [])):
        out = tmp_path / f"{len(results)}.json"
        assert probe_main([str(model), "--mlama", str(probe), "--max-facts-per-relation", "4",
                           "--output", str(out), *extra]) == 0
        results.append(json.load(open(out)))
    assert results[0]["relations"] == results[1]["relations"]
    assert results[0]["p_at_1"] == results[1]["p_at_1"] and set(results[0]["p_at_1"]) == {"en", "zh"}
