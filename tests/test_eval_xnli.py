"""XNLI accuracy from the official XNLI TSV layout."""

import json

import pytest

from eval_files import GOLD, write_tsv, write_xnli_gold

from xlmk_fairseq.evaluation.classification_metrics import evaluate_xnli
from xlmk_fairseq.evaluation.eval_inputs import EvalInputError


def test_accuracy_per_language_with_a_missing_prediction(tmp_path):
    gold = write_xnli_gold(tmp_path / "xnli.test.tsv")
    pred = write_tsv(tmp_path / "pred.tsv", ["language", "pairID", "label"], [
        ["en", "1", "entailment"], ["en", "2", "contradiction"], ["en", "3", "Contradiction"],
        ["de", "1", "entailment"], ["de", "3", "contradictory"],  # de/2 missing
        ["fr", "1", "neutral"],
    ])
    r = evaluate_xnli(gold, pred)
    assert r["languages"]["en"] == {"accuracy": pytest.approx(200 / 3), "examples": 3, "correct": 2,
                                    "missing_predictions": 0}
    assert r["languages"]["de"]["accuracy"] == pytest.approx(200 / 3)
    assert r["languages"]["de"]["missing_predictions"] == 1
    assert list(r["languages"]) == ["en", "de"]  # order of the gold file
    assert (r["accuracy"], r["examples"], r["missing_predictions"]) == (pytest.approx(400 / 6), 6, 1)
    assert r["unknown_predictions"] == 1


def test_jsonl_predictions_keyed_by_index(tmp_path):
    gold = write_xnli_gold(tmp_path / "gold.tsv")
    records = [{"index": i, "label": label} for i, label in
               enumerate(["entailment", "neutral", "neutral", "entailment", "contradiction"])]
    (tmp_path / "pred.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    r = evaluate_xnli(gold, str(tmp_path / "pred.jsonl"))
    assert r["key"] == ["index"]
    assert r["correct"] == 4 and r["missing_predictions"] == 1  # index 2 wrong, index 5 missing


def test_pair_id_alone_is_ambiguous_across_languages(tmp_path):
    gold = write_xnli_gold(tmp_path / "gold.tsv")
    pred = write_tsv(tmp_path / "pred.tsv", ["pairID", "label"], [["1", "neutral"]])
    with pytest.raises(EvalInputError, match=r"gold.tsv:5: 1 repeats"):
        evaluate_xnli(gold, pred)
    single_language = write_xnli_gold(tmp_path / "en.tsv", GOLD[:3])
    assert evaluate_xnli(single_language, pred)["correct"] == 0


@pytest.mark.parametrize("rows, message", [
    ([["en", "1", "entails"]], r"pred.tsv:2: label 'entails' is not one of"),
    ([["en", "1", "neutral"], ["en", "1", "neutral"]], r"pred.tsv:3: a second prediction for en/1"),
    ([["en", "1"]], r"pred.tsv:2: 2 tab-separated fields, the header has 3"),
])
def test_bad_prediction_rows_name_the_line(tmp_path, rows, message):
    gold = write_xnli_gold(tmp_path / "gold.tsv")
    with pytest.raises(EvalInputError, match=message):
        evaluate_xnli(gold, write_tsv(tmp_path / "pred.tsv", ["language", "pairID", "label"], rows))


def test_prediction_layout_errors(tmp_path):
    gold = write_xnli_gold(tmp_path / "gold.tsv")
    with pytest.raises(EvalInputError, match="needs a column pairID"):
        evaluate_xnli(gold, write_tsv(tmp_path / "a.tsv", ["id", "label"], [["1", "neutral"]]))
    with pytest.raises(EvalInputError, match="holds no prediction"):
        evaluate_xnli(gold, write_tsv(tmp_path / "b.tsv", ["pairID", "label"], []))
    (tmp_path / "c.jsonl").write_text('{"index": 0, "label": "neutral"}\n{"index": 1,\n')
    with pytest.raises(EvalInputError, match=r"c.jsonl:2: malformed JSON line"):
        evaluate_xnli(gold, str(tmp_path / "c.jsonl"))
    (tmp_path / "d.jsonl").write_text('{"index": "first", "label": "neutral"}\n')
    with pytest.raises(EvalInputError, match=r"d.jsonl:1: index 'first' is not an integer"):
        evaluate_xnli(gold, str(tmp_path / "d.jsonl"))
    (tmp_path / "e.jsonl").write_text('{"index": 0}\n')
    with pytest.raises(EvalInputError, match=r"e.jsonl:1: no column label"):
        evaluate_xnli(gold, str(tmp_path / "e.jsonl"))


def test_gold_layout_errors(tmp_path):
    pred = write_tsv(tmp_path / "pred.tsv", ["index", "label"], [["0", "neutral"]])
    with pytest.raises(EvalInputError, match="no column gold_label"):
        evaluate_xnli(write_tsv(tmp_path / "g1.tsv", ["language", "label"], [["en", "neutral"]]), pred)
    (tmp_path / "g2.tsv").write_text("")
    with pytest.raises(EvalInputError, match="empty file"):
        evaluate_xnli(str(tmp_path / "g2.tsv"), pred)
    with pytest.raises(EvalInputError, match="no such file"):
        evaluate_xnli(str(tmp_path / "absent.tsv"), pred)
