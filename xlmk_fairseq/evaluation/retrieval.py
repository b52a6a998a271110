"""Cross-lingual entity retrieval from the descriptions of the data directory (docs/probing.md).

Every description is embedded as the final hidden state at <s> ("cls") and, for XLM-K
checkpoints, through the MEP key head ("mep_key"). For an ordered language pair (a, b), each
entity with descriptions in both is a query: its a-description ranks every entity's
b-description by cosine similarity; the metrics are accuracy@1 and mean reciprocal rank of
its own b-description. The ranking is the exact chunked search of xlmk-link
(``linking/search.py``): no entities x entities matrix, so it scales with the data.
"""

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.entity_descriptions import EntityDescriptions
from ..data.knowledge_dir import KnowledgeDir
from ..errors import ConfigError
from ..linking.search import exact_search

NO_MEP_KEY = "the model has no XLM-K knowledge heads (a masked_lm checkpoint or a Hugging Face directory)"


class RetrievalError(ValueError):
    pass


def rank_metrics(similarity, gold):
    """accuracy@1 and MRR of queries (rows of ``similarity``) whose right candidate is
    column ``gold[i]``. Rank = the number of candidates scored at least as high as the right
    one (itself included): ties count against it, so constant embeddings score 0, not 1."""
    similarity = torch.as_tensor(similarity, dtype=torch.float64)
    gold = torch.as_tensor(gold, dtype=torch.long)
    right = similarity[torch.arange(len(gold)), gold]
    return _metrics((similarity >= right[:, None]).sum(dim=1))


def _metrics(ranks):
    return {"acc@1": float((ranks == 1).double().mean()), "mrr": float((1.0 / ranks).mean()), "n": len(ranks)}


def search_metrics(queries, candidates, gold):
    """accuracy@1 and MRR of query vectors whose right candidate is row ``gold[i]`` of
    ``candidates``, ranked as ``rank_metrics`` ranks (ties count against the right one) by the
    shared chunked search instead of a full similarity matrix."""
    return _metrics(exact_search(queries, candidates, k=0, gold=gold).ranks)


def description_tokens(data, scorer, langs=None, max_tokens=256):
    """{lang: {entity id: <s> tokens </s>}}, the first description of each entity in
    each language, cut to ``max_tokens`` as the task cuts them."""
    try:
        kdir = KnowledgeDir(data)
        chosen = kdir.select_languages(",".join(langs or ()))
        descriptions = EntityDescriptions(kdir, scorer.bos, scorer.eos, scorer.vocab_size, max_tokens)
    except ConfigError as e:
        raise RetrievalError(e.message) from None
    offsets = np.asarray(descriptions.offsets)
    entity_of_row = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    tokens = {lang: {} for lang in chosen}
    for entity, lang, row in zip(entity_of_row.tolist(), descriptions.desc_lang.tolist(),
                                 descriptions.desc_row.tolist()):
        name = kdir.languages[lang]
        if name in tokens and entity not in tokens[name]:
            tokens[name][entity] = descriptions.tokens(lang, row).tolist()
    return tokens


def embed(scorer, sequences, batch_size=32):
    """{"cls": [N, C], "mep_key": [N, D] (XLM-K checkpoints only)}, batches of similar length."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    parts = {"cls": [], "mep_key": []}
    for start in tqdm(range(0, len(order), batch_size), desc="embedding descriptions", leave=False):
        cls = scorer.cls_features([sequences[i] for i in order[start:start + batch_size]])
        parts["cls"].append(cls)
        if scorer.has_knowledge_heads:
            parts["mep_key"].append(scorer.mep_keys(cls))
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.as_tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return {name: torch.cat(p)[inverse] for name, p in parts.items() if p}


def evaluate_retrieval(scorer, data, langs=None, max_tokens=256, batch_size=32):
    """The "retrieval" part of the results: per embedding, per ordered pair and averaged.
    Descriptions are cut to ``max_tokens`` or to the model's length limit if that is shorter."""
    max_tokens = min(max_tokens, scorer.max_positions)
    tokens = description_tokens(data, scorer, langs, max_tokens)
    keys = [(lang, e) for lang, per_entity in tokens.items() for e in per_entity]
    if not keys:
        raise RetrievalError(f"{data}: no descriptions in the chosen languages")
    vectors = embed(scorer, [tokens[lang][e] for lang, e in keys], batch_size)
    row_of = {key: i for i, key in enumerate(keys)}
    results = {"max_tokens": max_tokens}
    for method in ("cls", "mep_key"):
        if method not in vectors:
            results[method] = {"skipped": NO_MEP_KEY}
            continue
        unit = F.normalize(vectors[method].double(), dim=-1)
        pairs = {}
        for a, b in itertools.permutations(tokens, 2):
            candidates = sorted(tokens[b])
            queries = [e for e in sorted(tokens[a]) if e in tokens[b]]
            if not queries:
                continue
            q = unit[[row_of[(a, e)] for e in queries]]
            c = unit[[row_of[(b, e)] for e in candidates]]
            column = {e: j for j, e in enumerate(candidates)}
            pairs[f"{a}-{b}"] = {**search_metrics(q, c, [column[e] for e in queries]), "candidates": len(candidates)}
        results[method] = {"pairs": pairs, "average": {
            metric: (sum(p[metric] for p in pairs.values()) / len(pairs) if pairs else None)
            for metric in ("acc@1", "mrr")}}
    return results
