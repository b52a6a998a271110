"""Mentions in, MEP queries out, built exactly as training builds them.

A mention is a text with a character span (``start``..``end``, end exclusive), written as
``... [[Berlin]] ...`` on the command line or as a JSONL record. Its query is what
``MaskedEntityDataset`` (data/masked_entity_dataset.py) feeds the MEP query head: the
sentence's tokens with every token of the mention replaced by <mask> (or, with
``mention="keep"``, left as they are), cut to a window of ``max_tokens - 2`` tokens around the
mention (centred when it fits; a mention longer than the window keeps its first tokens),
between <s> and </s>; the vector is read at the mention's first token.
"""

import json
import os
from dataclasses import dataclass
from typing import Optional

from .errors import LinkingError

OPEN, CLOSE = "[[", "]]"
MENTION_MODES = ("mask", "keep")


@dataclass
class Mention:
    text: str
    start: int
    end: int
    qid: Optional[str] = None   # the gold entity, when known
    lang: Optional[str] = None
    id: Optional[str] = None

    @property
    def surface(self):
        return self.text[self.start:self.end]


def parse_marked(text, where="the text"):
    """'... [[Berlin]] ...' -> Mention('... Berlin ...', start, end). Exactly one marked
    mention, not empty, or LinkingError."""
    opens, closes = text.count(OPEN), text.count(CLOSE)
    if opens == 0 and closes == 0:
        raise LinkingError(f"{where}: no mention marked; write it as [[mention]]")
    if opens != 1 or closes != 1:
        raise LinkingError(f"{where}: mark exactly one mention with [[...]] ({opens} '[[' and {closes} ']]' found)")
    a = text.index(OPEN)
    b = text.index(CLOSE)
    if b < a:
        raise LinkingError(f"{where}: ']]' comes before '[['")
    surface = text[a + len(OPEN):b]
    if not surface.strip():
        raise LinkingError(f"{where}: the marked mention is empty")
    plain = text[:a] + surface + text[b + len(CLOSE):]
    return Mention(plain, a, a + len(surface))


def read_jsonl(path):
    """Mentions of a JSONL file ('-': stdin): {"text": ..., "start": i, "end": j} (character
    offsets, end exclusive) or a text with one [[mention]]; optional "qid", "lang", "id"."""
    import sys

    if path != "-" and not os.path.isfile(path):
        raise LinkingError(f"{path}: no such file")
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    mentions = []
    try:
        for n, line in enumerate(f, 1):
            if line.strip():
                mentions.append(mention_of_record(line, f"{path} line {n}"))
    except UnicodeDecodeError as e:
        raise LinkingError(f"{path}: not UTF-8 text ({e.reason})") from None
    finally:
        if f is not sys.stdin:
            f.close()
    return mentions


def mention_of_record(line, where):
    try:
        record = json.loads(line)
    except ValueError as e:
        raise LinkingError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise LinkingError(f'{where}: expected an object with a "text" string')
    extra = {key: (str(record[key]) if record.get(key) is not None else None) for key in ("qid", "lang", "id")}
    has_span = "start" in record or "end" in record
    if not has_span:
        return Mention(**{**vars(parse_marked(record["text"], where)), **extra})
    start, end, text = record.get("start"), record.get("end"), record["text"]
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
        raise LinkingError(f'{where}: "start" and "end" must both be character offsets (integers)')
    if not 0 <= start < end <= len(text):
        raise LinkingError(f"{where}: span [{start}, {end}) is not inside the text of {len(text)} characters")
    if not text[start:end].strip():
        raise LinkingError(f"{where}: the mention [{start}, {end}) is blank")
    return Mention(text, start, end, **extra)


def build_query(ids, span, model, max_tokens, mention="mask"):
    """(tokens, position): MaskedEntityDataset.__getitem__'s query for token ids ``ids`` and
    the mention's token span ``span``."""
    start, end = span
    masked = list(ids)
    if mention == "mask":
        masked[start:end] = [model.mask] * (end - start)
    body = max_tokens - 2
    if len(masked) > body:  # keep a window around the mention, centred when it fits
        left = max(0, min(start - (body - (end - start)) // 2, len(masked) - body))
        left = min(left, start)  # a mention longer than the window: its first tokens
        masked, start = masked[left:left + body], start - left
    return [model.bos] + masked + [model.eos], start + 1
