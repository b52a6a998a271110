"""What every task hands to training: the English training features and one EvalSet per dev/test file."""

import os
import re
from dataclasses import dataclass, field

from ..evaluation.eval_inputs import EvalInputError

# a language code as one dot/dash/underscore-separated part of a file name: de.dev, dev-de.tsv, xquad.de.json
NAME_PART = re.compile(r"[._-]")
NOT_LANGUAGES = {"dev", "test", "train", "tsv", "txt", "json", "jsonl", "conll", "iob", "bio", "valid"}


@dataclass
class EvalSet:
    """One gold file: the model inputs, and what turns model outputs back into a prediction file."""
    path: str
    name: str                 # the prediction file's name, the gold file's own so xlmk-eval pairs them
    lang: str | None          # None: the languages are inside the file (XNLI)
    features: list = field(default_factory=list)
    extra: object = None      # task-specific: examples, offsets, word positions


def language_from_name(path: str) -> str:
    """de.dev -> de, dev-de.tsv -> de; a name without a language part is its own language key."""
    parts = [p for p in NAME_PART.split(os.path.basename(path).lower()) if p]
    codes = [p for p in parts if p.isalpha() and 2 <= len(p) <= 3 and p not in NOT_LANGUAGES]
    return codes[0] if codes else os.path.basename(path)


def expand_paths(values: list[str], what: str, pattern: re.Pattern | None = None) -> list[str]:
    """Files named on the command line, a directory meaning its files (those matching ``pattern``)."""
    paths = []
    for value in values:
        if os.path.isdir(value):
            names = sorted(n for n in os.listdir(value) if (pattern.match(n) if pattern else not n.startswith(".")))
            if not names:
                raise EvalInputError(f"{value}: no {what} file in this directory")
            paths += [os.path.join(value, n) for n in names]
        elif os.path.isfile(value):
            paths.append(value)
        else:
            raise EvalInputError(f"{value}: no such file or directory")
    names = [os.path.basename(p) for p in paths]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise EvalInputError(f"two {what} files named {repeated[0]}: predictions are written under the gold file's name")
    return paths


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def label_config(labels) -> dict:
    """The model config's label fields, so a saved model names its classes."""
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}}
