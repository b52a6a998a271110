"""Building an entity index (``xlmk-index``): every description through the MEP key head.

The rows (descriptions.py) are cut into chunks of about ``chunk_rows`` that never split an
entity. Each chunk is encoded in batches of similar length (sorted by length, then row;
at most ``batch_tokens`` tokens with padding), normalised, and written straight into
``OUT.partial/vectors.npy`` (a memory map of the final file); then ``progress.json`` records
it. A run that is killed leaves ``OUT.partial``; the same command continues after the last
recorded chunk, and because a chunk's batches do not depend on where a run started, the
index is byte-identical to an uninterrupted build (same machine, same thread count).
``build.json`` holds the settings and fingerprints; a rerun with others is refused.
When every chunk is done, the other arrays and index.json are written and ``OUT.partial``
becomes ``OUT``.
"""

import json
import os
import shutil
import sys

import numpy as np
import torch.nn.functional as F
from tqdm import tqdm

from ..data.knowledge_dir import file_sha256
from .descriptions import data_fingerprint, description_rows, open_data, open_descriptions
from .errors import LinkingError
from .index_file import FORMAT, FORMAT_VERSION, HEADER, parse_qid, write_lines
from .labels import data_labels, read_labels
from .search import chunk_bounds, group_bounds

BUILD_FILE, PROGRESS_FILE = "build.json", "progress.json"
VECTORS = ("mep_key", "cls")
PER = ("language", "entity")


def build_index(model, data, out, vectors="mep_key", per="language", langs=None, max_tokens=256,
                batch_tokens=16384, chunk_rows=4096, labels=None, overwrite=False, progress=True):
    """Write the index of ``data``'s descriptions under ``out``; return its path."""
    out = os.path.abspath(out)
    partial = out + ".partial"
    if vectors not in VECTORS or per not in PER:
        raise LinkingError(f"--vectors must be one of {', '.join(VECTORS)} and --per one of {', '.join(PER)}")
    if min(batch_tokens, chunk_rows) < 1 or max_tokens < 3:
        raise LinkingError("--batch-tokens and --chunk-rows must be at least 1, --max-tokens at least 3")
    _check_output(out, overwrite)
    if vectors == "mep_key":
        model.require_mep_heads("build an index of <s> states instead with --vectors cls (docs/entity-linking.md)")
    kdir, chosen = open_data(data, langs)
    max_tokens = min(max_tokens, model.max_positions)
    descriptions = open_descriptions(kdir, model, max_tokens)
    rows = description_rows(kdir, descriptions, chosen)
    if len(rows.entity) == 0:
        raise LinkingError(f"{data}: no descriptions in {', '.join(chosen)}")
    entity_lines = _entity_lines(kdir.path("entities.tsv"), descriptions.num_entities)
    label_tables = data_labels(kdir)
    if labels:
        for lang, table in read_labels(labels, [parse_qid((line.split("\t") + [""])[1]) for line in entity_lines]).items():
            label_tables[lang] = {**label_tables.get(lang, {}), **table}

    starts, _ = group_bounds(rows.entity, len(rows.entity))
    chunks = chunk_bounds(len(rows.entity), chunk_rows, starts)
    out_rows = len(rows.entity) if per == "language" else len(starts)
    dim = int(model.key_vectors([[model.bos, model.eos]], vectors).shape[1])
    settings = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "vectors": vectors, "per": per, "dim": dim,
        "rows": out_rows, "descriptions": len(rows.entity), "indexed_languages": chosen, "max_tokens": max_tokens,
        "batch_tokens": batch_tokens, "chunk_rows": chunk_rows,
        "model": {"fingerprint": model.fingerprint(), "path": model.name, "kind": model.kind,
                  "query": "mep_query" if vectors == "mep_key" else "hidden state"},
        "data": {"fingerprint": data_fingerprint(kdir), "path": os.path.abspath(data),
                 "dict_sha256": file_sha256(kdir.path("dict.txt"))},
        "labels": os.path.abspath(labels) if labels else None,
    }
    done = _start_or_resume(partial, settings, (out_rows, dim))
    store = np.load(os.path.join(partial, "vectors.npy"), mmap_mode="r+")
    bar = tqdm(total=len(rows.entity), initial=chunks[done - 1][1] if done else 0, unit=" desc",
               desc="xlmk-index", disable=not progress, file=sys.stderr)
    for c in range(done, len(chunks)):
        a, b = chunks[c]
        unit = _encode(model, descriptions, rows, a, b, vectors, batch_tokens, bar)
        if per == "language":
            store[a:b] = unit.astype(np.float16)
        else:  # the mean of the entity's unit vectors, normalised again
            local = starts[(starts >= a) & (starts < b)]
            first = int(np.searchsorted(starts, a))
            means = np.add.reduceat(unit, local - a, axis=0)
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
            store[first:first + len(local)] = means.astype(np.float16)
        store.flush()
        _write_json(os.path.join(partial, PROGRESS_FILE), {"chunks_done": c + 1, "chunks": len(chunks)})
    bar.close()
    del store
    _finish(partial, out, settings, kdir, rows, starts, per, entity_lines, label_tables)
    return out


