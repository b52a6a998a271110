"""Wikidata dumps -> kept items, their sitelinks and labels, item-valued triples, relation labels.

Items are kept when they have a sitelink to a Wikipedia of the chosen languages. Two routes
write the same outputs (docs/dump-sources.md):

- the JSON dump (``latest-all.json[.gz|.bz2]``, one entity per line) gives everything; with
  ``truthy`` the triples and property labels come from the truthy N-Triples dump instead;
- ``sitelinks_sql`` (the ``wb_items_per_site`` table dump) gives the sitelinks, and the
  truthy dump (``latest-truthy.nt[.gz|.bz2]``) the triples and the labels.

Outputs, in ``WORK/wikidata/`` (written under a temporary name and renamed when complete):

    items.tsv          qid <TAB> label          kept items (label: English if any)
    sitelinks.sqlite   table sitelinks(lang, title, qid): the title -> QID lookup per language;
                       table labels(lang, qid, label): the items' labels in the chosen languages
                       (what probe sets name entities by);
                       table property_labels(lang, pid, label): the labels in the chosen languages
                       of the properties of triples.npy (what link prediction names relations by)
    triples.npy        int64 [T, 3]: subject qid, property id, object qid (numbers), both ends kept
    properties.tsv     pid <TAB> count <TAB> English label, by descending count
    stats.json         sources, counts, skipped records by reason, the inputs' sizes and checksums

With ``--shard I/N`` the reading part writes ``WORK/wikidata.shards/I-of-N/`` (items.tsv,
sitelinks.sqlite, the claims of the shard's items, property labels, stats); ``merge``
concatenates the N shards in order and finishes them exactly as an unsharded run finishes
its one part.
"""

import collections
import itertools
import json
import os
import shutil
import sqlite3
from array import array

import numpy as np
from tqdm import tqdm

from . import sitelinks_db, sitelinks_sql, truthy as truthy_dump
from .dump_io import DumpError, atomic_dir, fingerprints_in_background, write_json
from .labels import best_label
from .parallel import map_line_blocks
from .shards import concatenate, dump_chunks, finished_shards, merged_stats
from .sorted_ids import contains
from .wikidata_entity import EntityParser


_worker = {}  # in a process that parses blocks: parser, with_claims, rows (path), db


def _init_worker(languages, with_claims, directory):
    """Every worker process writes the sitelinks and labels of its blocks to a file of its
    own, rows-<pid>.sqlite in ``directory``, merged into the step's one when all are read:
    the inserts (the dearest writes) run in parallel, and only little goes back to the
    reader process. The file is created with the first block, so every file there is
    complete: a worker stopped before its first block leaves none."""
    _worker.update(parser=EntityParser(languages), with_claims=with_claims, db=None,
                   rows=os.path.join(directory, f"rows-{os.getpid()}.sqlite"))


def _close_worker():
    """Close the rows file of a run without worker processes (workers <= 1)."""
    if _worker.get("db") is not None:
        _worker["db"].close()
    _worker.clear()


def _parse_block(lines):
    """A block of dump lines -> its sitelinks and labels (into this process's rows file), and
    what the reader writes for it, already in its output form (text, int64 bytes)."""
    parser, with_claims = _worker["parser"], _worker["with_claims"]
    items, kept, claims, sitelinks, labels, property_labels = [], array("q"), array("q"), [], [], []
    properties, counts, skipped = {}, collections.Counter(), collections.Counter()
    for line in lines:
        record = parser.parse(line, with_claims)
        if record is None:
            continue
        counts["entities"] += 1
        if record[0] == "skip":
            skipped[record[1]] += 1
        elif record[0] == "property":
            _, pid, english, local_labels = record
            properties[pid] = english
            property_labels.extend((lang, pid, text) for lang, text in local_labels.items())
            counts["properties"] += 1
        else:
            _, qid, label, titles, item_claims, reasons, local_labels = record
            if reasons:
                skipped.update(reasons)
            items.append(f"Q{qid}\t{label}\n")
            kept.append(qid)
            for pid, target in item_claims:
                claims.extend((qid, pid, target))
            sitelinks.extend((lang, title, qid) for lang, title in titles.items())
            labels.extend((lang, qid, text) for lang, text in local_labels.items())
    if _worker["db"] is None:
        _worker["db"] = sitelinks_db.create(_worker["rows"])
    sitelinks_db.add(_worker["db"], sitelinks, labels, property_labels)
    _worker["db"].commit()
    counts["items_kept"] += len(kept)
    counts["sitelinks"] += len(sitelinks)
    return "".join(items), kept.tobytes(), claims.tobytes(), properties, counts, skipped


