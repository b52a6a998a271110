"""Entity-level precision, recall and F1 over exact-match chunks, as conlleval defines them
(CoNLL-2000/2003 shared tasks), from CoNLL-style column files.

Chunk boundaries follow conlleval's rules for B/I/O tags, so IOB1 and IOB2 decode alike (an I-X
after O or after another type opens a chunk); E- and S- (IOBES) always close a chunk and B- and
S- always open one. A sentence boundary closes any open chunk.
"""

from collections import Counter

from .eval_inputs import EvalInputError, read_lines

SCHEME_PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "iobes": ("B", "I", "E", "S"),
                   "auto": ("B", "I", "E", "S")}
OUTSIDE = ("O", "")


def parse_tag(text: str, prefixes: tuple, where: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if text == "O":
        return OUTSIDE
    prefix, dash, kind = text.partition("-")
    if not dash or not kind or prefix not in prefixes:
        raise EvalInputError(f"{where}: tag {text!r} is not O or {'|'.join(prefixes)}-TYPE")
    return prefix, kind


def ends_chunk(previous: tuple, tag: tuple) -> bool:
    """Whether a chunk whose last token carries ``previous`` ends before a token tagged ``tag``."""
    (p, p_type), (t, t_type) = previous, tag
    if p == "O":
        return False
    return p in ("E", "S") or t in ("B", "S", "O") or p_type != t_type


def starts_chunk(previous: tuple, tag: tuple) -> bool:
    (p, p_type), (t, t_type) = previous, tag
    if t == "O":
        return False
    return t in ("B", "S") or p in ("O", "E", "S") or p_type != t_type


def chunks(tags: list[tuple]) -> list[tuple[str, int, int]]:
    """(type, first token, last token) of every chunk of one sentence."""
    found, start, previous = [], None, OUTSIDE
    for i, tag in enumerate([*tags, OUTSIDE]):
        if start is not None and ends_chunk(previous, tag):
            found.append((previous[1], start, i - 1))
            start = None
        if starts_chunk(previous, tag):
            start = i
        previous = tag
    return found


def read_conll(path: str) -> list[list[tuple[int, list[str]]]]:
    """Sentences of (line number, columns). Columns are tab-separated when the line has a tab,
    else whitespace-separated; blank lines and -DOCSTART- lines separate sentences."""
    sentences, current = [], []
    for number, line in enumerate(read_lines(path), start=1):
        fields = [f.strip(" ") for f in line.strip(" \t").split("\t")] if "\t" in line else line.split()
        if not fields or not fields[0] or fields[0] == "-DOCSTART-":
            if current:
                sentences.append(current)
                current = []
            continue
        current.append((number, fields))
    if current:
        sentences.append(current)
    if not sentences:
        raise EvalInputError(f"{path}: holds no token")
    return sentences


def _need_columns(path: str, sentences, count: int, layout: str):
    for sentence in sentences:
        for number, fields in sentence:
            if len(fields) < count:
                raise EvalInputError(f"{path}:{number}: {len(fields)} column(s), expected {layout}")


def _paired_tags(gold_path: str, pred_path: str | None) -> list[list[tuple]]:
    """Per sentence, (gold tag, where, predicted tag, where) for each token."""
    gold = read_conll(gold_path)
    if pred_path is None:
        _need_columns(gold_path, gold, 3, "token ... gold-tag predicted-tag")
        return [[(f[-2], f"{gold_path}:{n}", f[-1], f"{gold_path}:{n}") for n, f in s] for s in gold]
    pred = read_conll(pred_path)
    _need_columns(gold_path, gold, 2, "token ... tag")
    _need_columns(pred_path, pred, 2, "token ... tag")
    for g_sentence, p_sentence in zip(gold, pred):
        for (g_line, g_fields), (p_line, p_fields) in zip(g_sentence, p_sentence):
            if g_fields[0] != p_fields[0]:
                raise EvalInputError(f"{pred_path}:{p_line}: token {p_fields[0]!r} differs from "
                                     f"{gold_path}:{g_line} token {g_fields[0]!r}")
        if len(g_sentence) != len(p_sentence):
            raise EvalInputError(f"the sentence at {gold_path}:{g_sentence[0][0]} has {len(g_sentence)} tokens, "
                                 f"the one at {pred_path}:{p_sentence[0][0]} has {len(p_sentence)}")
    if len(gold) != len(pred):
        raise EvalInputError(f"{gold_path} has {len(gold)} sentences, {pred_path} has {len(pred)}")
    return [[(gf[-1], f"{gold_path}:{gn}", pf[-1], f"{pred_path}:{pn}") for (gn, gf), (pn, pf) in zip(gs, ps)]
            for gs, ps in zip(gold, pred)]


def precision_recall_f1(correct: int, predicted: int, gold: int) -> dict:
    precision = 100 * correct / predicted if predicted else 0.0
    recall = 100 * correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "gold": gold, "predicted": predicted, "correct": correct}


def evaluate_ner(gold_path: str, pred_path: str | None = None, scheme: str = "auto") -> dict:
    """Overall and per-type P/R/F1 (percentages) over chunks matching in type, start and end.

    Without pred_path the gold file holds both tags as its last two columns (conlleval's input).
    """
    prefixes = SCHEME_PREFIXES[scheme]
    gold_chunks, pred_chunks = set(), set()
    tokens = correct_tags = 0
    used_prefixes = set()
    sentences = _paired_tags(gold_path, pred_path)
    for index, sentence in enumerate(sentences):
        gold_tags = [parse_tag(g, prefixes, where) for g, where, _, _ in sentence]
        pred_tags = [parse_tag(p, prefixes, where) for _, _, p, where in sentence]
        gold_chunks.update((index, *c) for c in chunks(gold_tags))
        pred_chunks.update((index, *c) for c in chunks(pred_tags))
        tokens += len(sentence)
        correct_tags += sum(g == p for g, p in zip(gold_tags, pred_tags))
        used_prefixes.update(t[0] for t in gold_tags + pred_tags)

    by_type = [Counter(c[1] for c in group) for group in (gold_chunks & pred_chunks, pred_chunks, gold_chunks)]
    types = sorted(by_type[1] | by_type[2])
    detected = "iobes" if used_prefixes & {"E", "S"} else "iob"
    return {"gold": gold_path, "predictions": pred_path or gold_path,
            "scheme": detected if scheme == "auto" else scheme,
            "sentences": len(sentences), "tokens": tokens, "accuracy": 100 * correct_tags / tokens,
            "overall": precision_recall_f1(len(gold_chunks & pred_chunks), len(pred_chunks), len(gold_chunks)),
            "types": {t: precision_recall_f1(*(counts[t] for counts in by_type)) for t in types}}
