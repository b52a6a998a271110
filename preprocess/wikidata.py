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
                       (what probe sets name entities by)
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
import orjson
from tqdm import tqdm

from . import sitelinks_sql, truthy as truthy_dump
from .dump_io import DumpError, atomic_dir, file_fingerprint, write_json
from .labels import best_label, clean
from .parallel import ordered_map
from .shards import concatenate, finished_shards, line_blocks, merged_stats
from .sites import wikipedia_language
from .sorted_ids import contains


def parse_entity(line, languages, with_claims=True):
    """One dump line -> ("item", ...), ("property", ...) or ("skip", reason) or None."""
    line = line.strip()
    if line in (b"", b"[", b"]"):
        return None
    if line.endswith(b","):
        line = line[:-1]
    try:
        entity = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ("skip", "malformed_json")
    if not isinstance(entity, dict) or not isinstance(entity.get("id"), str):
        return ("skip", "missing_id")
    ident, kind = entity["id"], entity.get("type")
    labels = {lang: (value or {}).get("value") for lang, value in (entity.get("labels") or {}).items()}
    if kind == "property":
        return ("property", _number(ident), best_label(labels, ("en",)))
    if kind != "item" or not ident.startswith("Q"):
        return ("skip", "not_an_item")
    titles = {}
    for site, link in (entity.get("sitelinks") or {}).items():
        lang = wikipedia_language(site)
        if lang in languages and isinstance(link, dict) and link.get("title"):
            titles[lang] = link["title"]
    if not titles:
        return ("skip", "no_sitelink_in_languages")
    claims, reasons = _item_claims(entity) if with_claims else ([], None)
    label = best_label(labels, ("en", *sorted(titles)))
    local = {lang: clean(labels.get(lang) or "") for lang in languages}
    return ("item", _number(ident), label, titles, claims, reasons, {k: v for k, v in local.items() if v})


def _item_claims(entity):
    """(property, target) numbers of the item-valued statements, and skip counts by reason."""
    claims, reasons = [], None
    for statements in (entity.get("claims") or {}).values():
        # A property has one datatype: a group whose first main snak names another one
        # (external ids, strings, quantities: most of a real item) is skipped whole.
        first = (statements[0].get("mainsnak") or {}) if statements and isinstance(statements[0], dict) else {}
        if first.get("datatype") not in (None, "wikibase-item"):
            continue
        for statement in statements:
            snak = statement.get("mainsnak") or {}
            if snak.get("datatype") != "wikibase-item":
                continue
            reason = None
            if statement.get("rank") == "deprecated":
                reason = "claim_deprecated"
            elif snak.get("snaktype") != "value":
                reason = "claim_" + str(snak.get("snaktype"))
            else:
                value = (snak.get("datavalue") or {}).get("value") or {}
                target = value.get("id") or (f"Q{value['numeric-id']}" if "numeric-id" in value else None)
                if target and target.startswith("Q") and snak.get("property", "").startswith("P"):
                    claims.append((_number(snak["property"]), _number(target)))
                else:
                    reason = "claim_malformed"
            if reason:
                reasons = reasons or collections.Counter()
                reasons[reason] += 1
    return claims, reasons


def _number(ident):
    return int(ident[1:])


def _parse_block(args):
    block, languages, with_claims = args
    return [r for r in (parse_entity(line, languages, with_claims) for line in block.split(b"\n")) if r is not None]


def _json_blocks(path, shard):
    """The dump's line blocks, once its first line shows a Wikidata JSON dump."""
    index = shard[0]
    started = False
    for block in line_blocks(path, shard):
        if not started:
            head = block.lstrip(b"\xef\xbb\xbf").lstrip()
            if not head:
                continue
            if head[:1] not in ((b"[", b"{") if index == 0 else (b"{",)):
                raise DumpError(f"{path}: not a Wikidata JSON dump (it does not start with '[')")
            started = True
        yield block
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
    if count == 1:
        with atomic_dir(os.path.join(work, "wikidata")) as tmp:
            _read(sources, languages, tmp, workers, shard)
            return _finish(tmp)
    with atomic_dir(shard_dir(work, index, count)) as tmp:
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
    with atomic_dir(os.path.join(work, "wikidata")) as tmp:
        for name in ("items.tsv", "claims.bin"):
            concatenate(dirs, name, os.path.join(tmp, name))
        db = _create_sitelinks(tmp)
        for d in dirs:
            db.execute("ATTACH DATABASE ? AS shard", (os.path.join(d, "sitelinks.sqlite"),))
            db.execute("INSERT OR IGNORE INTO sitelinks SELECT * FROM shard.sitelinks")
            db.execute("INSERT OR IGNORE INTO labels SELECT * FROM shard.labels")
            db.commit()
            db.execute("DETACH DATABASE shard")
        db.close()
        properties = {}
        for d in dirs:
            properties.update(json.load(open(os.path.join(d, "properties.json"), encoding="utf-8")))
        write_json(os.path.join(tmp, "properties.json"), properties)
        write_json(os.path.join(tmp, "stats.json"), merged_stats(stats))
        return _finish(tmp)


