"""The data side of an index: which descriptions it encodes, and the data's fingerprint.

One row per (entity, language): the entity's first description in that language, as
xlmk-probe's retrieval and the MEP task read descriptions (desc/ of docs/data-format.md).
Rows are ordered by entity id, then by the language's place in manifest.json, so an entity's
rows are adjacent and ties between entities break towards the lower id.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..data.entity_descriptions import EntityDescriptions
from ..data.knowledge_dir import KnowledgeDir, file_sha256
from ..errors import ConfigError
from .errors import LinkingError


@dataclass
class DescriptionRows:
    entity: np.ndarray   # int64 [R], non-decreasing
    lang: np.ndarray     # int16 [R], index into kdir.languages
    row: np.ndarray      # int64 [R], item of desc/<lang>
    length: np.ndarray   # int64 [R], tokens with <s> and </s>, after the cut to max_tokens


def open_data(data, langs=None):
    """KnowledgeDir and the chosen languages, with the data's errors as LinkingError."""
    try:
        kdir = KnowledgeDir(data)
        return kdir, kdir.select_languages(",".join(langs or ()))
    except ConfigError as e:
        raise LinkingError(e.message) from None


def open_descriptions(kdir, model, max_tokens):
    try:
        return EntityDescriptions(kdir, model.bos, model.eos, model.vocab_size, max_tokens)
    except ConfigError as e:
        raise LinkingError(e.message) from None


def description_rows(kdir, descriptions, chosen):
    """The index's rows: per entity and chosen language, its first description there."""
    offsets = np.asarray(descriptions.offsets, dtype=np.int64)
    desc_lang = np.asarray(descriptions.desc_lang, dtype=np.int64)
    desc_row = np.asarray(descriptions.desc_row, dtype=np.int64)
    entity = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    wanted = np.isin(desc_lang, [kdir.languages.index(x) for x in chosen])
    key = entity * len(kdir.languages) + desc_lang
    key[~wanted] = -1
    _, first = np.unique(key, return_index=True)  # sorted by (entity, language)
    first = first[key[first] >= 0]
    lengths = np.zeros(len(first), dtype=np.int64)
    langs = desc_lang[first]
    for li, texts in enumerate(descriptions.texts):
        sel = langs == li
        if sel.any():
            sizes = np.asarray(texts.sizes, dtype=np.int64)[desc_row[first[sel]]]
            lengths[sel] = np.minimum(sizes, descriptions.max_tokens - 2) + 2
    return DescriptionRows(entity[first], langs.astype(np.int16), desc_row[first], lengths)


def data_fingerprint(kdir):
    """sha256 over the data's languages and the files an index depends on: dict.txt,
    entities.tsv and every description file. Another data directory with the same bytes
    has the same fingerprint."""
    h = hashlib.sha256(json.dumps(kdir.languages).encode())
    names = ["dict.txt", "entities.tsv", "desc/entity_offsets.npy", "desc/desc_lang.npy", "desc/desc_row.npy"]
    names += [f"desc/{lang}.{ext}" for lang in kdir.languages for ext in ("idx", "bin")]
    try:
        kdir.require(*(kdir.path(n) for n in names))
    except ConfigError as e:
        raise LinkingError(e.message) from None
    for name in names:
        h.update(f"{name}\0{file_sha256(kdir.path(name))}\n".encode())
    return h.hexdigest()
