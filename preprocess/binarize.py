"""WORK (wikidata/, wikipedia/<lang>/, spm/) -> the knowledge data directory.

Entities are the kept Wikidata items that have a description: a page with text in one of
the languages; entity ids are dense, in QID order. A page gives its language's MLM text
(one item per paragraph line, a document break after it), its entity's description (the
first 254 tokens; the task adds <s> and </s>) and its sentences that hold at least one
mention of an entity with a description. Train/valid membership is a hash of the page
(language, page id) or of the triple, so it does not depend on the order or the number of
workers. Every mention or triple that is left out is counted in manifest.json by reason.

Link prediction names entities and relations by their labels: per language of the data,
labels/entities/<lang> holds one item per entity id (its label in the labels table of
WORK/wikidata/sitelinks.sqlite) and labels/relations/<lang> one per relation id (from the
property_labels table), tokenised and cut to LABEL_TOKENS; an entity or relation without a
label in the language gets an empty item, so that item number = id.
"""

import collections
import hashlib
import itertools
import json
import os
import platform
import re
import shutil
import sqlite3
from multiprocessing import Pool

import numpy as np
import orjson
from tqdm import tqdm

from .dump_io import DumpError
from .knowledge_dir_writer import KnowledgeDirWriter
from .sorted_ids import contains
from .tokenizer import DICT_FILE, SPM_FILE, Tokenizer

DESCRIPTION_TOKENS = 254  # 256 with <s> and </s>
LABEL_TOKENS = 32  # a label's tokens at most (names are short: the rare longer one is cut)
LABEL_CHUNK = 4096  # labels per task of the worker processes
SENTENCE_END = re.compile(r"(?<=[.!?؟;])\s+|(?<=[。！？।॥])\s*")
CHUNK_PAGES = 256


def is_valid(key: bytes, valid_fraction):
    """Deterministic train/valid assignment from a hash of ``key``."""
    h = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return h / 2 ** 64 < valid_fraction


def split_sentences(line):
    """(start, end) character offsets of the sentences of one paragraph line."""
    spans, start = [], 0
    for m in SENTENCE_END.finditer(line):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(line):
        spans.append((start, len(line)))
    return spans


_tokenizer = None
_described = None


def _init_worker(spm_path, described):
    global _tokenizer, _described
    _tokenizer, _described = Tokenizer(spm_path), described


def _process_chunk(args):
    lines, lang, valid_fraction = args
    out = []
    for line in lines:
        page = orjson.loads(line)
        counts = collections.Counter()
        split = "valid" if is_valid(f"{lang}\t{page['id']}".encode(), valid_fraction) else "train"
        text = page["text"]
        paragraphs, offset = [], 0
        for raw in text.split("\n"):
            if raw.strip():
                paragraphs.append((offset, raw))
            offset += len(raw) + 1
        mlm = [_tokenizer.ids(p) for _, p in paragraphs]
        description = None
        if page.get("qid") is not None and _is_described(page["qid"]):
            description = _tokenizer.ids(" ".join(p for _, p in paragraphs))[:DESCRIPTION_TOKENS]
        sentences = []
        links = sorted(page["links"])
        for p_start, paragraph in paragraphs:
            for s_start, s_end in split_sentences(paragraph):
                a, b = p_start + s_start, p_start + s_end
                inside = [l for l in links if a <= l[0] and l[1] <= b]
                counts["mentions_crossing_sentences"] += sum(1 for l in links if l[0] < b < l[1])
                kept = [l for l in inside if _is_described(l[2])]
                counts["mentions_entity_without_description"] += len(inside) - len(kept)
                if not kept:
                    continue
                ids, spans = _tokenizer.ids_and_spans(text[a:b], [(l[0] - a, l[1] - a) for l in kept])
                mentions = [(s[0], s[1], l[2]) for s, l in zip(spans, kept) if s is not None]
                counts["mentions_without_tokens"] += len(kept) - len(mentions)
                if mentions:
                    sentences.append((ids, mentions))
        out.append((split, page.get("qid"), mlm, description, sentences, counts))
    return out


def _is_described(qid):
    i = np.searchsorted(_described, qid)
    return i < len(_described) and _described[i] == qid


def _page_lines(path, lang, valid_fraction):
    chunk = []
    with open(path, "rb") as f:
        for line in f:
            chunk.append(line)
            if len(chunk) >= CHUNK_PAGES:
                yield chunk, lang, valid_fraction
                chunk = []
    if chunk:
        yield chunk, lang, valid_fraction


