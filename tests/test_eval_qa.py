"""MLQA / XQuAD exact match and F1: normalisation per language, scoring, files and the G-XLT grid."""

import pytest

from eval_files import squad_json, write_json

from xlmk_fairseq.evaluation.eval_inputs import EvalInputError
from xlmk_fairseq.evaluation.qa_metrics import (answer_language, evaluate_directory, evaluate_file,
                                                score_answer, token_f1)
from xlmk_fairseq.evaluation.qa_normalization import answer_tokens


@pytest.mark.parametrize("text, lang, tokens", [
    ("«Paris»", "fr", ["paris"]),
    ("「東京」", "zh", ["東", "京"]),
    ("دلهي، الهند", "hi", ["دلهي", "الهند"]),  # Arabic comma is punctuation; no article rule for hi
    ("¿Dónde está?", "es", ["dónde", "está"]),
    ("U.S. $5", "en", ["us", "5"]),            # $ is in the ASCII punctuation set
    ("€5 ±1", "en", ["€5", "±1"]),             # currency and math symbols are not punctuation
    ("Rock-’n’-Roll", "de", ["rocknroll"]),
])
def test_punctuation_is_every_unicode_p_character_and_ascii_punctuation(text, lang, tokens):
    assert answer_tokens(text, lang) == tokens


@pytest.mark.parametrize("text, lang, tokens", [
    ("The Beatles, an album", "en", ["beatles", "album"]),
    ("Theatre and Anna", "en", ["theatre", "and", "anna"]),  # whole words only
    ("Los Ángeles y la casa de unas", "es", ["ángeles", "y", "casa", "de"]),
    ("Die Mauer der Stadt eines Tages", "de", ["mauer", "stadt", "tages"]),
    ("Dieser Einsatz", "de", ["dieser", "einsatz"]),
    ("những con mèo của tôi là cái chiếc", "vi", ["con", "mèo", "tôi"]),
    ("một các", "vi", ["một", "các"]),           # not on MLQA's Vietnamese list
    ("الكتاب ألم", "ar", ["كتاب", "ألم"]),         # alef-lam is removed, alef-hamza-lam is not
    ("بالمدينة", "ar", ["ب", "مدينة"]),           # MLQA removes the pair inside words too
    ("the a", "hi", ["the", "a"]),
    ("the 东西", "zh", ["the", "东", "西"]),
    ("the a", "th", ["the", "a"]),              # a language without rules: no articles, whitespace tokens
])
def test_articles_per_language(text, lang, tokens):
    assert answer_tokens(text, lang) == tokens


@pytest.mark.parametrize("text, tokens", [
    ("iPhone手机", ["iphone", "手", "机"]),
    ("在2008年 Beijing Olympics北京", ["在", "2008", "年", "beijing", "olympics", "北", "京"]),
    ("㐀𠀀", ["㐀", "𠀀"]),  # extension A and B ideographs are CJK characters too
    ("東京タワー", ["東", "京", "タワー"]),  # kana is not an ideograph: stays a word
])
def test_chinese_splits_ideographs_and_keeps_other_runs_as_words(text, tokens):
    assert answer_tokens(text, "zh") == tokens


def test_token_f1_over_multisets():
    assert token_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    assert token_f1(["x"], ["y"]) == 0.0
    assert token_f1([], []) == 0.0  # SQuAD v1.1: no shared token, F1 0


def test_score_answer_hand_computed():
    # en: prediction tokens {cat, sat, on, mat}, gold {cat, on, mat}: P = 3/4, R = 1
    em, f1 = score_answer("The cat sat on the mat", ["a cat on the mat"], "en")
    assert (em, f1) == (0.0, pytest.approx(2 * 0.75 / 1.75))
    assert score_answer("paris france.", ["Rome", "Paris, France"], "en") == (1.0, 1.0)
    assert score_answer("Paris", ["Rome", "Paris France"], "en") == (0.0, pytest.approx(2 / 3))


def test_empty_prediction_and_empty_gold_answer():
    assert score_answer("", ["Paris"], "en") == (0.0, 0.0)
    # both normalise to nothing: equal strings (EM 1) but no shared token (F1 0), as in SQuAD v1.1
    assert score_answer("a", ["The"], "en") == (1.0, 0.0)
    assert score_answer("", [""], "de") == (1.0, 0.0)