def _json_chunks(path, shard):
    """The dump's decompressed chunks, once its first bytes show a Wikidata JSON dump."""
    index = shard[0]
    started = False
    for chunk in dump_chunks(path, shard):
        if not started:
            head = chunk.lstrip(b"\xef\xbb\xbf").lstrip()
            if not head:
                continue
            if b"\x00" in head[:4]:
                raise DumpError(f"{path}: a UTF-16 or UTF-32 file; Wikidata JSON dumps are UTF-8")
            if head[:1] not in ((b"[", b"{") if index == 0 else (b"{", b"]")):
                raise DumpError(f"{path}: not a Wikidata JSON dump (it does not start with '[')")
            started = True
        yield chunk
    if not started and index == 0:
        raise DumpError(f"{path}: no entities in the file")


def run(dump, languages, work, workers=1, shard=(0, 1), truthy=None, sitelinks_sql_dumps=()):
    """Read the dumps (or shard I of N of them) and write WORK/wikidata (or its shard dir).

    ``dump``: the JSON dump; ``truthy``: the truthy N-Triples dump, for the triples;
    ``sitelinks_sql_dumps``: wb_items_per_site dumps, for the sitelinks, instead of ``dump``.
    """
    _check_sources(dump, truthy, sitelinks_sql_dumps, shard)
    index, count = shard
    sources = (dump, truthy, tuple(sitelinks_sql_dumps))
    inputs = (dump, truthy, *sitelinks_sql_dumps)
    if count == 1:
        with atomic_dir(os.path.join(work, "wikidata"), inputs=inputs) as tmp:
            _read(sources, languages, tmp, workers, shard)
            return _finish(tmp)
    with atomic_dir(shard_dir(work, index, count), inputs=inputs) as tmp:
        return _read(sources, languages, tmp, workers, shard)


def _check_sources(dump, truthy, sql, shard):
    if dump and sql:
        raise DumpError("--sitelinks-sql replaces --dump (items from the SQL dump, labels and triples from "
                        "--truthy): give one of them")
    if sql and not truthy:
        raise DumpError("--sitelinks-sql needs --truthy (the items' labels and the triples)")
    if not dump and not sql:
        raise DumpError("the wikidata step needs --dump, or --truthy with --sitelinks-sql")
    if dump and truthy and shard[1] > 1:
        raise DumpError("--shard with --dump and --truthy is not supported: the truthy dump is read once the "
                        "whole JSON dump has given the items; use --truthy with --sitelinks-sql, or no --shard")


def shard_dir(work, index, count):
    return os.path.join(work, "wikidata.shards", f"{index}-of-{count}")


def merge(work, count):
    """Put the N shards' outputs together into WORK/wikidata, as one unsharded run writes it."""
    dirs = [shard_dir(work, i, count) for i in range(count)]
    stats = finished_shards(dirs, "wikidata")
    with atomic_dir(os.path.join(work, "wikidata"), inputs=dirs) as tmp:
        for name in ("items.tsv", "claims.bin"):
            concatenate(dirs, name, os.path.join(tmp, name))
        db = sitelinks_db.create(os.path.join(tmp, "sitelinks.sqlite"))
        for d in dirs:
            sitelinks_db.add_file(db, os.path.join(d, "sitelinks.sqlite"))
        db.close()
        properties = {}
        for d in dirs:
            properties.update(json.load(open(os.path.join(d, "properties.json"), encoding="utf-8")))
        write_json(os.path.join(tmp, "properties.json"), properties)
        write_json(os.path.join(tmp, "stats.json"), merged_stats(stats))
        return _finish(tmp)


