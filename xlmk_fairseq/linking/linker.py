"""``EntityLinker``: mentions -> MEP queries -> the index's top-k entities.

    from xlmk_fairseq.linking import EntityIndex, EntityLinker, load_model
    index = EntityIndex.load("runs/index")
    linker = EntityLinker(index, load_model("hf_export"))
    linker.link_texts(["Die Hauptstadt ist [[Berlin]]."], k=5)   # [[{"qid", "label", "score", "entity"}, ...]]

The model must be the one the index was built with (fingerprints are compared). Query
vectors are unit length, so scores are cosine similarities.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .errors import LinkingError
from .queries import MENTION_MODES, build_query, parse_marked

QUERY_BATCH_TOKENS = 16384


class EntityLinker:
    def __init__(self, index, model, mention="mask", max_tokens=None, approximate=None, check_model=True):
        if mention not in MENTION_MODES:
            raise LinkingError(f"--mention must be one of {', '.join(MENTION_MODES)}")
        if index.vectors_kind == "mep_key":
            model.require_mep_heads(f"{index.path} holds MEP keys, which only the MEP query head can search")
        if check_model:
            index.check_model(model.fingerprint(), model.name)
        self.index, self.model, self.mention, self.approximate = index, model, mention, approximate
        self.max_tokens = min(max_tokens or int(index.header["max_tokens"]), model.max_positions)

    # ---- queries ------------------------------------------------------------------------------

    def query_of(self, mention):
        """(tokens, position) of a ``Mention``: tokenised whole, its span mapped onto tokens."""
        ids, span = self.model.tokenize_with_span(mention.text, mention.start, mention.end)
        return build_query(ids, span, self.model, self.max_tokens, self.mention)

    def query_of_tokens(self, ids, span):
        """(tokens, position) of a sentence already in token ids (the data's MEP sentences)."""
        return build_query(list(ids), span, self.model, self.max_tokens, self.mention)

    def encode(self, queries, batch_tokens=QUERY_BATCH_TOKENS):
        """Unit query vectors [Q, dim] of (tokens, position) pairs, in batches of similar length."""
        order = sorted(range(len(queries)), key=lambda i: (len(queries[i][0]), i))
        out = torch.empty((len(queries), self.index.dim), dtype=torch.float32)
        batch = []

        def flush():
            seqs = [queries[i][0] for i in batch]
            vecs = self.model.query_vectors(seqs, [queries[i][1] for i in batch], self.index.vectors_kind)
            if vecs.size(1) != self.index.dim:
                raise LinkingError(f"the model's vectors have {vecs.size(1)} dimensions, the index's {self.index.dim}")
            out[batch] = F.normalize(vecs, dim=-1)

        for i in order:
            if batch and (len(batch) + 1) * len(queries[i][0]) > batch_tokens:
                flush()
                batch = []
            batch.append(i)
        if batch:
            flush()
        return out

    # ---- linking ------------------------------------------------------------------------------

    def search(self, vectors, k=10, gold=None):
        return self.index.search(vectors, k, gold=gold, approximate=self.approximate)

    def link(self, mentions, k=10, label_lang=None):
        """Top-k candidates of each ``Mention``: [[{"entity", "qid", "label", "score"}]]."""
        if not mentions:
            return []
        result = self.search(self.encode([self.query_of(m) for m in mentions]), k)
        return self.describe(result, label_lang)

    def link_texts(self, texts, k=10, label_lang=None):
        """Texts with one [[mention]] each."""
        return self.link([parse_marked(t) for t in texts], k, label_lang)

    def describe(self, result, label_lang=None):
        out = []
        for ids, scores in zip(result.ids.tolist(), result.scores.tolist()):
            out.append([{"entity": e, "qid": self.index.qid(e), "label": self.index.label(e, label_lang),
                         "score": round(float(s), 6)} for e, s in zip(ids, scores) if e >= 0 and np.isfinite(s)])
        return out