def test_evaluate_file_counts_missing_and_unknown_predictions(tmp_path):
    gold = write_json(tmp_path / "gold.json", squad_json({"q1": ["Berlin"], "q2": ["der Rhein"], "q3": ["Bonn"]}))
    pred = write_json(tmp_path / "pred.json", {"q1": "Berlin.", "q2": "Rhein Fluss", "zz": "?"})
    r = evaluate_file(gold, pred, "de")
    # q1 exact; q2: tokens {rhein, fluss} vs {rhein}: P 1/2, R 1, F1 2/3; q3 missing scores 0
    assert r["exact_match"] == pytest.approx(100 / 3)
    assert r["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert (r["questions"], r["missing_predictions"], r["unknown_predictions"]) == (3, 1, 1)


def test_empty_predictions_object_scores_zero(tmp_path):
    gold = write_json(tmp_path / "gold.json", squad_json({"q1": ["Berlin"]}))
    r = evaluate_file(gold, write_json(tmp_path / "pred.json", {}), "de")
    assert (r["exact_match"], r["f1"], r["missing_predictions"]) == (0.0, 0.0, 1)


@pytest.mark.parametrize("gold, message", [
    ({"data": [{"paragraphs": [{"qas": [{"id": "q", "answers": []}]}]}]}, "no gold answer"),
    ({"data": [{"paragraphs": [{"qas": [{"id": "q"}]}]}]}, "not SQuAD v1.1"),
    ([1, 2], "not SQuAD v1.1"),
    ({"data": []}, "no question"),
])
def test_bad_gold_layouts(tmp_path, gold, message):
    pred = write_json(tmp_path / "pred.json", {})
    with pytest.raises(EvalInputError, match=message):
        evaluate_file(write_json(tmp_path / "gold.json", gold), pred, "en")


@pytest.mark.parametrize("pred, message", [
    ([{"id": "q1", "prediction_text": "x"}], "JSON object mapping"),
    ({"q1": ["x"]}, "q1 is not a string"),
])
def test_bad_prediction_layouts(tmp_path, pred, message):
    gold = write_json(tmp_path / "gold.json", squad_json({"q1": ["x"]}))
    with pytest.raises(EvalInputError, match=message):
        evaluate_file(gold, write_json(tmp_path / "pred.json", pred), "en")


def test_malformed_json_names_the_position(tmp_path):
    gold = write_json(tmp_path / "gold.json", squad_json({"q1": ["x"]}))
    (tmp_path / "pred.json").write_text('{"q1": "x",\n}')
    with pytest.raises(EvalInputError, match=r"malformed JSON .* line 2"):
        evaluate_file(gold, str(tmp_path / "pred.json"), "en")


@pytest.mark.parametrize("name, lang", [
    ("test-context-ar-question-de.json", "ar"), ("dev-context-zh-question-zh.json", "zh"),
    ("xquad.th.json", "th"), ("squad-dev.json", None),
])
def test_answer_language_from_file_name(name, lang):
    assert answer_language(f"/some/dir/{name}") == lang


def test_gxlt_grid_normalises_by_context_language(tmp_path):
    gold_dir, pred_dir = tmp_path / "gold", tmp_path / "pred"
    gold_dir.mkdir()
    pred_dir.mkdir()
    # every file: one question whose gold answer carries a German article
    for c in ("de", "en"):
        for q in ("de", "en"):
            write_json(gold_dir / f"test-context-{c}-question-{q}.json", squad_json({f"{c}{q}": ["der Rhein"]}))
    (gold_dir / "notes.txt").write_text("not an MLQA file")
    write_json(pred_dir / "test-context-de-question-de.json", {"dede": "Rhein"})   # de: article dropped, EM 1
    write_json(pred_dir / "test-context-de-question-en.json", {"deen": "Rhein"})   # context de although question en
    write_json(pred_dir / "test-context-en-question-en.json", {"enen": "Rhein"})   # en keeps "der": F1 2/3
    r = evaluate_directory(str(gold_dir), str(pred_dir))
    assert r["split"] == "test"
    assert r["grid"]["de"]["en"]["exact_match"] == 100.0
    assert r["grid"]["en"]["en"]["f1"] == pytest.approx(200 / 3)
    assert "de" not in r["grid"]["en"]
    assert r["missing_prediction_files"] == ["test-context-en-question-de.json"]
    assert r["xlt"] == {"exact_match": 50.0, "f1": pytest.approx((100 + 200 / 3) / 2), "cells": 2}
    assert r["grid_average"]["cells"] == 3
    assert r["grid_average"]["exact_match"] == pytest.approx(200 / 3)


def test_gxlt_directory_errors(tmp_path):
    gold_dir, pred_dir = tmp_path / "gold", tmp_path / "pred"
    gold_dir.mkdir()
    pred_dir.mkdir()
    with pytest.raises(EvalInputError, match="no file named"):
        evaluate_directory(str(gold_dir), str(pred_dir))
    write_json(gold_dir / "test-context-en-question-en.json", squad_json({"q": ["x"]}))
    with pytest.raises(EvalInputError, match="no prediction file"):
        evaluate_directory(str(gold_dir), str(pred_dir))
    with pytest.raises(EvalInputError, match="not a directory"):
        evaluate_directory(str(gold_dir), str(tmp_path / "absent"))
    write_json(gold_dir / "dev-context-en-question-en.json", squad_json({"q": ["x"]}))
    with pytest.raises(EvalInputError, match="both dev and test"):
        evaluate_directory(str(gold_dir), str(pred_dir))