def _read(sources, languages, tmp, workers, shard):
    """The reading part: items.tsv (JSON route), sitelinks.sqlite, claims.bin (the kept
    items' claims), properties.json, stats.json."""
    dump, truthy, sql = sources
    languages = tuple(languages)
    counts, skipped = collections.Counter(), collections.Counter()
    properties = {}
    db = sitelinks_db.create(os.path.join(tmp, "sitelinks.sqlite"))
    input_paths = [p for p in (dump, truthy, *sql) if p] if shard[0] == 0 else []
    with fingerprints_in_background(input_paths) as fingerprints, \
            open(os.path.join(tmp, "items.tsv"), "w", encoding="utf-8") as items, \
            open(os.path.join(tmp, "claims.bin"), "wb") as claims:
        if dump:
            kept = _read_json(dump, languages, workers, shard, tmp, db, items, None if truthy else claims,
                              counts, skipped, properties)
        elif shard[0] == 0:
            kept = sitelinks_sql.read(sql, languages, db, counts, skipped)
        else:  # every shard needs the kept items; the first one writes the sitelinks
            kept = sitelinks_sql.read(sql, languages, None, collections.Counter(), collections.Counter())
        if truthy:
            label_languages = () if dump else tuple(sorted({*languages, "en"}))
            truthy_dump.read(truthy, kept, label_languages, languages, workers, shard, claims, db, counts, skipped,
                             properties)
        inputs = fingerprints() or None
    db.commit()
    db.close()
    write_json(os.path.join(tmp, "properties.json"), {f"P{k}": v for k, v in properties.items()})
    stats = {"languages": list(languages),
             "sources": {"items": "json" if dump else "wb_items_per_site", "triples": "truthy" if truthy else "json"},
             "counts": dict(counts), "skipped": dict(sorted(skipped.items())),
             "input": inputs[0] if inputs else None, "inputs": inputs}
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _read_json(dump, languages, workers, shard, tmp, db, items, claims_file, counts, skipped, properties):
    """Entities -> items.tsv, the sitelinks and labels tables, ``properties`` and, unless
    ``claims_file`` is None, the kept items' claims. Returns the kept QIDs, sorted."""
    kept = array("q")
    rows_dir = os.path.join(tmp, "rows")
    os.mkdir(rows_dir)
    with map_line_blocks(_parse_block, _json_chunks(dump, shard), workers, _init_worker,
                         (languages, claims_file is not None, rows_dir)) as results, \
            tqdm(desc="wikidata entities", unit=" ent", unit_scale=True) as bar:
        for item_lines, kept_ids, claim_ids, block_properties, block_counts, block_skipped in results:
            items.write(item_lines)
            kept.frombytes(kept_ids)
            if claims_file is not None:
                claims_file.write(claim_ids)
            properties.update(block_properties)
            bar.update(block_counts["entities"])
            counts.update(block_counts)
            skipped.update(block_skipped)
    _close_worker()
    # Which rows a worker's file holds varies from run to run: the files are merged into a
    # scratch database first, whose rows then go into ``db`` in key order, so that
    # sitelinks.sqlite comes out the same, byte for byte, whatever the workers did.
    merged = os.path.join(tmp, "rows.sqlite")
    scratch = sitelinks_db.create(merged)
    for name in sorted(os.listdir(rows_dir)):
        sitelinks_db.add_file(scratch, os.path.join(rows_dir, name))
    scratch.close()
    sitelinks_db.add_file(db, merged)
    os.remove(merged)
    shutil.rmtree(rows_dir)
    return np.unique(np.frombuffer(kept, dtype=np.int64))


