"""XNLI: English MultiNLI pairs for training; the XNLI dev/test TSVs, predicted and scored by xlmk-eval."""

import os

from ..evaluation.classification_metrics import LABELS, evaluate_xnli, normalize_label, read_jsonl, read_tsv
from ..evaluation.eval_inputs import EvalInputError
from .eval_sets import EvalSet, expand_paths, label_config

# (premise, hypothesis, label) columns: MultiNLI and XNLI; XNLI-MT's multinli.train.en.tsv
PAIR_COLUMNS = (("sentence1", "sentence2", "gold_label"), ("premise", "hypo", "label"))


def read_pairs(path: str) -> list[tuple[str, str, int, dict]]:
    """(premise, hypothesis, label index, row) per row; MultiNLI's '-' rows (no annotator majority) are skipped."""
    rows = read_jsonl(path) if path.endswith(".jsonl") else read_tsv(path)
    columns = next((c for c in PAIR_COLUMNS if rows and all(k in rows[0][1] for k in c)), None)
    if columns is None:
        raise EvalInputError(f"{path}: not an NLI file: expected a header and rows with the columns sentence1, "
                             "sentence2, gold_label (MultiNLI, XNLI) or premise, hypo, label (XNLI-MT), as TSV or JSONL")
    premise, hypothesis, label = columns
    pairs = []
    for number, row in rows:
        if row[label].strip() == "-":
            continue
        index = LABELS.index(normalize_label(row[label], f"{path}:{number}"))
        pairs.append((row[premise], row[hypothesis], index, row))
    return pairs


class XnliTask:
    name = "xnli"
    model_class = "AutoModelForSequenceClassification"
    metric = "accuracy"

    def __init__(self, args, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.model_kwargs = label_config(LABELS)
        self.train_features = self._features(read_pairs(args.train), with_labels=True)
        self.dev_sets = [self._eval_set(p) for p in expand_paths(args.dev, "dev")]
        self.test_sets = [self._eval_set(p) for p in expand_paths(args.test, "test")]

    def _features(self, pairs, with_labels: bool) -> list[dict]:
        encoded = self.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True,
                                 max_length=self.max_length)
        features = [{"input_ids": ids, "attention_mask": mask}
                    for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
        if with_labels:
            for feature, pair in zip(features, pairs):
                feature["labels"] = pair[2]
        return features

    def _eval_set(self, path: str) -> EvalSet:
        pairs = read_pairs(path)
        if "language" not in pairs[0][3] or "pairID" not in pairs[0][3]:
            raise EvalInputError(f"{path}: an XNLI dev/test file needs the columns language and pairID")
        return EvalSet(path, os.path.basename(path), None, self._features(pairs, with_labels=False),
                       [(p[3]["language"], p[3]["pairID"]) for p in pairs])

    def write_predictions(self, eval_set: EvalSet, output, path: str):
        """TSV keyed by language and pairID, the layout xlmk-eval xnli reads."""
        labels = output.predictions.argmax(-1)
        lines = ["language\tpairID\tlabel"]
        lines += [f"{lang}\t{pair_id}\t{LABELS[i]}" for (lang, pair_id), i in zip(eval_set.extra, labels)]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def score(self, eval_sets: list[EvalSet], pred_dir: str) -> tuple[dict, dict]:
        """(xlmk-eval results per file, {language: accuracy})."""
        files = {s.name: evaluate_xnli(s.path, os.path.join(pred_dir, s.name)) for s in eval_sets}
        languages = {}
        for result in files.values():
            for lang, r in result["languages"].items():
                languages.setdefault(lang, {"accuracy": r["accuracy"]})
        return {"files": files}, languages
