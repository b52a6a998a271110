"""Object Entailment examples: (subject description, relation, object description).

The subject's description is in one language and the object's in another whenever the
object has a description in a language other than the subject's (the paper's setting).
"""

import numpy as np
from fairseq.data import FairseqDataset

from ..errors import ConfigError


class ObjectEntailmentDataset(FairseqDataset):
    def __init__(self, triples, descriptions, num_relations, seed=1, name="oe"):
        super().__init__()
        self.triples, self.descriptions, self.seed = triples, descriptions, seed
        self.epoch = 1
        if triples.ndim != 2 or triples.shape[1] != 3:
            raise ConfigError(f"{name}: expected an int array of shape [T, 3], got {triples.shape}")
        if len(triples):
            s, r, o = (np.asarray(triples[:, i], dtype=np.int64) for i in range(3))
            n = descriptions.num_entities
            if min(s.min(), o.min()) < 0 or max(s.max(), o.max()) >= n:
                raise ConfigError(f"{name}: entity ids must lie in 0..{n - 1}")
            if r.min() < 0 or r.max() >= num_relations:
                raise ConfigError(
                    f"{name}: relation ids must lie in 0..{num_relations - 1} (relations.tsv)"
                )
            if (descriptions.count(s) == 0).any() or (descriptions.count(o) == 0).any():
                raise ConfigError(f"{name}: some triples have an entity without a description")
        self.sizes = np.full(len(triples), 2 * descriptions.max_tokens, dtype=np.int64)

    def set_epoch(self, epoch):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return False

    def __len__(self):
        return len(self.triples)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s, r, o = (int(x) for x in self.triples[index])
        s_lang, s_row = self.descriptions.choose(s, rng)
        o_lang, o_row = self.descriptions.choose(o, rng, other_than_lang=s_lang)
        return {"subject": self.descriptions.tokens(s_lang, s_row), "relation": r,
                "object": self.descriptions.tokens(o_lang, o_row), "entity": o}

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])
