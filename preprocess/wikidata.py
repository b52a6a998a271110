"""Wikidata JSON dump -> kept items, their sitelinks, item-valued triples, relation labels.

The dump (``latest-all.json[.gz|.bz2]``) is one JSON array with one entity per line. Items
are kept when they have a sitelink to a Wikipedia of the chosen languages. Outputs, in
``WORK/wikidata/`` (written under a temporary name and renamed when complete):

    items.tsv          qid <TAB> label          kept items, in dump order (label: English if any)
    sitelinks.sqlite   table sitelinks(lang, title, qid): the title -> QID lookup per language;
                       table labels(lang, qid, label): the items' labels in the chosen languages
                       (what probe sets name entities by)
    triples.npy        int64 [T, 3]: subject qid, property id, object qid (numbers), both ends kept
    properties.tsv     pid <TAB> count <TAB> English label, by descending count
    stats.json         counts, skipped records by reason, the input's size and checksum

With ``--shard I/N`` the reading part writes ``WORK/wikidata.shards/I-of-N/`` (items.tsv,
sitelinks.sqlite, the unfiltered claims, property labels, stats); ``merge`` concatenates
the N shards in order and finishes them exactly as an unsharded run finishes its one part.
"""

import collections
import json
import os
import sqlite3
from multiprocessing import Pool

import numpy as np
import orjson
from tqdm import tqdm

from .dump_io import DumpError, atomic_dir, file_fingerprint, open_dump, read_chunks, text_lines, write_json
from .shards import concatenate, finished_shards, merged_stats, shard_chunks

# Site ids that end in "wiki" but are not Wikipedias.
NOT_WIKIPEDIAS = {
    "commonswiki", "wikidatawiki", "specieswiki", "metawiki", "sourceswiki", "mediawikiwiki",
    "outreachwiki", "wikimaniawiki", "foundationwiki", "incubatorwiki", "testwiki",
    "testwikidatawiki", "wikifunctionswiki", "abstractwiki", "otrs_wikiwiki", "strategywiki",
    "tenwiki", "votewiki", "donatewiki", "nostalgiawiki", "loginwiki", "labswiki",
}
CHUNK_BYTES = 1 << 22


def wikipedia_language(site):
    """'enwiki' -> 'en', 'zh_min_nanwiki' -> 'zh-min-nan'; None for other sites."""
    if not site.endswith("wiki") or site in NOT_WIKIPEDIAS:
        return None
    return site[: -len("wiki")].replace("_", "-")


def parse_entity(line, languages):
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
    labels = entity.get("labels") or {}
    if kind == "property":
        return ("property", _number(ident), _label(labels, ("en",)))
    if kind != "item" or not ident.startswith("Q"):
        return ("skip", "not_an_item")
    titles = {}
    for site, link in (entity.get("sitelinks") or {}).items():
        lang = wikipedia_language(site)
        if lang in languages and isinstance(link, dict) and link.get("title"):
            titles[lang] = link["title"]
    if not titles:
        return ("skip", "no_sitelink_in_languages")
    claims, reasons = [], None
    for statements in (entity.get("claims") or {}).values():
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
    label = _label(labels, ("en", *sorted(titles)))
    local = {lang: _clean((labels.get(lang) or {}).get("value") or "") for lang in languages}
    return ("item", _number(ident), label, titles, claims, reasons, {k: v for k, v in local.items() if v})


def _number(ident):
    return int(ident[1:])


def _label(labels, preferred):
    """The first label among ``preferred`` languages, else any label, else ""."""
    for lang in (*preferred, *sorted(labels)):
        value = (labels.get(lang) or {}).get("value")
        if value:
            return _clean(value)
    return ""


def _clean(label):
    return label.replace("\t", " ").replace("\n", " ") if isinstance(label, str) else ""


def _parse_chunk(args):
    lines, languages = args
    return [r for r in (parse_entity(line, languages) for line in lines) if r is not None]


