"""Every entity description as a token sequence: the text of the "w/o knowledge tasks"
ablation, which trains MLM on the descriptions instead of the knowledge losses."""

import numpy as np
from fairseq.data import FairseqDataset


class DescriptionDataset(FairseqDataset):
    def __init__(self, descriptions):
        super().__init__()
        self.descriptions = descriptions
        langs = np.asarray(descriptions.desc_lang)
        rows = np.asarray(descriptions.desc_row)
        sizes = np.zeros(len(rows), dtype=np.int64)
        for lang, texts in enumerate(descriptions.texts):
            here = langs == lang
            sizes[here] = np.asarray(texts.sizes)[rows[here]]
        self.sizes = np.minimum(sizes, descriptions.max_tokens - 2) + 2

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        d = self.descriptions
        return d.tokens(int(d.desc_lang[index]), int(d.desc_row[index]))

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])