def _encode(model, descriptions, rows, a, b, vectors, batch_tokens, bar):
    """Unit vectors [b - a, dim] (float32) of rows a..b-1, in batches of similar length."""
    order = np.lexsort((np.arange(a, b), rows.length[a:b])) + a
    out = None
    for batch in _batches(order, rows.length, batch_tokens):
        seqs = [descriptions.tokens(int(rows.lang[i]), int(rows.row[i])).tolist() for i in batch]
        vecs = F.normalize(model.key_vectors(seqs, vectors), dim=-1).numpy()
        if out is None:
            out = np.empty((b - a, vecs.shape[1]), dtype=np.float32)
        out[np.asarray(batch) - a] = vecs
        bar.update(len(batch))
    return out


def _batches(order, lengths, batch_tokens):
    """Consecutive runs of ``order`` (ascending length) whose padded size fits ``batch_tokens``
    (a single longer sequence makes a batch of its own)."""
    batch = []
    for i in order:
        if batch and (len(batch) + 1) * int(lengths[i]) > batch_tokens:
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch


def _entity_lines(path, num_entities):
    """entities.tsv's lines, checked to be entity 0..E-1 in order (docs/data-format.md)."""
    if not os.path.isfile(path):
        raise LinkingError(f"{path}: missing (the data's entity table, docs/data-format.md)")
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    if len(lines) != num_entities:
        raise LinkingError(f"{path}: {len(lines)} entities, but desc/entity_offsets.npy has {num_entities}")
    for i, line in enumerate(lines):
        if line.split("\t", 1)[0] != str(i):
            raise LinkingError(f"{path} line {i + 1}: expected entity id {i} first (ids are dense and in order)")
    return lines


def _check_output(out, overwrite):
    if os.path.lexists(out):
        if not os.path.isdir(out) or not _is_index(out):
            raise LinkingError(f"{out} exists and is not an entity index written by xlmk-index: choose another --out")
        if not overwrite:
            raise LinkingError(f"{out} exists: pass --overwrite to replace it")


def _is_index(path):
    try:
        with open(os.path.join(path, HEADER), encoding="utf-8") as f:
            return json.load(f).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _start_or_resume(partial, settings, shape):
    """The number of chunks already done in ``partial`` (0 for a fresh start)."""
    if os.path.lexists(partial):
        build = os.path.join(partial, BUILD_FILE)
        if not os.path.isdir(partial) or not (os.path.isfile(build) or _is_index(partial)):
            raise LinkingError(f"{partial} exists and was not left by xlmk-index: remove it or choose another --out")
        if os.path.isfile(build):
            with open(build, encoding="utf-8") as f:
                previous = json.load(f)
            if previous == settings:
                try:
                    with open(os.path.join(partial, PROGRESS_FILE), encoding="utf-8") as f:
                        done = int(json.load(f)["chunks_done"])
                except (OSError, ValueError, KeyError):
                    done = 0
                print(f"xlmk-index: continuing {partial} after {done} finished chunks", file=sys.stderr)
                return done
            differing = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise LinkingError(f"{partial} is an unfinished build with other {', '.join(differing)}: rerun it "
                               f"with its settings to finish it, or remove it to start over")
        shutil.rmtree(partial)  # finished but not renamed: build it again
    os.makedirs(partial)
    _write_json(os.path.join(partial, BUILD_FILE), settings)
    np.lib.format.open_memmap(os.path.join(partial, "vectors.npy"), mode="w+", dtype=np.float16, shape=shape).flush()
    return 0


def _finish(partial, out, settings, kdir, rows, starts, per, entity_lines, label_tables):
    if per == "language":
        entity, lang = rows.entity, rows.lang
    else:
        entity, lang = rows.entity[starts], np.full(len(starts), -1, dtype=np.int16)
    np.save(os.path.join(partial, "entity.npy"), np.ascontiguousarray(entity, dtype=np.int64))
    np.save(os.path.join(partial, "lang.npy"), np.ascontiguousarray(lang, dtype=np.int16))
    fields = [line.split("\t") for line in entity_lines]
    np.save(os.path.join(partial, "qid.npy"), np.asarray([parse_qid(f[1] if len(f) > 1 else "") for f in fields],
                                                         dtype=np.int64))
    write_lines(os.path.join(partial, "entities.tsv"), entity_lines)
    if label_tables:
        os.makedirs(os.path.join(partial, "labels"), exist_ok=True)
    for lang_name, table in sorted(label_tables.items()):
        write_lines(os.path.join(partial, "labels", f"{lang_name}.tsv"),
                    (table.get(i, "") for i in range(len(entity_lines))))
    header = {**settings, "entities": int(len(starts)), "dtype": "float16", "normalized": True,
              "languages": list(kdir.languages), "label_languages": sorted(label_tables)}
    _write_json(os.path.join(partial, HEADER), header)
    for name in (PROGRESS_FILE, BUILD_FILE):
        os.remove(os.path.join(partial, name))
    old = None
    if os.path.lexists(out):
        old = out + ".replaced"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(partial, out)
    if old:
        shutil.rmtree(old)


def _write_json(path, data):
    """Written beside ``path`` and renamed: a kill never leaves half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