def _line_chunks(path, languages, shard):
    index, count = shard
    if count == 1:
        stream = open_dump(path)
        source = read_chunks(stream, path)
    else:
        stream, source = None, shard_chunks(path, index, count)
    first = True
    chunk, size = [], 0
    try:
        for line in text_lines(source):
            if first:
                stripped = line.lstrip(b"\xef\xbb\xbf").strip()
                if not stripped:
                    continue
                if stripped[:1] not in ((b"[", b"{") if index == 0 else (b"{",)):
                    raise DumpError(f"{path}: not a Wikidata JSON dump (it does not start with '[')")
                first = False
            chunk.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield chunk, languages
                chunk, size = [], 0
    finally:
        if stream is not None:
            stream.close()
    if first and index == 0:
        raise DumpError(f"{path}: no entities in the file")
    if chunk:
        yield chunk, languages


def run(dump, languages, work, workers=1, shard=(0, 1)):
    """Read ``dump`` (or shard I of N of it) and write WORK/wikidata (or its shard dir)."""
    index, count = shard
    if count == 1:
        with atomic_dir(os.path.join(work, "wikidata")) as tmp:
            _read(dump, languages, tmp, workers, shard)
            return _finish(tmp)
    with atomic_dir(shard_dir(work, index, count)) as tmp:
        return _read(dump, languages, tmp, workers, shard)


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


def _read(dump, languages, tmp, workers, shard):
    """The reading part: items.tsv, sitelinks.sqlite, claims.bin, properties.json, stats.json."""
    languages = tuple(languages)
    counts, skipped = collections.Counter(), collections.Counter()
    properties = {}
    db = _create_sitelinks(tmp)
    with open(os.path.join(tmp, "items.tsv"), "w", encoding="utf-8") as items, \
            open(os.path.join(tmp, "claims.bin"), "wb") as claims_file:
        chunks = _line_chunks(dump, languages, shard)
        pool = Pool(workers) if workers > 1 else None
        results = pool.imap(_parse_chunk, chunks) if pool else map(_parse_chunk, chunks)
        try:
            with tqdm(desc="wikidata entities", unit=" ent", unit_scale=True) as bar:
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
                            rows.extend((lang, title, qid) for lang, title in titles.items())
                            claim_rows.extend((qid, p, o) for p, o in claims)
                            label_rows.extend((lang, qid, text) for lang, text in local_labels.items())
                    if claim_rows:
                        np.asarray(claim_rows, dtype=np.int64).tofile(claims_file)
                    db.executemany("INSERT OR IGNORE INTO sitelinks VALUES (?, ?, ?)", rows)
                    db.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?)", label_rows)
                    counts["sitelinks"] += len(rows)
                    bar.update(len(records))
        finally:
            if pool:
                pool.terminate()
    db.commit()
    db.close()
    write_json(os.path.join(tmp, "properties.json"), {f"P{k}": v for k, v in properties.items()})
    stats = {"languages": list(languages), "counts": dict(counts), "skipped": dict(sorted(skipped.items())),
             "input": file_fingerprint(dump) if shard[0] == 0 else None}
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _finish(tmp):
    """Keep the triples whose both ends are kept items; write properties.tsv and the stats."""
    stats = json.load(open(os.path.join(tmp, "stats.json"), encoding="utf-8"))
    counts = collections.Counter(stats["counts"])
    claims_path = os.path.join(tmp, "claims.bin")
    triples = _keep_triples_among_items(claims_path, os.path.join(tmp, "items.tsv"), counts)
    os.remove(claims_path)
    np.save(os.path.join(tmp, "triples.npy"), triples)
    labels = json.load(open(os.path.join(tmp, "properties.json"), encoding="utf-8"))
    os.remove(os.path.join(tmp, "properties.json"))
    relation_counts = collections.Counter(triples[:, 1].tolist())
    with open(os.path.join(tmp, "properties.tsv"), "w", encoding="utf-8") as f:
        for pid, n in sorted(relation_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            f.write(f"P{pid}\t{n}\t{labels.get(f'P{pid}', '')}\n")
    stats["counts"] = dict(counts)
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _keep_triples_among_items(claims_path, items_path, counts):
    claims = np.fromfile(claims_path, dtype=np.int64).reshape(-1, 3)
    with open(items_path, encoding="utf-8") as f:
        kept = np.sort(np.fromiter((int(line.split("\t", 1)[0][1:]) for line in f), dtype=np.int64))
    both = np.isin(claims[:, 0], kept) & np.isin(claims[:, 2], kept)
    counts["item_claims"] = int(len(claims))
    counts["triples"] = int(both.sum())
    counts["claims_to_items_not_kept"] = int(len(claims) - both.sum())
    return claims[both]
