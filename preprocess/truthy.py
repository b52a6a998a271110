"""Wikidata's truthy N-Triples dump -> the kept items' claims, their labels, property labels.

``latest-truthy.nt[.gz|.bz2]`` holds, per entity, its best-rank non-deprecated statements
as ``wdt:`` triples, its labels, descriptions and aliases (no sitelinks). Read lines:

    <http://www.wikidata.org/entity/Q64> <http://www.wikidata.org/prop/direct/P17> <http://www.wikidata.org/entity/Q183> .
    <http://www.wikidata.org/entity/Q64> <http://www.w3.org/2000/01/rdf-schema#label> "Berlin"@de .
    <http://www.wikidata.org/entity/P17> <http://www.w3.org/2000/01/rdf-schema#label> "country"@en .

A ``wdt:`` triple counts when its subject is a kept item and its object an item IRI; a
blank-node object (an unknown value) is counted as ``claim_somevalue``; literal objects and
every other predicate are passed over; a line that is not an N-Triple is counted as
``malformed_line`` and skipped. Labels are read from ``rdfs:label`` only (Wikibase writes the
same text as ``skos:prefLabel`` and ``schema:name``): an item's in the label languages, a
property's in English (for properties.tsv) and in the chosen languages (for link prediction).
"""

import collections
import re

import numpy as np
from tqdm import tqdm

from . import ntriples, sitelinks_db
from .dump_io import DumpError
from .labels import clean
from .parallel import map_line_blocks
from .shards import dump_chunks
from .sorted_ids import contains

_ITEM = re.compile(rb"http://www\.wikidata\.org/entity/Q([0-9]+)")
_PROPERTY = re.compile(rb"http://www\.wikidata\.org/entity/P([0-9]+)")
_DIRECT = re.compile(rb"http://www\.wikidata\.org/prop/direct/P([0-9]+)")
_SOMEVALUE_IRI = b"http://www.wikidata.org/.well-known/genid/"  # unknown values, as skolem IRIs
LABEL = b"http://www.w3.org/2000/01/rdf-schema#label"

_kept = np.zeros(0, dtype=np.int64)
_label_languages = {}  # items' labels: language tag (bytes, lower case) -> language code
_property_languages = {}  # properties' labels, likewise


def _init_worker(kept, label_languages, property_languages):
    global _kept, _label_languages, _property_languages
    _kept = kept
    _label_languages = {lang.lower().encode(): lang for lang in label_languages}
    _property_languages = {lang.lower().encode(): lang for lang in property_languages}


def _number(pattern, iri):
    """The entity number of ``iri`` when ``pattern`` matches it whole, else None."""
    m = pattern.fullmatch(iri)
    return int(m.group(1)) if m else None


def _is_kept(qids):
    return contains(_kept, qids)


def _read_block(lines):
    """One block of lines -> (claims of kept items [n, 3], label rows, English property
    labels, property label rows, counts, skip counts)."""
    claims, somevalue, labels, properties, property_rows = [], [], {}, {}, {}
    line_count, property_labels, skipped = 0, 0, collections.Counter()
    for line in lines:
        try:
            triple = ntriples.parse(line)
        except ntriples.Malformed:
            skipped["malformed_line"] += 1
            continue
        if triple is None:
            continue
        line_count += 1
        subject, predicate, obj, kind, lang = triple
        if predicate == LABEL:
            if kind != ntriples.LITERAL:
                continue
            qid = _number(_ITEM, subject)
            if qid is not None:
                if lang in _label_languages:
                    labels.setdefault((_label_languages[lang], qid), obj)
                continue
            pid = _number(_PROPERTY, subject)
            if pid is not None and lang == b"en":
                properties[pid] = obj
                property_labels += 1
            if pid is not None and lang in _property_languages:
                property_rows.setdefault((_property_languages[lang], pid), obj)
            continue
        pid = _number(_DIRECT, predicate)
        qid = _number(_ITEM, subject) if pid is not None else None
        if qid is None:
            continue
        target = _number(_ITEM, obj) if kind == ntriples.IRI else None
        if target is not None:
            claims.append((qid, pid, target))
        elif kind == ntriples.BNODE or (kind == ntriples.IRI and obj.startswith(_SOMEVALUE_IRI)):
            somevalue.append(qid)
    claims = np.asarray(claims, dtype=np.int64).reshape(-1, 3)
    claims = claims[_is_kept(claims[:, 0])]
    skipped["claim_somevalue"] += int(_is_kept(somevalue).sum())
    label_rows = []
    keys = list(labels)
    for (lang, qid), keep in zip(keys, _is_kept([q for _, q in keys])):
        text = _text(labels[(lang, qid)], skipped) if keep else None
        if text:
            label_rows.append((lang, qid, text))
    decoded = {}  # a property's English label is read twice when English is chosen: decoded (and counted) once
    for raw in (*properties.values(), *property_rows.values()):
        if raw not in decoded:
            decoded[raw] = _text(raw, skipped)
    properties = {pid: decoded[raw] for pid, raw in properties.items() if decoded[raw]}
    property_rows = [(lang, pid, decoded[raw]) for (lang, pid), raw in property_rows.items() if decoded[raw]]
    return (claims, label_rows, properties, property_rows,
            {"truthy_lines": line_count, "property_labels": property_labels}, +skipped)


def _text(raw, skipped):
    try:
        return clean(ntriples.literal(raw))
    except UnicodeDecodeError:
        skipped["invalid_utf8_literal"] += 1
        return ""


def _checked(chunks, path, first_shard):
    """The decompressed chunks, once the first line that is not blank shows an N-Triples dump."""
    started, head = False, b""  # head: the start of a line not yet complete
    for chunk in chunks:
        if not started:
            *lines, head = (head + chunk).split(b"\n")
            started = _first_triple(lines, path)
        yield chunk
    if not started and not _first_triple([head], path) and first_shard:
        raise DumpError(f"{path}: no triples in the file")


def _first_triple(lines, path):
    """Whether ``lines`` hold a triple (before it, only blank or comment lines)."""
    for line in lines:
        try:
            if ntriples.parse(line) is not None:
                return True
        except ntriples.Malformed:
            raise DumpError(f"{path}: not an N-Triples dump (line {line[:80]!r})") from None
    return False


def read(path, kept, label_languages, property_languages, workers, shard, claims_file, db, counts, skipped,
         properties):
    """Read the dump (or shard I of N of it): the claims of the ``kept`` items (sorted QIDs)
    are appended to ``claims_file`` (int64 subject, property, object), their labels in
    ``label_languages`` go into the labels table of ``db``, property labels in
    ``property_languages`` into its property_labels table and English ones into
    ``properties``; ``counts`` and ``skipped`` are added to."""
    chunks = _checked(dump_chunks(path, shard), path, shard[0] == 0)
    with map_line_blocks(_read_block, chunks, workers, _init_worker,
                         (kept, label_languages, property_languages)) as results, \
            tqdm(desc="truthy triples", unit=" lines", unit_scale=True) as bar:
        for claims, label_rows, block_properties, property_rows, block_counts, block_skipped in results:
            claims.tofile(claims_file)
            sitelinks_db.add(db, labels=label_rows, property_labels=property_rows)
            properties.update(block_properties)
            counts.update(block_counts)
            skipped.update(block_skipped)
            bar.update(block_counts["truthy_lines"])