def _finish(tmp):
    """Keep the triples whose both ends are kept items; write properties.tsv, keep the labels
    of their properties only, and write the stats (and, when the sitelinks came from the SQL
    dump, items.tsv)."""
    stats = json.load(open(os.path.join(tmp, "stats.json"), encoding="utf-8"))
    counts = collections.Counter(stats["counts"])
    if stats["sources"]["items"] == "wb_items_per_site":
        _write_items_from_tables(tmp, stats["languages"], counts)
    claims_path = os.path.join(tmp, "claims.bin")
    relation_counts = _keep_triples_among_items(
        claims_path, os.path.join(tmp, "items.tsv"), os.path.join(tmp, "triples.npy"), counts)
    os.remove(claims_path)
    labels = json.load(open(os.path.join(tmp, "properties.json"), encoding="utf-8"))
    os.remove(os.path.join(tmp, "properties.json"))
    with open(os.path.join(tmp, "properties.tsv"), "w", encoding="utf-8") as f:
        for pid, n in sorted(relation_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            f.write(f"P{pid}\t{n}\t{labels.get(f'P{pid}', '')}\n")
    counts["property_labels_kept"] = _keep_labels_of_properties(tmp, relation_counts)
    stats["counts"] = dict(counts)
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _keep_labels_of_properties(tmp, pids):
    """Drop the property labels of properties that no kept triple uses (most of a dump's
    properties are not item-valued); returns how many labels are left."""
    db = sqlite3.connect(os.path.join(tmp, "sitelinks.sqlite"))
    db.execute("CREATE TEMP TABLE used (pid INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO used VALUES (?)", ((int(p),) for p in pids))
    db.execute("DELETE FROM property_labels WHERE pid NOT IN (SELECT pid FROM used)")
    db.commit()
    (kept,) = db.execute("SELECT count(*) FROM property_labels").fetchone()
    db.close()
    return kept


def _write_items_from_tables(tmp, languages, counts):
    """items.tsv, in QID order, from the sitelinks and labels tables (the SQL route): the
    label is the English one, else the first in a language of the item's titles, else the
    first of the others by language code. The English labels, read for this, are then
    dropped from the labels table unless English is a chosen language."""
    db = sqlite3.connect(os.path.join(tmp, "sitelinks.sqlite"))
    label_cursor = db.execute("SELECT qid, lang, label FROM labels ORDER BY qid")
    titles = itertools.groupby(db.execute("SELECT qid, lang FROM sitelinks ORDER BY qid"), key=lambda r: r[0])
    labels = itertools.groupby(label_cursor, key=lambda r: r[0])
    label_qid, label_rows = next(labels, (None, ()))
    with open(os.path.join(tmp, "items.tsv"), "w", encoding="utf-8") as items:
        for qid, rows in titles:
            while label_qid is not None and label_qid < qid:
                label_qid, label_rows = next(labels, (None, ()))
            texts = {lang: text for _, lang, text in label_rows} if label_qid == qid else {}
            items.write(f"Q{qid}\t{best_label(texts, ('en', *sorted(lang for _, lang in rows)))}\n")
            counts["items_kept"] += 1
    label_cursor.close()
    if "en" not in languages:
        db.execute("DELETE FROM labels WHERE lang = 'en'")
    db.commit()
    db.close()


def _keep_triples_among_items(claims_path, items_path, triples_path, counts, block_rows=1 << 16):
    """Write the claims whose both ends are kept items to ``triples_path`` (.npy); return the
    relation counts. Claims are filtered a block at a time into a side file (the .npy header
    needs the final row count), so memory holds one block and the kept ids (8 bytes per
    item), not the dump's claims."""
    with open(items_path, encoding="utf-8") as f:
        kept = np.sort(np.fromiter((int(line.split("\t", 1)[0][1:]) for line in f), dtype=np.int64))
    rows_path = triples_path + ".rows"
    read = total = 0
    relation_counts = collections.Counter()
    with open(claims_path, "rb") as claims, open(rows_path, "wb") as rows:
        while len(block := np.fromfile(claims, dtype=np.int64, count=3 * block_rows).reshape(-1, 3)):
            read += len(block)
            block = block[contains(kept, block[:, 0]) & contains(kept, block[:, 2])]
            total += len(block)
            block.astype("<i8", copy=False).tofile(rows)
            pids, n = np.unique(block[:, 1], return_counts=True)
            relation_counts.update(dict(zip(pids.tolist(), n.tolist())))
    with open(triples_path, "wb") as out, open(rows_path, "rb") as rows:
        np.lib.format.write_array_header_1_0(out, {"descr": "<i8", "fortran_order": False, "shape": (total, 3)})
        shutil.copyfileobj(rows, out)
    os.remove(rows_path)
    counts["item_claims"] = read
    counts["triples"] = total
    counts["claims_to_items_not_kept"] = read - total
    return relation_counts