def _create_sitelinks(directory):
    db = sqlite3.connect(os.path.join(directory, "sitelinks.sqlite"))
    db.execute("CREATE TABLE sitelinks (lang TEXT, title TEXT, qid INTEGER, PRIMARY KEY (lang, title)) WITHOUT ROWID")
    db.execute("CREATE TABLE labels (lang TEXT, qid INTEGER, label TEXT, PRIMARY KEY (lang, qid)) WITHOUT ROWID")
    return db


def _read(sources, languages, tmp, workers, shard):
    """The reading part: items.tsv (JSON route), sitelinks.sqlite, claims.bin (the kept
    items' claims), properties.json, stats.json."""
    dump, truthy, sql = sources
    languages = tuple(languages)
    counts, skipped = collections.Counter(), collections.Counter()
    properties = {}
    db = _create_sitelinks(tmp)
    with open(os.path.join(tmp, "items.tsv"), "w", encoding="utf-8") as items, \
            open(os.path.join(tmp, "claims.bin"), "wb") as claims:
        if dump:
            kept = _read_json(dump, languages, workers, shard, db, items, None if truthy else claims,
                              counts, skipped, properties)
        elif shard[0] == 0:
            kept = sitelinks_sql.read(sql, languages, db, counts, skipped)
        else:  # every shard needs the kept items; the first one writes the sitelinks
            kept = sitelinks_sql.read(sql, languages, None, collections.Counter(), collections.Counter())
        if truthy:
            label_languages = () if dump else tuple(sorted({*languages, "en"}))
            truthy_dump.read(truthy, kept, label_languages, workers, shard, claims, db, counts, skipped, properties)
    db.commit()
    db.close()
    write_json(os.path.join(tmp, "properties.json"), {f"P{k}": v for k, v in properties.items()})
    inputs = [file_fingerprint(p) for p in (dump, truthy, *sql) if p] if shard[0] == 0 else None
    stats = {"languages": list(languages),
             "sources": {"items": "json" if dump else "wb_items_per_site", "triples": "truthy" if truthy else "json"},
             "counts": dict(counts), "skipped": dict(sorted(skipped.items())),
             "input": inputs[0] if inputs else None, "inputs": inputs}
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _read_json(dump, languages, workers, shard, db, items, claims_file, counts, skipped, properties):
    """Entities -> items.tsv, the sitelinks and labels tables, ``properties`` and, unless
    ``claims_file`` is None, the kept items' claims. Returns the kept QIDs, sorted."""
    kept = array("q")
    blocks = ((block, languages, claims_file is not None) for block in _json_blocks(dump, shard))
    with ordered_map(_parse_block, blocks, workers) as results, \
            tqdm(desc="wikidata entities", unit=" ent", unit_scale=True) as bar:
        for records in results:
            rows, claim_rows, label_rows = [], [], []
            for record in records:
                if record[0] == "skip":
                    skipped[record[1]] += 1
                elif record[0] == "property":
                    properties[record[1]] = record[2]
                    counts["properties"] += 1
                else:
                    _, qid, label, titles, claims, reasons, local_labels = record
                    counts["items_kept"] += 1
                    if reasons:
                        skipped.update(reasons)
                    items.write(f"Q{qid}\t{label}\n")
                    kept.append(qid)
                    rows.extend((lang, title, qid) for lang, title in titles.items())
                    claim_rows.extend((qid, p, o) for p, o in claims)
                    label_rows.extend((lang, qid, text) for lang, text in local_labels.items())
            if claim_rows:
                np.asarray(claim_rows, dtype=np.int64).tofile(claims_file)
            db.executemany("INSERT OR IGNORE INTO sitelinks VALUES (?, ?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?)", label_rows)
            counts["sitelinks"] += len(rows)
            bar.update(len(records))
    return np.unique(np.frombuffer(kept, dtype=np.int64))


def _finish(tmp):
    """Keep the triples whose both ends are kept items; write properties.tsv and the stats
    (and, when the sitelinks came from the SQL dump, items.tsv)."""
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
    stats["counts"] = dict(counts)
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


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
