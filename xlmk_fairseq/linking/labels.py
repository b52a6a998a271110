"""Entity labels per language for an index.

Every data directory has one label per entity (entities.tsv). Data written with labels
(docs/data-format.md, "Labels") also has ``labels/entities/<lang>.{bin,idx}``: item e is
entity e's label in <lang> as token ids, empty where it has none; these are decoded with
dict.txt (sentencepiece pieces joined, "▁" read as a space). ``xlmk-index --labels FILE``
adds labels from ``WORK/wikidata/sitelinks.sqlite`` of xlmk-preprocess (table ``labels``:
lang, qid, label) or from a TSV of QID, language, label; they win over the data's. Labels
are held in memory while the index is written.
"""

import csv
import os
import sqlite3

import numpy as np

from .errors import LinkingError
from .index_file import parse_qid


def data_labels(kdir):
    """{lang: {entity id: label}} from the data's labels/entities/<lang> (none: {})."""
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    symbols = None
    out = {}
    for lang in kdir.languages:
        prefix = kdir.path("labels", "entities", lang)
        if not (os.path.isfile(prefix + ".idx") and os.path.isfile(prefix + ".bin")):
            continue
        if os.path.getsize(prefix + ".bin") == 0:  # every item empty: no label in this language
            continue
        if symbols is None:
            symbols = _dictionary_symbols(kdir.path("dict.txt"))
        try:
            items = MMapIndexedDataset(prefix)
        except Exception as e:  # a truncated or foreign file
            raise LinkingError(f"{prefix}.{{bin,idx}}: not a fairseq indexed dataset ({e})") from None
        table = {}
        for entity in range(len(items)):
            ids = items[entity].tolist()
            if ids:
                text = "".join(symbols[i] if 0 <= i < len(symbols) else "<unk>" for i in ids)
                table[entity] = text.replace("\u2581", " ").strip()
        out[lang] = table
    return out


def _dictionary_symbols(path):
    """fairseq ids -> symbols: the 4 specials, then dict.txt's lines."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>"]
    with open(path, encoding="utf-8") as f:
        for line in f:
            symbol = line.rstrip("\n").rsplit(" ", 1)[0]
            symbols.append(symbol)
    return symbols


def read_labels(path, entity_qids):
    """{lang: {entity id: label}} for the entities whose numeric QIDs are ``entity_qids``."""
    if not os.path.isfile(path):
        raise LinkingError(f"--labels {path}: no such file")
    order = np.argsort(entity_qids, kind="stable")
    sorted_qids = np.asarray(entity_qids)[order]
    out = {}
    for qid, lang, label in _triples(path):
        if qid < 0 or not lang or not label:
            continue
        i = int(np.searchsorted(sorted_qids, qid))
        if i < len(sorted_qids) and sorted_qids[i] == qid:
            out.setdefault(lang, {})[int(order[i])] = label.replace("\t", " ").replace("\n", " ")
    return out


def _triples(path):
    with open(path, "rb") as f:
        is_sqlite = f.read(16) == b"SQLite format 3\x00"
    if is_sqlite:
        try:
            db = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
            try:
                for lang, qid, label in db.execute("SELECT lang, qid, label FROM labels"):
                    yield int(qid), lang, label
            finally:
                db.close()
        except sqlite3.Error as e:
            raise LinkingError(f"--labels {path}: {e} (expected the labels table of sitelinks.sqlite)") from None
        return
    with open(path, encoding="utf-8", newline="") as f:
        for n, fields in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not fields or (n == 1 and parse_qid(fields[0]) < 0):
                continue  # a header line
            if len(fields) != 3:
                raise LinkingError(f"--labels {path} line {n}: expected QID<TAB>language<TAB>label")
            yield parse_qid(fields[0]), fields[1].strip(), fields[2]
