"""NER: one CoNLL-style English training file; dev/test files of every language, predicted tag by
tag (the first sub-token of each word carries the word's tag) and scored by xlmk-eval's conlleval."""

import os
import re

from ..evaluation.eval_inputs import EvalInputError
from ..evaluation.ner_metrics import SCHEME_PREFIXES, evaluate_ner, parse_tag, read_conll
from .eval_sets import EvalSet, expand_paths, label_config, language_from_name

PANX_PREFIX = re.compile(r"^([a-z]{2,3}):(?=.)")
IGNORED = -100  # the loss ignores later sub-tokens, special tokens and padding


def read_sentences(path: str) -> list[list[tuple[str, str, str]]]:
    """Per sentence, (token as written, word given to the model, tag) for each line."""
    sentences = []
    for sentence in read_conll(path):
        words = []
        for number, fields in sentence:
            if len(fields) < 2:
                raise EvalInputError(f"{path}:{number}: {len(fields)} column(s), expected token ... tag")
            parse_tag(fields[-1], SCHEME_PREFIXES["auto"], f"{path}:{number}")
            words.append((fields[0], PANX_PREFIX.sub("", fields[0]), fields[-1]))
        sentences.append(words)
    return sentences


def file_language(path: str, sentences) -> str:
    """PAN-X's token prefix (en:Paris), else the file name (XGLUE's de.test, CoNLL's esp.testa)."""
    prefix = PANX_PREFIX.match(sentences[0][0][0])
    return prefix.group(1) if prefix else language_from_name(path)


class NerTask:
    name = "ner"
    model_class = "AutoModelForTokenClassification"
    metric = "f1"

    def __init__(self, args, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        train = read_sentences(args.train)
        self.labels = sorted({tag for sentence in train for _, _, tag in sentence})
        self.label_ids = {tag: i for i, tag in enumerate(self.labels)}
        self.model_kwargs = label_config(self.labels)
        self.train_features = self._features(train)[0]
        self.dev_sets = [self._eval_set(p, args.train) for p in expand_paths(args.dev, "dev")]
        self.test_sets = [self._eval_set(p, args.train) for p in expand_paths(args.test, "test")]

    def _features(self, sentences) -> tuple[list[dict], list[list[int]]]:
        """Model inputs with labels on first sub-tokens, and each sentence's first sub-token positions."""
        encoded = self.tokenizer([[w for _, w, _ in s] for s in sentences], is_split_into_words=True,
                                 truncation=True, max_length=self.max_length)
        features, first_positions = [], []
        for i, sentence in enumerate(sentences):
            tokens = first_subtokens(encoded.word_ids(i))
            labels = [self.label_ids.get(sentence[w][2], IGNORED) if first else IGNORED for w, first in tokens]
            features.append({"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i],
                             "labels": labels})
            first_positions.append([p for p, (_, first) in enumerate(tokens) if first])
        return features, first_positions

    def _eval_set(self, path: str, train_path: str) -> EvalSet:
        sentences = read_sentences(path)
        unknown = sorted({tag for s in sentences for _, _, tag in s} - set(self.labels))
        if unknown:
            raise EvalInputError(f"{path}: tag(s) {', '.join(unknown)} do not occur in the training file "
                                 f"{train_path} (its tags: {', '.join(self.labels)}); the label sets must match")
        features, first_positions = self._features(sentences)
        return EvalSet(path, os.path.basename(path), file_language(path, sentences), features,
                       (sentences, first_positions))

    def write_predictions(self, eval_set: EvalSet, output, path: str):
        """The gold tokens with the predicted tag, token<TAB>tag; words cut off by --max-seq-length get O."""
        sentences, first_positions = eval_set.extra
        tag_ids = output.predictions.argmax(-1)
        lines = []
        for i, (sentence, positions) in enumerate(zip(sentences, first_positions)):
            tags = [self.labels[tag_ids[i][p]] for p in positions] + ["O"] * (len(sentence) - len(positions))
            lines += [f"{token}\t{tag}" for (token, _, _), tag in zip(sentence, tags)] + [""]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    def score(self, eval_sets: list[EvalSet], pred_dir: str) -> tuple[dict, dict]:
        """(xlmk-eval results per file, {language: F1, precision, recall}); files of one language are averaged."""
        files = {s.name: evaluate_ner(s.path, os.path.join(pred_dir, s.name)) for s in eval_sets}
        by_language = {}
        for s in eval_sets:
            by_language.setdefault(s.lang, []).append(files[s.name]["overall"])
        languages = {lang: {m: sum(r[m] for r in rs) / len(rs) for m in ("f1", "precision", "recall")}
                     for lang, rs in by_language.items()}
        return {"files": files}, languages


def first_subtokens(word_ids: list) -> list[tuple]:
    """(word index or None, whether this token is the word's first) for each token."""
    previous, out = None, []
    for word in word_ids:
        out.append((word, word is not None and word != previous))
        previous = word
    return out
