"""Extractive QA: SQuAD v1.1 English training; MLQA / XQuAD dev and test files, every context window
predicted, post-processed to one answer per question, and scored by xlmk-eval (MLQA: the G-XLT grid)."""

import json
import os
import re

from ..evaluation.eval_inputs import EvalInputError, read_json
from ..evaluation.qa_metrics import MLQA_FILE, answer_language, evaluate_directory, evaluate_file
from .eval_sets import EvalSet, expand_paths, language_from_name
from .qa_postprocess import Window, best_answer

JSON_FILE = re.compile(r"^[^.].*\.json$")


def read_squad_examples(path: str) -> list[dict]:
    """{id, question, context, answers: [(text, first char)]} per question of a SQuAD v1.1 layout file."""
    try:
        examples = [{"id": qa["id"], "question": qa["question"], "context": paragraph["context"],
                     "answers": [(a["text"], a["answer_start"]) for a in qa["answers"]]}
                    for article in read_json(path)["data"]
                    for paragraph in article["paragraphs"]
                    for qa in paragraph["qas"]]
    except (KeyError, TypeError) as e:
        raise EvalInputError(f"{path}: not SQuAD v1.1 JSON (data/paragraphs/context/qas/question/answers; "
                             f"missing {e})") from None
    if not examples:
        raise EvalInputError(f"{path}: holds no question")
    return examples


def answer_span(example: dict, path: str) -> tuple[int, int]:
    """The first gold answer's character span, checked against the context."""
    if not example["answers"]:
        raise EvalInputError(f"{path}: question {example['id']} has no answer (SQuAD v2 is not supported)")
    text, start = example["answers"][0]
    if not isinstance(start, int) or example["context"][start:start + len(text)] != text:
        raise EvalInputError(f"{path}: question {example['id']}: answer_start {start} does not point at "
                             f"its answer {text!r} in the context")
    return start, start + len(text)


class QaTask:
    name = "qa"
    model_class = "AutoModelForQuestionAnswering"
    metric = "f1"
    model_kwargs = {}

    def __init__(self, args, tokenizer, max_length: int):
        self.tokenizer, self.max_length, self.args = tokenizer, max_length, args
        if args.doc_stride >= max_length - args.max_query_length - 3:
            raise EvalInputError(f"--doc-stride {args.doc_stride} leaves no new context per window at "
                                 f"--max-seq-length {max_length} and --max-query-length {args.max_query_length}")
        train = read_squad_examples(args.train)
        spans = [answer_span(e, args.train) for e in train]
        self.train_features = self._windows(train, spans)[0]
        dev = [p for p in expand_paths(args.dev, "dev", JSON_FILE) if not off_diagonal(p)]
        self.dev_sets = [self._eval_set(p) for p in dev]
        self.test_sets = [self._eval_set(p) for p in expand_paths(args.test, "test", JSON_FILE)]

    def _question(self, question: str) -> str:
        """The question cut to --max-query-length tokens (at a token's end, in the original text)."""
        offsets = self.tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return question[:offsets[self.args.max_query_length - 1][1]] if len(offsets) > self.args.max_query_length \
            else question

    def _windows(self, examples: list[dict], spans=None) -> tuple[list[dict], list[tuple[int, list]]]:
        """Model inputs, one per context window, with answer token positions when ``spans`` are given
        (position 0, <s>, when the answer is not wholly inside the window); and per window
        (example index, offsets with None outside the context)."""
        encoded = self.tokenizer([self._question(e["question"]) for e in examples], [e["context"] for e in examples],
                                 truncation="only_second", max_length=self.max_length, stride=self.args.doc_stride,
                                 return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
        features, windows = [], []
        for i, example_index in enumerate(encoded["overflow_to_sample_mapping"]):
            sequence = encoded.sequence_ids(i)
            offsets = [tuple(o) if sequence[t] == 1 else None for t, o in enumerate(encoded["offset_mapping"][i])]
            feature = {"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i]}
            if spans is not None:
                feature["start_positions"], feature["end_positions"] = token_span(offsets, *spans[example_index])
            features.append(feature)
            windows.append((example_index, offsets))
        return features, windows

    def _eval_set(self, path: str) -> EvalSet:
        examples = read_squad_examples(path)
        features, windows = self._windows(examples)
        lang = answer_language(path) or language_from_name(path)
        return EvalSet(path, os.path.basename(path), None if off_diagonal(path) else lang, features,
                       (examples, windows))

    def write_predictions(self, eval_set: EvalSet, output, path: str):
        """{question id: answer} JSON, the layout xlmk-eval mlqa reads."""
        examples, windows = eval_set.extra
        start_logits, end_logits = output.predictions[:2]
        per_example = [[] for _ in examples]
        for i, (example_index, offsets) in enumerate(windows):
            per_example[example_index].append(Window(start_logits[i], end_logits[i], offsets))
        answers = {e["id"]: best_answer(e["context"], w, self.args.n_best, self.args.max_answer_length)
                   for e, w in zip(examples, per_example)}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(answers, f, ensure_ascii=False, indent=1)

    def score(self, eval_sets: list[EvalSet], pred_dir: str) -> tuple[dict, dict]:
        """(xlmk-eval results, {language: {f1, exact_match}}): the files of one MLQA directory as the
        G-XLT grid (languages from its diagonal), every other file alone."""
        results, languages = {"files": {}}, {}
        mlqa_dirs = {os.path.dirname(s.path) for s in eval_sets if MLQA_FILE.match(s.name)}
        if len(mlqa_dirs) == 1:
            results["grid"] = evaluate_directory(mlqa_dirs.pop(), pred_dir)
            for c, row in results["grid"]["grid"].items():
                if c in row:
                    languages[c] = {m: row[c][m] for m in ("f1", "exact_match")}
            eval_sets = [s for s in eval_sets if not MLQA_FILE.match(s.name)]
        for s in eval_sets:
            r = evaluate_file(s.path, os.path.join(pred_dir, s.name), answer_language(s.path) or s.lang)
            results["files"][s.name] = r
            if s.lang:
                languages[s.lang] = {m: r[m] for m in ("f1", "exact_match")}
        return results, languages


def off_diagonal(path: str) -> bool:
    """An MLQA file whose question language differs from its context language (G-XLT only)."""
    match = MLQA_FILE.match(os.path.basename(path))
    return bool(match) and match.group(2) != match.group(3)


def token_span(offsets: list, start: int, end: int) -> tuple[int, int]:
    """Token positions of the first and last token covering characters [start, end) in this window, or (0, 0)."""
    context = [t for t, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > start or offsets[context[-1]][1] < end:
        return 0, 0
    first = max(t for t in context if offsets[t][0] <= start)
    last = min(t for t in context if offsets[t][1] >= end)
    return first, last
