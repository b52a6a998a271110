"""Lazy access to the multilingual entity descriptions (desc/ in the data directory).

Entity e has descriptions at rows offsets[e] .. offsets[e+1]-1 of ``desc_lang`` and
``desc_row``; all arrays are memory-mapped, so a 10M-entity index costs no start-up time.
"""

import numpy as np
import torch

from ..errors import ConfigError


class EntityDescriptions:
    def __init__(self, kdir, dictionary, max_tokens):
        self.offsets = kdir.npy("desc", "entity_offsets.npy")
        self.desc_lang = kdir.npy("desc", "desc_lang.npy")
        self.desc_row = kdir.npy("desc", "desc_row.npy")
        if len(self.desc_lang) != len(self.desc_row) or int(self.offsets[-1]) != len(self.desc_row):
            raise ConfigError(
                f"{kdir.path('desc')}: entity_offsets.npy, desc_lang.npy and desc_row.npy "
                "do not agree in length"
            )
        self.texts = [kdir.indexed("desc", lang) for lang in kdir.languages]
        self.bos, self.eos = dictionary.bos(), dictionary.eos()
        self.max_tokens = max_tokens  # including <s> and </s>

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
