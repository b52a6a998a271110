"""XNLI accuracy, overall and per language, from the official XNLI TSV and a predictions file.

Predictions are joined to gold rows by key, never by position, so that a dropped or reordered
line is reported instead of silently shifting every later label.
"""

import json

from .eval_inputs import EvalInputError, read_lines

LABELS = ("entailment", "neutral", "contradiction")
LABEL_ALIASES = {"contradictory": "contradiction"}  # the spelling of XNLI's machine-translated train set
# the ways a prediction names its gold row, tried in this order
KEY_COLUMNS = (("language", "pairID"), ("pairID",), ("index",))


def read_tsv(path: str) -> list[tuple[int, dict]]:
    """(line number, {column: value}) for each non-blank row below the header line."""
    lines = read_lines(path)
    header = lines[0].split("\t")
    if header == [""]:
        raise EvalInputError(f"{path}: empty file, expected a header line of tab-separated column names")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise EvalInputError(f"{path}:{number}: {len(fields)} tab-separated fields, the header has {len(header)}")
        rows.append((number, dict(zip(header, fields))))
    return rows


def read_jsonl(path: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalInputError(f"{path}:{number}: malformed JSON line ({e.msg})") from None
        if not isinstance(record, dict):
            raise EvalInputError(f"{path}:{number}: expected a JSON object")
        rows.append((number, {key: str(value) for key, value in record.items()}))
    return rows


def normalize_label(label: str, where: str) -> str:
    label = label.strip().lower()
    label = LABEL_ALIASES.get(label, label)
    if label not in LABELS:
        raise EvalInputError(f"{where}: label {label!r} is not one of {', '.join(LABELS)}")
    return label


def _require(row: dict, columns, where: str):
    absent = [c for c in columns if c not in row]
    if absent:
        raise EvalInputError(f"{where}: no column {', '.join(absent)}")


def _prediction_key(columns: tuple, row: dict, where: str) -> tuple:
    if columns != ("index",):
        return tuple(row[c] for c in columns)
    try:
        return (int(row["index"]),)
    except ValueError:
        raise EvalInputError(f"{where}: index {row['index']!r} is not an integer") from None


def _gold_key(columns: tuple, row: dict, position: int) -> tuple:
    """position is the row's 0-based place among the data rows (the header is not counted)."""
    return (position,) if columns == ("index",) else tuple(row[c] for c in columns)


def evaluate_xnli(gold_path: str, pred_path: str) -> dict:
    """Accuracy in percent; a gold row without a prediction counts as wrong."""
    gold_rows = read_tsv(gold_path)
    if not gold_rows:
        raise EvalInputError(f"{gold_path}: holds no example")
    _require(gold_rows[0][1], ("language", "gold_label"), gold_path)
    pred_rows = read_jsonl(pred_path) if pred_path.endswith(".jsonl") else read_tsv(pred_path)
    if not pred_rows:
        raise EvalInputError(f"{pred_path}: holds no prediction")
    columns = next((k for k in KEY_COLUMNS if all(c in pred_rows[0][1] for c in k)), None)
    if columns is None:
        raise EvalInputError(f"{pred_path}: needs a column pairID (with or without language) or index, and label")
    if columns != ("index",):
        _require(gold_rows[0][1], columns, gold_path)

    predictions = {}
    for number, row in pred_rows:
        where = f"{pred_path}:{number}"
        _require(row, (*columns, "label"), where)
        key = _prediction_key(columns, row, where)
        if key in predictions:
            raise EvalInputError(f"{where}: a second prediction for {'/'.join(map(str, key))}")
        predictions[key] = normalize_label(row["label"], where)

    languages, gold_keys = {}, set()
    for position, (number, row) in enumerate(gold_rows):
        key = _gold_key(columns, row, position)
        if key in gold_keys:
            raise EvalInputError(f"{gold_path}:{number}: {'/'.join(map(str, key))} repeats; key predictions by "
                                 "language and pairID (pairIDs are shared across languages)")
        gold_keys.add(key)
        counts = languages.setdefault(row["language"], {"examples": 0, "correct": 0, "missing_predictions": 0})
        counts["examples"] += 1
        predicted = predictions.get(key)
        counts["missing_predictions"] += predicted is None
        counts["correct"] += predicted == normalize_label(row["gold_label"], f"{gold_path}:{number}")

    total = {name: sum(c[name] for c in languages.values()) for name in ("examples", "correct", "missing_predictions")}
    return {"gold": gold_path, "predictions": pred_path, "key": list(columns),
            "accuracy": 100 * total["correct"] / total["examples"], **total,
            "unknown_predictions": len(predictions.keys() - gold_keys),
            "languages": {lang: {"accuracy": 100 * c["correct"] / c["examples"], **c} for lang, c in languages.items()}}