def run(work, out, languages=None, workers=1, valid_fraction=0.01, max_relations=None):
    if not 0 <= valid_fraction < 1:
        raise DumpError(f"--valid-fraction {valid_fraction}: expected 0 <= fraction < 1")
    if max_relations is not None and max_relations < 1:
        raise DumpError(f"--max-relations {max_relations}: expected at least 1")
    wikidata_dir, spm_dir = os.path.join(work, "wikidata"), os.path.join(work, "spm")
    for path in (os.path.join(wikidata_dir, "stats.json"), os.path.join(wikidata_dir, "sitelinks.sqlite"),
                 os.path.join(spm_dir, SPM_FILE), os.path.join(spm_dir, DICT_FILE)):
        if not os.path.exists(path):
            raise DumpError(f"{path} is missing: run the wikidata, wikipedia and spm steps first")
    _check_label_tables(os.path.join(wikidata_dir, "sitelinks.sqlite"))
    languages = languages or sorted(os.listdir(os.path.join(work, "wikipedia")))
    page_files = {lang: os.path.join(work, "wikipedia", lang, "pages.jsonl") for lang in languages}
    for lang in languages:
        if not os.path.exists(os.path.join(work, "wikipedia", lang, "stats.json")):
            raise DumpError(f"no finished wikipedia step for {lang!r} in {work}/wikipedia")

    writer = KnowledgeDirWriter(out, languages, _dict_symbols(spm_dir), overwrite=True,
                                inputs=[wikidata_dir, spm_dir, *(os.path.dirname(p) for p in page_files.values())])
    with writer.partial:
        return _write(writer, work, languages, page_files, workers, valid_fraction, max_relations)


def _dict_symbols(spm_dir):
    symbols = []
    with open(os.path.join(spm_dir, DICT_FILE), encoding="utf-8") as f:
        for line in f:
            symbol, _, count = line.rstrip("\n").rpartition(" ")
            symbols.append((symbol, count or 1))
    return symbols


def _write(writer, work, languages, page_files, workers, valid_fraction, max_relations):
    wikidata_dir, spm_dir = os.path.join(work, "wikidata"), os.path.join(work, "spm")
    entity_qids = _described_qids(page_files)  # sorted: entity id = position
    labels = _labels(os.path.join(wikidata_dir, "items.tsv"), entity_qids)
    triples, relations, triple_skips = _triples(wikidata_dir, entity_qids, max_relations, valid_fraction)

    shutil.copy(os.path.join(spm_dir, SPM_FILE), os.path.join(writer.tmp, SPM_FILE))
    skipped = collections.Counter(triple_skips)
    per_language = {}
    pool_args = (os.path.join(spm_dir, SPM_FILE), entity_qids)
    pool = Pool(workers, _init_worker, pool_args) if workers > 1 else None
    if pool is None:
        _init_worker(*pool_args)
    try:
        for lang in languages:
            chunks = _page_lines(page_files[lang], lang, valid_fraction)
            results = pool.imap(_process_chunk, chunks) if pool else map(_process_chunk, chunks)
            stats = json.load(open(os.path.join(work, "wikipedia", lang, "stats.json"), encoding="utf-8"))
            lang_counts = collections.Counter()
            for chunk in tqdm(results, desc=f"binarize {lang}", unit=" chunks"):
                for split, qid, mlm, description, sentences, counts in chunk:
                    skipped.update(counts)
                    writer.add_mlm_document(lang, split, mlm)
                    if description is not None:
                        writer.add_description(int(np.searchsorted(entity_qids, qid)), lang, description)
                        lang_counts["descriptions"] += 1
                    for ids, mentions in sentences:
                        writer.add_mep_sentence(lang, split, ids, [
                            (s, e, int(np.searchsorted(entity_qids, q))) for s, e, q in mentions])
                        lang_counts["sentences"] += 1
                        lang_counts["mentions"] += len(mentions)
            c = stats["counts"]
            per_language[lang] = {
                "pages": c.get("pages", 0), "redirects": c.get("redirects", 0),
                "mentions_resolved": c.get("mentions_resolved", 0),
                "mentions_unresolved": c.get("mentions_unresolved", 0), **lang_counts,
            }
            skipped.update({f"wikipedia/{lang}/{k}": v for k, v in stats["skipped"].items()})
        _write_labels(writer, wikidata_dir, languages, entity_qids, [int(p[1:]) for p, _ in relations], pool,
                      workers)
    finally:
        if pool:
            pool.terminate()
    writer.write_tables(
        entities=[(f"Q{q}", labels.get(int(q), "")) for q in entity_qids],
        relations=relations,
        triples_by_split=triples,
    )
    wikidata_stats = json.load(open(os.path.join(wikidata_dir, "stats.json"), encoding="utf-8"))
    skipped.update({f"wikidata/{k}": v for k, v in wikidata_stats["skipped"].items()})
    inputs = (wikidata_stats.get("inputs") or [wikidata_stats["input"]]) + [
        json.load(open(os.path.join(work, "wikipedia", lang, "stats.json"), encoding="utf-8"))["input"]
        for lang in languages]
    return writer.finalize(
        per_language=per_language,
        skipped=dict(sorted((k, v) for k, v in skipped.items() if v)),
        inputs=inputs,
        versions=_versions(),
        valid_fraction=valid_fraction,
        label_tokens=LABEL_TOKENS,
    )


