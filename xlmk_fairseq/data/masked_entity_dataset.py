"""Masked Entity Prediction examples: a sentence with one linked mention masked.

An example is the sentence with every token of one mention replaced by <mask> (cut to a
window around the mention when it is too long; a mention longer than the window keeps its
first tokens, so the query still reads the mention's first token), the position of the mention's first token,
and one description of the mentioned entity: in another language than the sentence when
the entity has one (the paper's cross-lingual setting), else in the same language.
"""

import numpy as np
import torch
from fairseq.data import FairseqDataset

from ..errors import ConfigError


class MaskedEntityDataset(FairseqDataset):
    def __init__(self, sentences, mentions, mentions_bin, lang, descriptions, dictionary, mask_idx,
                 max_tokens, cross_lingual=True, seed=1, name="mep"):
        super().__init__()
        self.sentences, self.mentions = sentences, mentions
        self.lang, self.descriptions = lang, descriptions
        self.bos, self.eos, self.mask_idx = dictionary.bos(), dictionary.eos(), mask_idx
        self.max_tokens, self.cross_lingual, self.seed = max_tokens, cross_lingual, seed
        self.epoch = 1
        self._validate(name, mentions_bin)
        # token cost for batching: the sentence plus, as an estimate, a full description
        query = np.minimum(np.asarray(sentences.sizes, dtype=np.int64) + 2, max_tokens)
        self.sizes = query + descriptions.max_tokens

    def _validate(self, name, mentions_bin):
        if len(self.sentences) != len(self.mentions):
            raise ConfigError(
                f"{name}: {len(self.sentences)} sentences but {len(self.mentions)} mention lists"
            )
        counts = np.asarray(self.mentions.sizes, dtype=np.int64)
        if (counts % 3).any() or (counts == 0).any():
            raise ConfigError(f"{name}: every sentence needs one or more (start, end, entity) triples")
        flat = np.memmap(mentions_bin, dtype=np.int32, mode="r") if counts.sum() else np.zeros(0, np.int32)
        if len(flat) != counts.sum():
            raise ConfigError(f"{name}: the mentions file is not int32 (see docs/data-format.md)")
        triples = flat.reshape(-1, 3)
        lengths = np.repeat(np.asarray(self.sentences.sizes, dtype=np.int64), counts // 3)
        start, end, entity = triples[:, 0], triples[:, 1], triples[:, 2]
        bad_span = (start < 0) | (end <= start) | (end > lengths)
        if bad_span.any():
            i = int(np.flatnonzero(bad_span)[0])
            raise ConfigError(f"{name}: mention {i} has span [{start[i]}, {end[i]}) outside its sentence")
        n = self.descriptions.num_entities
        if ((entity < 0) | (entity >= n)).any():
            raise ConfigError(f"{name}: mention entity ids must lie in 0..{n - 1}")
        if (self.descriptions.count(entity) == 0).any():
            raise ConfigError(f"{name}: some mentioned entities have no description")

    def set_epoch(self, epoch):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return False

    def __len__(self):
        return len(self.sentences)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        tokens = self.sentences[index]
        triples = self.mentions[index].view(-1, 3)
        start, end, entity = (int(x) for x in triples[rng.integers(len(triples))])
        masked = tokens.clone()
        masked[start:end] = self.mask_idx
        body = self.max_tokens - 2
        if len(masked) > body:  # keep a window around the mention, centred when it fits
            left = max(0, min(start - (body - (end - start)) // 2, len(masked) - body))
            left = min(left, start)  # a mention longer than the window: its first tokens
            masked, start = masked[left : left + body], start - left
        query = torch.cat([masked.new_tensor([self.bos]), masked, masked.new_tensor([self.eos])])
        lang, row = self.descriptions.choose(
            entity, rng,
            other_than_lang=self.lang if self.cross_lingual else None,
            prefer_lang=None if self.cross_lingual else self.lang,
        )
        return {"query": query, "pos": start + 1, "entity": entity,
                "key": self.descriptions.tokens(lang, row)}

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])
