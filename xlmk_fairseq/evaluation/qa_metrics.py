"""Exact match and F1 for extractive QA (SQuAD v1.1 definitions, MLQA normalisation), one file
or an MLQA directory scored as a context-language x question-language grid."""

import os
import re
from collections import Counter

from tqdm import tqdm

from .eval_inputs import EvalInputError, read_json
from .qa_normalization import answer_tokens

MLQA_FILE = re.compile(r"^(dev|test)-context-([a-z]+)-question-([a-z]+)\.json$")
XQUAD_FILE = re.compile(r"^xquad\.([a-z]+)\.json$")


def token_f1(predicted: list[str], gold: list[str]) -> float:
    """F1 over token multisets; 0 when nothing is shared (also when both are empty, as in SQuAD v1.1)."""
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def score_answer(prediction: str, gold_answers: list[str], lang: str) -> tuple[float, float]:
    """(exact match, F1) of one prediction, each the best over the gold answers, in [0, 1]."""
    predicted = answer_tokens(prediction, lang)
    golds = [answer_tokens(g, lang) for g in gold_answers]
    return max(float(predicted == g) for g in golds), max(token_f1(predicted, g) for g in golds)


def read_squad_gold(path: str) -> list[tuple[str, list[str]]]:
    """(question id, gold answer texts) for every question of a SQuAD v1.1 JSON file."""
    try:
        questions = [(qa["id"], [a["text"] for a in qa["answers"]])
                     for article in read_json(path)["data"]
                     for paragraph in article["paragraphs"]
                     for qa in paragraph["qas"]]
    except (KeyError, TypeError) as e:
        raise EvalInputError(f"{path}: not SQuAD v1.1 JSON (data/paragraphs/qas/answers; missing {e})") from None
    for qid, answers in questions:
        if not answers:
            raise EvalInputError(f"{path}: question {qid} has no gold answer (SQuAD v2 unanswerable "
                                 "questions are not supported)")
        if not all(isinstance(a, str) for a in answers):
            raise EvalInputError(f"{path}: question {qid} has an answer text that is not a string")
    if not questions:
        raise EvalInputError(f"{path}: holds no question")
    return questions


def read_predictions(path: str) -> dict[str, str]:
    predictions = read_json(path)
    if not isinstance(predictions, dict):
        raise EvalInputError(f"{path}: expected a JSON object mapping question id to answer string")
    for qid, answer in predictions.items():
        if not isinstance(answer, str):
            raise EvalInputError(f"{path}: the prediction for {qid} is not a string")
    return predictions


def evaluate_file(gold_path: str, pred_path: str, lang: str) -> dict:
    """EM and F1 (percentages) over every gold question; a missing prediction scores 0."""
    gold = read_squad_gold(gold_path)
    predictions = read_predictions(pred_path)
    exact = f1 = 0.0
    for qid, answers in gold:
        if qid in predictions:
            em_q, f1_q = score_answer(predictions[qid], answers, lang)
            exact, f1 = exact + em_q, f1 + f1_q
    gold_ids = {qid for qid, _ in gold}
    return {"gold": gold_path, "predictions": pred_path, "lang": lang,
            "exact_match": 100 * exact / len(gold), "f1": 100 * f1 / len(gold), "questions": len(gold),
            "missing_predictions": sum(qid not in predictions for qid, _ in gold),
            "unknown_predictions": sum(qid not in gold_ids for qid in predictions)}


def answer_language(path: str) -> str | None:
    """The answer (context) language named by an MLQA or XQuAD file name, else None."""
    name = os.path.basename(path)
    mlqa, xquad = MLQA_FILE.match(name), XQUAD_FILE.match(name)
    return mlqa.group(2) if mlqa else xquad.group(1) if xquad else None


def _mean(cells: list[dict]) -> dict | None:
    if not cells:
        return None
    return {"exact_match": sum(c["exact_match"] for c in cells) / len(cells),
            "f1": sum(c["f1"] for c in cells) / len(cells), "cells": len(cells)}


def evaluate_directory(gold_dir: str, pred_dir: str) -> dict:
    """Score each <split>-context-<c>-question-<q>.json of gold_dir against the file of the same
    name in pred_dir, normalising answers by the context language c.

    Pairs without a prediction file are listed, not scored. ``xlt`` averages the diagonal (c == q),
    ``grid_average`` every scored cell.
    """
    if not os.path.isdir(pred_dir):
        raise EvalInputError(f"{pred_dir}: not a directory (a gold directory needs a predictions directory)")
    matches = [m for m in map(MLQA_FILE.match, sorted(os.listdir(gold_dir))) if m]
    if not matches:
        raise EvalInputError(f"{gold_dir}: no file named dev-|test-context-<c>-question-<q>.json")
    splits = {m.group(1) for m in matches}
    if len(splits) > 1:
        raise EvalInputError(f"{gold_dir}: holds both dev and test files; point --gold at a directory with one split")
    grid, missing = {}, []
    for m in tqdm(matches, desc="MLQA files", disable=None):
        name, context, question = m.group(0), m.group(2), m.group(3)
        pred_path = os.path.join(pred_dir, name)
        if not os.path.exists(pred_path):
            missing.append(name)
            continue
        grid.setdefault(context, {})[question] = evaluate_file(os.path.join(gold_dir, name), pred_path, context)
    if not grid:
        raise EvalInputError(f"{pred_dir}: no prediction file named like the gold files (e.g. {matches[0].group(0)})")
    cells = [cell for row in grid.values() for cell in row.values()]
    diagonal = [row[c] for c, row in grid.items() if c in row]
    return {"split": splits.pop(), "grid": grid, "xlt": _mean(diagonal), "grid_average": _mean(cells),
            "missing_prediction_files": missing}