def _check_label_tables(path):
    """The wikidata step of this version writes the items' and the properties' labels; an
    older one did not write the latter."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as e:
        raise DumpError(f"{path}: {e}") from None
    missing = sorted({"labels", "property_labels"} - tables)
    if missing:
        raise DumpError(f"{path} has no {' or '.join(missing)} table (written by an older wikidata step): "
                        f"run the wikidata step again")


def _tokenize_labels(chunk):
    """[(id, text)] -> [(id, token ids)], at most LABEL_TOKENS of them."""
    return [(i, _tokenizer.ids(text)[:LABEL_TOKENS]) for i, text in chunk]


def _write_labels(writer, wikidata_dir, languages, entity_qids, pids, pool, workers):
    """labels/entities/<lang> and labels/relations/<lang> for every language of the data."""
    relation_of = {pid: r for r, pid in enumerate(pids)}
    db = sqlite3.connect(f"file:{os.path.join(wikidata_dir, 'sitelinks.sqlite')}?mode=ro", uri=True)
    try:
        for lang in languages:
            rows = db.execute("SELECT qid, label FROM labels WHERE lang = ? ORDER BY qid", (lang,))
            labels = _in_id_order(_entity_chunks(rows, entity_qids), len(entity_qids), pool, workers)
            writer.add_labels("entities", lang, labels)
            rows = sorted((relation_of[pid], label) for pid, label in db.execute(
                "SELECT pid, label FROM property_labels WHERE lang = ?", (lang,)) if pid in relation_of)
            writer.add_labels("relations", lang, _in_id_order([rows], len(pids), pool, workers))
    finally:
        db.close()


def _entity_chunks(rows, entity_qids):
    """[(entity id, label)] chunks of the rows (qid, label), in QID order, of entities."""
    while rows_chunk := rows.fetchmany(LABEL_CHUNK):
        qids = np.fromiter((q for q, _ in rows_chunk), dtype=np.int64, count=len(rows_chunk))
        hit = np.flatnonzero(contains(entity_qids, qids))
        yield [(int(e), rows_chunk[k][1]) for k, e in zip(hit, np.searchsorted(entity_qids, qids[hit]))]


def _in_id_order(chunks, count, pool, workers):
    """Token id lists for ids 0..count-1, [] where ``chunks`` ([(id, text)], ids ascending)
    have no label. The chunks are read here, in this thread (a sqlite cursor stays in its
    thread), and tokenised by the pool a few at a time, in order."""
    chunks = iter(chunks)
    done = 0
    while group := list(itertools.islice(chunks, 4 * workers)):
        for chunk in (pool.imap(_tokenize_labels, group) if pool else map(_tokenize_labels, group)):
            for i, tokens in chunk:
                yield from ([] for _ in range(i - done))
                yield tokens
                done = i + 1
    yield from ([] for _ in range(count - done))


def _described_qids(page_files):
    qids = []
    for path in page_files.values():
        with open(path, "rb") as f:
            for line in f:
                page = orjson.loads(line)
                if page.get("qid") is not None and page["text"].strip():
                    qids.append(page["qid"])
    return np.unique(np.asarray(qids, dtype=np.int64))


def _labels(items_path, entity_qids):
    labels = {}
    with open(items_path, encoding="utf-8") as f:
        for line in f:
            qid, _, label = line.rstrip("\n").partition("\t")
            q = int(qid[1:])
            i = np.searchsorted(entity_qids, q)
            if i < len(entity_qids) and entity_qids[i] == q:
                labels[q] = label
    return labels


def _triples(wikidata_dir, entity_qids, max_relations, valid_fraction):
    triples = np.load(os.path.join(wikidata_dir, "triples.npy"))
    both = np.isin(triples[:, 0], entity_qids) & np.isin(triples[:, 2], entity_qids)
    skips = {"triples_entity_without_description": int((~both).sum())}
    triples = triples[both]
    pids, counts = np.unique(triples[:, 1], return_counts=True)
    order = np.lexsort((pids, -counts))
    pids = pids[order]
    if max_relations is not None and len(pids) > max_relations:
        pids = pids[:max_relations]
        keep = np.isin(triples[:, 1], pids)
        skips["triples_relation_beyond_max_relations"] = int((~keep).sum())
        triples = triples[keep]
    labels = {}
    with open(os.path.join(wikidata_dir, "properties.tsv"), encoding="utf-8") as f:
        for line in f:
            pid, _, label = line.rstrip("\n").split("\t", 2)
            labels[int(pid[1:])] = label
    relation_of = {int(p): r for r, p in enumerate(pids)}
    encoded = np.stack([
        np.searchsorted(entity_qids, triples[:, 0]),
        np.asarray([relation_of[int(p)] for p in triples[:, 1]], dtype=np.int64).reshape(-1),
        np.searchsorted(entity_qids, triples[:, 2]),
    ], axis=1) if len(triples) else np.zeros((0, 3), dtype=np.int64)
    valid = np.asarray([is_valid(f"Q{s}\tP{p}\tQ{o}".encode(), valid_fraction) for s, p, o in triples.tolist()],
                       dtype=bool).reshape(-1)
    return ({"train": encoded[~valid], "valid": encoded[valid]},
            [(f"P{int(p)}", labels.get(int(p), "")) for p in pids], skips)


def _versions():
    import sentencepiece

    import fairseq

    return {"python": platform.python_version(), "fairseq": fairseq.__version__,
            "sentencepiece": sentencepiece.__version__, "numpy": np.__version__}
