"""xlmk-probe: P@1 in both modes on hand-made probe sets with a stub scorer, the probe set
readers, the two model backends, and the CLI on a real tiny checkpoint."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from probe_fixtures import StubScorer, write_jsonl
from xlmk_fairseq.evaluation.probe_sets import Fact, ProbeSetError, Relation, read_lama, read_mlama
from xlmk_fairseq.evaluation.probing import (
    macro_average, probe_lama, probe_typed, query_tokens, vocabulary_filter,
)

WORDS = ["The", "capital", "of", "is", ".", "borders", "France", "Germany", "Italy", "Spain", "Austria",
         "Paris", "Berlin", "Rome", "New", "York", "the"]
CAPITAL = "The capital of [X] is [Y] ."


def by_subject(scorer, preferences, position=4):
    """log_probs for one-mask queries: the row of the subject word at ``position``."""
    def log_probs(words, k):
        return scorer.row(preferences.get(words[position], {}))[None].expand(k, -1)
    return log_probs


def facts(*pairs):
    return [Fact(s, o) for s, o in pairs]


# ---- typed querying (mLAMA) ---------------------------------------------------------------

def test_typed_querying_ranks_candidates_per_subject():
    scorer = StubScorer(WORDS, None)
    scorer.log_probs = by_subject(scorer, {
        "France": {"Paris": -1, "Berlin": -2, "Rome": -3},
        "Germany": {"Paris": -1, "Berlin": -2},  # wrong: Paris ranks first
        "Italy": {"Rome": -0.5, "Paris": -1},
    })
    relation = Relation("P36", CAPITAL, facts(("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome")))
    result = probe_typed(scorer, {"P36": relation})["P36"]
    assert result["n"] == 3 and result["skipped"] == 0 and result["candidates"] == 3
    assert result["p_at_1"] == pytest.approx(2 / 3)


def test_multi_token_candidates_are_scored_by_the_mean_log_probability():
    scorer = StubScorer(WORDS, None, pieces={"NewYork": ["New", "York"]})
    seen_masks = set()

    def log_probs(words, k):
        seen_masks.add(k)
        if k == 1:
            return scorer.row({"Paris": -1.5})[None]
        return torch.stack([scorer.row({"New": -1.0}), scorer.row({"York": -1.0})])

    scorer.log_probs = log_probs
    # NewYork: mean -1.0 beats Paris -1.5 (while its sum, -2.0, would lose)
    relation = Relation("P36", CAPITAL, facts(("France", "NewYork"), ("Italy", "NewYork")), ["Paris", "NewYork"])
    assert probe_typed(scorer, {"P36": relation})["P36"]["p_at_1"] == 1.0
    assert seen_masks == {1, 2}
    relation = Relation("P36", CAPITAL, facts(("France", "Paris")), ["Paris", "NewYork"])
    assert probe_typed(scorer, {"P36": relation})["P36"]["p_at_1"] == 0.0


def test_other_valid_objects_of_the_subject_are_taken_out_of_the_ranking():
    scorer = StubScorer(WORDS, None)
    scorer.log_probs = by_subject(scorer, {"Germany": {"Austria": -1, "France": -2, "Italy": -3},
                                           "Spain": {"France": -1, "Austria": -2}}, position=1)
    relation = Relation("P47", "[X] borders [Y] .",
                        facts(("Germany", "France"), ("Germany", "Austria"), ("Spain", "Austria")),
                        ["France", "Austria", "Italy"])
    result = probe_typed(scorer, {"P47": relation})["P47"]
    # Germany-France is right once Austria (also valid for Germany) is out; Spain-Austria is wrong
    assert (result["n"], result["p_at_1"]) == (3, pytest.approx(2 / 3))
    # the same in LAMA mode
    assert probe_lama(scorer, {"P47": relation}, vocabulary_filter(scorer))["P47"]["p_at_1"] == pytest.approx(2 / 3)


def test_typed_querying_skips_and_limits_facts():
    scorer = StubScorer(WORDS, None)
    scorer.log_probs = by_subject(scorer, {"France": {"Paris": -1}})
    relation = Relation("P36", CAPITAL, facts(("France", "Paris"), ("Italy", "Rome"), ("Spain", "Berlin")),
                        ["Paris", "Berlin"])
    result = probe_typed(scorer, {"P36": relation})["P36"]
    assert result["skipped_by_reason"] == {"object_not_in_candidates": 1} and result["n"] == 2
    result = probe_typed(scorer, {"P36": relation}, max_facts=1)["P36"]
    assert (result["n"], result["skipped"], result["p_at_1"]) == (1, 0, 1.0)


def test_batching_does_not_change_the_results():
    scorer = StubScorer(WORDS, None, pieces={"NewYork": ["New", "York"]})
    scorer.log_probs = lambda words, k: torch.log_softmax(
        torch.sin(torch.arange(scorer.vocab_size * k, dtype=torch.float) * (1 + WORDS.index(words[4]))).view(k, -1), -1)
    relation = Relation("P36", CAPITAL, facts(("France", "Paris"), ("Germany", "NewYork"), ("Italy", "Rome"),
                                              ("Spain", "Berlin")))
    one = probe_typed(scorer, {"P36": relation}, batch_size=1)
    assert set(scorer.batches) == {1}
    scorer.batches.clear()
    assert probe_typed(scorer, {"P36": relation}, batch_size=3) == one
    assert max(scorer.batches) == 3 and sum(scorer.batches) == 4 * 4


# ---- LAMA mode ---------------------------------------------------------------------------------

def lama_scorer():
    scorer = StubScorer(WORDS, None, pieces={"NewYork": ["New", "York"]})
    scorer.log_probs = by_subject(scorer, {"France": {"the": -0.1, "Paris": -0.5},
                                           "Italy": {"the": -0.1, "Rome": -0.5, "<unk>": 0.0}})
    return scorer


LAMA_FACTS = facts(("France", "Paris"), ("Germany", "NewYork"), ("Italy", "Rome"), ("Spain", "Madrid"))


def test_lama_mode_skips_objects_that_are_not_one_vocabulary_item():
    scorer = lama_scorer()
    result = probe_lama(scorer, {"P36": Relation("P36", CAPITAL, LAMA_FACTS)}, vocabulary_filter(scorer))["P36"]
    # "the" outranks both objects; <unk> (Madrid) and special symbols are never predicted
    assert (result["n"], result["p_at_1"]) == (2, 0.0)
    assert result["skipped_by_reason"] == {"object_not_in_vocabulary": 1, "object_not_single_token": 1}


def test_lama_mode_common_vocabulary_restricts_the_ranking():
    scorer = lama_scorer()
    relation = {"P36": Relation("P36", CAPITAL, LAMA_FACTS)}
    allowed = vocabulary_filter(scorer, ["Paris", "Rome", "Berlin", "NewYork", "Lyon"])
    assert sorted(allowed.nonzero().flatten().tolist()) == sorted(scorer.id(w) for w in ("Paris", "Rome", "Berlin"))
    assert probe_lama(scorer, relation, allowed)["P36"]["p_at_1"] == 1.0
    result = probe_lama(scorer, relation, vocabulary_filter(scorer, ["Paris"]))["P36"]
    assert (result["n"], result["p_at_1"], result["skipped_by_reason"]["object_not_in_vocabulary"]) == (1, 1.0, 2)


def test_lama_masked_sentences_serve_when_a_relation_has_no_template():
    relation = Relation("test", None, [Fact("Rome", "Italy", masked_sentences=["[MASK] [MASK]", "Rome is in [MASK] ."])])
    assert relation.query(relation.facts[0]) == ("Rome is in", ".")
    scorer = StubScorer(WORDS, None)
    assert query_tokens(scorer, "The capital of", ".", 2) == [
        0, scorer.id("The"), scorer.id("capital"), scorer.id("of"), scorer.mask, scorer.mask, scorer.id("."), 2]


def test_macro_average_ignores_relations_without_scored_facts():
    results = {"a": {"p_at_1": 0.5, "n": 2}, "b": {"p_at_1": 1.0, "n": 1}, "c": {"p_at_1": None, "n": 0}}
    assert macro_average(results) == 0.75
    assert macro_average({"c": results["c"]}) is None


# ---- probe set readers ---------------------------------------------------------------------------

def write_mlama(root, lang="en", template=CAPITAL):
    write_jsonl(root / lang / "templates.jsonl", [{"relation": "P36", "template": template},
                                                  {"relation": "P19", "template": "[X] was born in [Y] ."}])
    write_jsonl(root / lang / "P36.jsonl", [
        {"sub_uri": "Q142", "obj_uri": "Q90", "sub_label": "France", "obj_label": "Paris"},
        {"sub_uri": "Q183", "obj_uri": "Q64", "sub_label": "Germany", "obj_label": "Berlin"}])
    (root / lang / "P36.candidates.json").write_text(json.dumps(["Paris", "Berlin", "Rome"]))
    return root


def test_read_mlama_and_lama_layouts(tmp_path):
    sets = read_mlama(str(write_mlama(tmp_path / "m")))
    assert list(sets) == ["en"] and list(sets["en"]) == ["P36"]  # P19 has no facts file
    rel = sets["en"]["P36"]
    assert rel.candidates == ["Paris", "Berlin", "Rome"] and rel.facts[1].subject_key == "Q183"
    assert rel.query(rel.facts[0]) == ("The capital of France is", ".")
    write_jsonl(tmp_path / "l" / "relations.jsonl", [{"relation": "P36", "template": CAPITAL}])
    write_jsonl(tmp_path / "l" / "P36.jsonl", [{"sub_label": "France", "obj_label": "Paris",
                                                "masked_sentences": ["Paris is the capital of [MASK] ."]}])
    lama = read_lama(str(tmp_path / "l"))
    assert lama["P36"].template == CAPITAL and lama["P36"].facts[0].subject_key == "France"


@pytest.mark.parametrize("breakage, message", [
    ("malformed", "P36.jsonl line 2: not valid JSON"),
    ("no_object", "P36.jsonl line 1: missing or empty \"obj_label\""),
    ("template", "must hold [X] and [Y] exactly once each"),
    ("candidates", "must be a JSON list"),
    ("language", "no probe set for language(s) de"),
])
def test_read_mlama_errors_name_the_file_and_line(tmp_path, breakage, message):
    root = write_mlama(tmp_path, template="The capital of [X] is unknown ." if breakage == "template" else CAPITAL)
    facts_file = root / "en" / "P36.jsonl"
    if breakage == "malformed":
        facts_file.write_text(facts_file.read_text().splitlines()[0] + '\n{"sub_label": "Italy", \n')
    elif breakage == "no_object":
        write_jsonl(facts_file, [{"sub_label": "France"}])
    elif breakage == "candidates":
        (root / "en" / "P36.candidates.json").write_text('{"Paris": 1}')
    with pytest.raises(ProbeSetError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        read_mlama(str(root), ["de"] if breakage == "language" else None)


# ---- the backends: token ids agree, padding does not change scores ------------------------------

TEXTS = ["The capital of Germany is", "Berlin", ".", "Die Hauptstadt von Deutschland ist", "Frankreich",
         "德国的首都是", "。", "São Paulo", "xyzzy qwerty"]


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    """A sentencepiece model + dict.txt in XLM-R's layout, and a tiny XLMRobertaForMaskedLM
    with the Hugging Face tokenizer made from the same sentencepiece model."""
    from fairseq.data import Dictionary
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizer

    from preprocess.tokenizer import train

    root = tmp_path_factory.mktemp("hf")
    sentences = ["The capital of Germany is Berlin .", "Paris is the capital of France .",
                 "Die Hauptstadt von Deutschland ist Berlin .", "德国的首都是柏林。"] * 30
    train(sentences, 80, str(root / "spm"))
    tokenizer = XLMRobertaTokenizer.from_pretrained(str(root / "spm"))
    dictionary = Dictionary.load(str(root / "spm" / "dict.txt"))
    dictionary.add_symbol("<mask>")
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(dictionary), hidden_size=16, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=32, max_position_embeddings=130,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2)
    XLMRobertaForMaskedLM(config).save_pretrained(str(root / "model"))
    tokenizer.save_pretrained(str(root / "model"))
    return root, dictionary


def test_huggingface_and_fairseq_tokenisation_agree(tiny_hf):
    from xlmk_fairseq.evaluation.masked_lm_scorers import SentencepieceDictTokenizer, load_scorer

    root, dictionary = tiny_hf
    hf = load_scorer(str(root / "model"))
    fairseq_tokenize = SentencepieceDictTokenizer(str(root / "spm" / "sentencepiece.bpe.model"), dictionary)
    for text in TEXTS:
        assert hf.tokenize(text) == fairseq_tokenize(text), text
    assert 3 in fairseq_tokenize("。 xyzzy")  # unknown pieces are <unk> in both
    assert (hf.bos, hf.pad, hf.eos, hf.mask) == (0, 1, 2, dictionary.index("<mask>"))
    assert hf.special_ids == {0, 1, 2, 3, dictionary.index("<mask>")}
    # with spaces around the slot, tokenising the two sides apart is the whole sentence's tokenisation
    left, right = "The capital of Germany is", "."
    for obj in ("Berlin", "Paris", "São Paulo"):
        assert (hf.tokenize(left) + hf.tokenize(obj) + hf.tokenize(right)
                == hf.tokenize(f"{left} {obj} {right}")), obj


def test_huggingface_backend_pads_without_changing_scores_and_probes(tiny_hf):
    from xlmk_fairseq.evaluation.masked_lm_scorers import load_scorer

    scorer = load_scorer(str(tiny_hf[0] / "model"))
    assert scorer.max_positions == 128
    check_padding_invariance(scorer)
    relation = Relation("P36", CAPITAL, facts(("Germany", "Berlin"), ("France", "Paris"), ("Germany", "Bonn")))
    result = probe_typed(scorer, {"P36": relation}, batch_size=2)["P36"]
    assert result["n"] == 3 and 0.0 <= result["p_at_1"] <= 1.0
    assert scorer.has_knowledge_heads is False


def check_padding_invariance(scorer):
    sequences = [query_tokens(scorer, "The capital of Germany is", ".", 2),
                 query_tokens(scorer, "Berlin", "", 1),
                 query_tokens(scorer, "Die Hauptstadt von Deutschland ist leider nicht", ".", 3)]
    batched = scorer.mask_log_probs(sequences)
    for seq, rows in zip(sequences, batched):
        (alone,) = scorer.mask_log_probs([seq])
        assert rows.shape == (seq.count(scorer.mask), scorer.vocab_size)
        assert torch.allclose(rows, alone, atol=1e-5)
        assert torch.allclose(rows.exp().sum(-1), torch.ones(len(rows)), atol=1e-4)
    features = scorer.cls_features(sequences)
    for seq, row in zip(sequences, features):
        assert torch.allclose(row, scorer.cls_features([seq])[0], atol=1e-5)


# ---- the CLI on a real tiny checkpoint ---------------------------------------------------------

@pytest.fixture(scope="module")
def sample(sample_data, sample_checkpoint, tmp_path_factory):
    from preprocess.cli import main as preprocess_main

    paths = {"data": sample_data, "work": sample_data.parent / "work", "checkpoint": sample_checkpoint}
    paths["probe"] = tmp_path_factory.mktemp("probe") / "mlama"
    assert preprocess_main(["probe-set", "--work", str(paths["work"]), "--out", str(paths["probe"]), "--langs", "en,de"]) == 0
    return paths


def test_cli_probes_and_retrieves_with_a_fairseq_checkpoint(sample, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "xlmk_fairseq.evaluation.probe_cli", str(sample["checkpoint"]),
         "--mlama", str(sample["probe"]), "--langs", "en,de", "--data", str(sample["data"]), "--retrieval",
         "--output", str(out), "--batch-size", "16", "--max-facts-per-relation", "5"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "mlama" and results["model"] == str(sample["checkpoint"])
    assert set(results["p_at_1"]) == set(results["relations"]) == {"en", "de"}
    for lang, per_relation in results["relations"].items():
        assert "P36" in per_relation and "P47" in per_relation
        for r in per_relation.values():
            assert 1 <= r["n"] <= 5 and 0.0 <= r["p_at_1"] <= 1.0 and r["skipped"] >= 0
        assert results["p_at_1"][lang] == pytest.approx(macro_average(per_relation))
    for method in ("cls", "mep_key"):
        part = results["retrieval"][method]
        assert set(part["pairs"]) == {"en-de", "de-en"}
        for m in part["pairs"].values():
            assert m["n"] >= 20 and 0.0 <= m["acc@1"] <= m["mrr"] <= 1.0
    assert "| relation | en | de |" in proc.stdout and "| P36 |" in proc.stdout
    assert "retrieval (mep_key)" in proc.stdout


def test_fairseq_backend_pads_without_changing_scores_and_runs_lama_mode(sample, tmp_path, capsys):
    from xlmk_fairseq.evaluation.masked_lm_scorers import load_scorer
    from xlmk_fairseq.evaluation.probe_cli import main

    scorer = load_scorer(str(sample["checkpoint"]), str(sample["data"]))
    check_padding_invariance(scorer)
    write_jsonl(tmp_path / "lama" / "relations.jsonl", [{"relation": "P36", "template": CAPITAL}])
    write_jsonl(tmp_path / "lama" / "P36.jsonl", [{"sub_label": "France", "obj_label": "Paris"},
                                                   {"sub_label": "Spain", "obj_label": "Madrid"}])
    (tmp_path / "vocab.txt").write_text("Paris\nMadrid\nBerlin\n")
    assert main([str(sample["checkpoint"]), "--lama", str(tmp_path / "lama"), "--data", str(sample["data"]),
                 "--common-vocab", str(tmp_path / "vocab.txt"), "--output", str(tmp_path / "r.json")]) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["mode"] == "lama" and list(results["relations"]) == ["en"]
    single = sum(len(scorer.tokenize(w)) == 1 for w in ("Paris", "Madrid"))
    assert results["relations"]["en"]["P36"]["n"] == single
    assert "| P36 |" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["no_data", "no_probe_dir", "malformed_line", "template", "no_mode", "not_a_model"])
def test_cli_errors_exit_non_zero_with_a_message(sample, tmp_path, capsys, case):
    from xlmk_fairseq.evaluation.probe_cli import main

    probe = tmp_path / "probe"
    shutil.copytree(sample["probe"], probe)
    args = [str(sample["checkpoint"]), "--mlama", str(probe), "--data", str(sample["data"])]
    expected = {"no_data": "--data DATA must name", "no_probe_dir": "no such probe set directory",
                "malformed_line": "P36.jsonl line 2: not valid JSON", "template": "must hold [X] and [Y]",
                "no_mode": "choose --lama DIR, --mlama DIR and/or --retrieval",
                "not_a_model": "not a Hugging Face model directory (no config.json)"}[case]
    if case == "no_data":
        args = args[:-2]
    elif case == "no_probe_dir":
        args[2] = str(tmp_path / "missing")
    elif case == "malformed_line":
        lines = (probe / "en" / "P36.jsonl").read_text().splitlines()
        (probe / "en" / "P36.jsonl").write_text("\n".join([lines[0], lines[1][:-5]] + lines[2:]) + "\n")
    elif case == "template":
        write_jsonl(probe / "de" / "templates.jsonl", [{"relation": "P36", "template": "Hauptstadt: [Y]"}])
    elif case == "not_a_model":
        args[0] = str(tmp_path)
    else:
        args = args[:1]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("xlmk-probe: error: ") or "usage:" in err
    assert expected in err and "Traceback" not in err


def test_cli_with_a_checkpoint_of_fairseqs_masked_lm_task(sample, sample_masked_lm_checkpoint, tmp_path):
    from xlmk_fairseq.evaluation.probe_cli import main

    out = tmp_path / "r.json"
    assert main([str(sample_masked_lm_checkpoint), "--mlama", str(sample["probe"]), "--langs", "en,de",
                 "--data", str(sample["data"]), "--retrieval", "--max-facts-per-relation", "2",
                 "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert all(r["n"] >= 1 for r in results["relations"]["en"].values())
    assert results["retrieval"]["max_tokens"] == 64  # the model's positions, not --max-tokens 256
    assert set(results["retrieval"]["cls"]["pairs"]) == {"en-de", "de-en"}
    assert "skipped" in results["retrieval"]["mep_key"]
