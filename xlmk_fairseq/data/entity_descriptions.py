"""Lazy access to the multilingual entity descriptions (desc/ in the data directory).

Entity e has descriptions at rows offsets[e] .. offsets[e+1]-1 of ``desc_lang`` and
``desc_row``; all arrays are memory-mapped, so a 10M-entity index costs no start-up time.
"""

import numpy as np
import torch

from ..errors import ConfigError


class EntityDescriptions:
    def __init__(self, kdir, bos, eos, vocab_size, max_tokens):
        self.offsets = kdir.npy("desc", "entity_offsets.npy")
        self.desc_lang = kdir.npy("desc", "desc_lang.npy")
        self.desc_row = kdir.npy("desc", "desc_row.npy")
        if (self.offsets.ndim != 1 or len(self.offsets) == 0 or len(self.desc_lang) != len(self.desc_row)
                or int(self.offsets[-1]) != len(self.desc_row)):
            raise ConfigError(
                f"{kdir.path('desc')}: entity_offsets.npy, desc_lang.npy and desc_row.npy "
                "do not agree in length"
            )
        self.texts = [kdir.indexed("desc", lang) for lang in kdir.languages]
        for lang, texts in zip(kdir.languages, self.texts):
            kdir.check_token_ids(texts, kdir.path("desc", f"{lang}.bin"), vocab_size)
        self._check_index(kdir)
        self.bos, self.eos = bos, eos
        self.max_tokens = max_tokens  # including <s> and </s>

    def _check_index(self, kdir):
        """Offsets, languages and rows must point at existing descriptions (vectorised over
        the memory maps: 1.5 s for 10M entities, bench_data_checks.py); a bad one would otherwise surface
        mid-run as an IndexError on whichever batch first draws it."""
        offsets = np.asarray(self.offsets, dtype=np.int64)
        if offsets[0] != 0 or (np.diff(offsets) < 0).any():
            bad = 0 if offsets[0] != 0 else int(np.flatnonzero(np.diff(offsets) < 0)[0]) + 1
            raise ConfigError(
                f"{kdir.path('desc', 'entity_offsets.npy')}: offsets must start at 0 and never "
                f"decrease; entry {bad} is {offsets[bad]}"
            )
        langs = np.asarray(self.desc_lang, dtype=np.int64)
        rows = np.asarray(self.desc_row, dtype=np.int64)
        bad_lang = (langs < 0) | (langs >= len(self.texts))
        if bad_lang.any():
            i = int(np.flatnonzero(bad_lang)[0])
            raise ConfigError(
                f"{kdir.path('desc', 'desc_lang.npy')}: entry {i} is language {langs[i]}, but "
                f"manifest.json lists {len(self.texts)} languages"
            )
        counts = np.array([len(t) for t in self.texts], dtype=np.int64)
        bad_row = (rows < 0) | (rows >= counts[langs])
        if bad_row.any():
            i = int(np.flatnonzero(bad_row)[0])
            lang = kdir.languages[langs[i]]
            raise ConfigError(
                f"{kdir.path('desc', 'desc_row.npy')}: entry {i} (entity "
                f"{int(np.searchsorted(offsets, i, side='right')) - 1}) points at item {rows[i]} "
                f"of desc/{lang}, which has {counts[langs[i]]} items"
            )

    @property
    def num_entities(self):
        return len(self.offsets) - 1

    def count(self, entities):
        """Number of descriptions of each entity in ``entities`` (an int array)."""
        entities = np.asarray(entities, dtype=np.int64)
        return np.asarray(self.offsets[entities + 1]) - np.asarray(self.offsets[entities])

    def choose(self, entity, rng, other_than_lang=None, prefer_lang=None):
        """Pick one description of ``entity``; returns (language index, row).

        ``other_than_lang``: prefer a description in another language (the cross-lingual
        setting of the paper); ``prefer_lang``: prefer this language ("w/o multilingual
        description"). Either falls back to any description when no such one exists.
        """
        start, end = int(self.offsets[entity]), int(self.offsets[entity + 1])
        if end <= start:
            raise IndexError(f"entity {entity} has no description")
        langs = np.asarray(self.desc_lang[start:end])
        if other_than_lang is not None:
            pool = np.flatnonzero(langs != other_than_lang)
        elif prefer_lang is not None:
            pool = np.flatnonzero(langs == prefer_lang)
        else:
            pool = np.arange(end - start)
        if len(pool) == 0:
            pool = np.arange(end - start)
        i = start + int(pool[rng.integers(len(pool))])
        return int(self.desc_lang[i]), int(self.desc_row[i])

    def tokens(self, lang, row):
        """<s> description </s>, cut to ``max_tokens``."""
        body = self.texts[lang][row][: self.max_tokens - 2]
        return torch.cat([body.new_tensor([self.bos]), body, body.new_tensor([self.eos])])

    def size(self, lang, row):
        return min(int(self.texts[lang].sizes[row]), self.max_tokens - 2) + 2
