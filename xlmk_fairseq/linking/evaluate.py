"""Linking accuracy (``xlmk-link eval``): accuracy@1, accuracy@10 and MRR per language.

Every mention is a query ranked against all entities of the index (an entity's score is its
best row). The rank of the gold entity is 1 + the number of other entities scoring at least
as high (ties count against it); a gold entity that is not in the index (no description in
the indexed languages, or a QID the data lacks) is a miss, counted as ``not_in_index``.
``average`` is the macro-average over languages, ``all`` pools every query.
"""

import collections

import numpy as np
import torch

from ..errors import ConfigError
from .descriptions import data_fingerprint, open_data
from .errors import LinkingError
from .search import rank_metrics_from_ranks

AT = (1, 10)
BLOCK = 8192  # queries encoded and searched together


def data_mep_sets(data, langs=None, split="valid"):
    """{lang: [(token ids, (start, end), entity id)]}: every mention of mep/<lang>/<split>
    (the data's held-out MEP sentences by default) with its sentence."""
    kdir, chosen = open_data(data, langs)
    out = {}
    try:
        for lang in chosen:
            sentences = kdir.indexed("mep", lang, split)
            mentions = kdir.indexed("mep", lang, f"{split}.mentions")
            items = []
            for i in range(len(sentences)):
                tokens = sentences[i].tolist()
                for start, end, entity in mentions[i].view(-1, 3).tolist():
                    if not 0 <= start < end <= len(tokens):
                        raise LinkingError(f"mep/{lang}/{split} item {i}: mention span [{start}, {end}) "
                                           f"outside its sentence")
                    items.append((tokens, (start, end), entity))
            out[lang] = items
    except ConfigError as e:
        raise LinkingError(e.message) from None
    return kdir, out


def check_index_data(index, kdir):
    index.check_data(data_fingerprint(kdir), kdir.root)


def rank_queries(linker, queries, gold, k=10, progress=None):
    """Ranks of the gold entities (0: not found) for (tokens, position) queries."""
    ranks = []
    for a in range(0, len(queries), BLOCK):
        vectors = linker.encode(queries[a:a + BLOCK])
        result = linker.search(vectors, k=max(k, max(AT)), gold=gold[a:a + BLOCK])
        ranks.append(result.ranks)
        if progress:
            progress(min(a + BLOCK, len(queries)))
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def evaluate_set(linker, per_language, k=10):
    """per_language: {lang: (queries, gold entity ids)} -> the set's results."""
    languages, pooled = {}, []
    for lang, (queries, gold) in per_language.items():
        gold = np.asarray(gold, dtype=np.int64)
        ranks = rank_queries(linker, queries, gold, k)
        languages[lang] = {**rank_metrics_from_ranks(ranks, AT), "not_in_index": _absent(linker, gold)}
        pooled.append(ranks)
    scored = {lang: m for lang, m in languages.items() if m["n"]}
    average = {metric: (sum(m[metric] for m in scored.values()) / len(scored) if scored else None)
               for metric in [f"acc@{a}" for a in AT] + ["mrr"]}
    everything = rank_metrics_from_ranks(torch.cat(pooled) if pooled else torch.zeros(0, dtype=torch.long), AT)
    return {"languages": languages, "average": average, "all": everything}


def _absent(linker, gold):
    """Gold entities without a row in the index (rank 0 for that reason; with approximate
    search rank 0 also means 'not among the k returned')."""
    present = np.isin(gold, np.asarray(linker.index.groups.ids))
    return int((~present).sum())


def mention_set(linker, mentions_by_lang, skipped=None):
    """{lang: [Mention]} with gold QIDs -> ({lang: (queries, gold)}, skipped counts)."""
    skipped = {lang: collections.Counter(s) for lang, s in (skipped or {}).items()}
    out = {}
    for lang, mentions in mentions_by_lang.items():
        counts = skipped.setdefault(lang, collections.Counter())
        queries, qids = [], []
        for m in mentions:
            if not m.qid:
                counts["no_qid"] += 1
                continue
            try:
                queries.append(linker.query_of(m))
            except LinkingError:
                counts["mention_without_tokens"] += 1
                continue
            qids.append(m.qid)
        out[lang] = (queries, linker.index.entities_of_qids(qids))
    return out, {lang: dict(c) for lang, c in skipped.items() if c}


def markdown(results):
    """One table per evaluation set: language, acc@1, acc@10, MRR, queries, not in index."""
    lines = []
    for name, part in results["sets"].items():
        lines += ["", f"| {name} | acc@1 | acc@10 | MRR | queries | not in index |", "|---|---|---|---|---|---|"]
        for lang, m in part["languages"].items():
            lines.append(f"| {lang} | {_pct(m['acc@1'])} | {_pct(m['acc@10'])} | {_pct(m['mrr'])} | {m['n']} | "
                         f"{m['not_in_index']} |")
        avg, every = part["average"], part["all"]
        lines.append(f"| **average** | {_pct(avg['acc@1'])} | {_pct(avg['acc@10'])} | {_pct(avg['mrr'])} | | |")
        lines.append(f"| **all** | {_pct(every['acc@1'])} | {_pct(every['acc@10'])} | {_pct(every['mrr'])} | "
                     f"{every['n']} | |")
        for lang, counts in (part.get("skipped") or {}).items():
            lines.append(f"\nskipped ({lang}): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    chance = results.get("chance")
    if chance:
        lines.append(f"\nchance over {results['entities']} entities: acc@1 {_pct(chance['acc@1'])}, "
                     f"acc@10 {_pct(chance['acc@10'])}")
    return "\n".join(lines).lstrip("\n")


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f}"
