"""Precision at one of a masked language model on a probe set, in two modes (docs/probing.md).

``probe_lama``: one [MASK] in place of the object, which must be one vocabulary item; the
model ranks the vocabulary (or a common vocabulary) at the mask (Petroni et al. 2019).
``probe_typed``: mLAMA's typed querying (Kassner et al. 2021): each candidate object is put
in with as many masks as it has tokens and scored by the mean log-probability of its tokens.

Both count a fact right when its object ranks first once the subject's *other* valid objects
(the relation's other facts with the same subject) are taken out of the ranking.

Works with any scorer: an object with ``tokenize(text) -> [ids]`` (no special tokens),
``bos``, ``eos``, ``mask``, ``special_ids``, ``vocab_size``, ``max_positions`` and
``mask_log_probs(sequences) -> [tensor [masks in sequence i, vocab]]`` (log-softmax at the
positions holding ``mask``, in order).
"""

import collections

import torch
from tqdm import tqdm


class Tally:
    """Facts scored, right, and skipped by reason, for one relation."""

    def __init__(self):
        self.n, self.right, self.skipped = 0, 0, collections.Counter()

    def skip(self, reason, count=1):
        self.skipped[reason] += count

    def add(self, right):
        self.n += 1
        self.right += int(right)

    def result(self, **extra):
        return {"p_at_1": self.right / self.n if self.n else None, "n": self.n,
                "skipped": sum(self.skipped.values()), "skipped_by_reason": dict(sorted(self.skipped.items())),
                **extra}


def macro_average(results):
    """Mean P@1 over the relations that have at least one scored fact (None if none has)."""
    values = [r["p_at_1"] for r in results.values() if r["n"]]
    return sum(values) / len(values) if values else None


def query_tokens(scorer, left, right, num_masks):
    """<s> tokens(left) <mask> x num_masks tokens(right) </s>.

    The text on either side of the object slot is tokenised on its own, so that the slot
    starts a word: with a template that has spaces around [Y] (as "[X] ... [Y] ."), this is
    exactly the tokenisation of the whole sentence with the object filled in.
    """
    return [scorer.bos, *scorer.tokenize(left), *[scorer.mask] * num_masks, *scorer.tokenize(right), scorer.eos]


def vocabulary_filter(scorer, common_vocab=None):
    """Bool [vocab]: the items LAMA mode may predict (no special symbols; with
    ``common_vocab``, a list of words, only those words that are one vocabulary item)."""
    if common_vocab is None:
        allowed = torch.ones(scorer.vocab_size, dtype=torch.bool)
    else:
        allowed = torch.zeros(scorer.vocab_size, dtype=torch.bool)
        ids = [single_token(scorer, word) for word in common_vocab]
        allowed[[i for i in ids if i is not None]] = True
    allowed[sorted(scorer.special_ids)] = False
    return allowed


def single_token(scorer, text):
    """The one vocabulary item ``text`` is tokenised to (word-initial), else None."""
    ids = scorer.tokenize(text)
    return ids[0] if len(ids) == 1 else None


def probe_lama(scorer, relations, allowed, batch_size=32, max_facts=None, desc=""):
    """{relation: result} in LAMA mode; ``allowed`` from ``vocabulary_filter``."""
    results = {}
    for name, relation in relations.items():
        tally, valid = Tally(), relation.valid_objects()
        queries, sequences = [], {}
        for fact in relation.facts[:max_facts]:
            gold = single_token(scorer, fact.obj_label)
            if gold is None:
                tally.skip("object_not_single_token")
                continue
            if not allowed[gold]:
                tally.skip("object_not_in_vocabulary")
                continue
            slot = relation.query(fact)
            if slot is None:
                tally.skip("no_query")
                continue
            tokens = tuple(query_tokens(scorer, *slot, 1))
            if len(tokens) > scorer.max_positions:
                tally.skip("query_too_long")
                continue
            others = {single_token(scorer, label) for label in valid[fact.subject_key] - {fact.obj_label}}
            queries.append((sequences.setdefault(tokens, len(sequences)), gold, others - {None, gold}))
        # the best 1 + (most valid objects excluded) items of each query, not a vocabulary row
        depth = collections.Counter()
        for i, _, others in queries:
            depth[i] = max(depth[i], 1 + len(others))
        best = {}
        for i, log_probs in _log_probs(scorer, list(sequences), batch_size, f"{desc}{name}"):
            top = log_probs[0].masked_fill(~allowed, float("-inf")).topk(depth[i])
            best[i] = [t for _, t in sorted(zip((-top.values).tolist(), top.indices.tolist()))]
        for i, gold, others in queries:
            tally.add(next(t for t in best[i] if t not in others) == gold)
        results[name] = tally.result()
    return results


def probe_typed(scorer, relations, batch_size=32, max_facts=None, desc=""):
    """{relation: result} in mLAMA's typed querying mode."""
    results = {}
    for name, relation in relations.items():
        tally, valid = Tally(), relation.valid_objects()
        labels = relation.candidates or list(dict.fromkeys(f.obj_label for f in relation.facts))
        candidates = {label: ids for label, ids in ((x, scorer.tokenize(x)) for x in labels) if ids}
        index = {label: j for j, label in enumerate(candidates)}
        longest = max((len(ids) for ids in candidates.values()), default=0)
        groups = {}  # (subject, left, right) -> facts asked with that query
        for fact in relation.facts[:max_facts]:
            slot = relation.query(fact)
            if fact.obj_label not in index:
                tally.skip("object_not_in_candidates")
            elif slot is None:
                tally.skip("no_query")
            elif len(query_tokens(scorer, *slot, longest)) > scorer.max_positions:
                tally.skip("query_too_long")
            else:
                groups.setdefault((fact.subject_key, *slot), []).append(fact)
        sequences = [query_tokens(scorer, left, right, len(ids))
                     for _, left, right in groups for ids in candidates.values()]
        targets = [torch.tensor(ids) for ids in candidates.values()]
        scores = torch.empty(len(groups) * len(targets))
        for i, log_probs in _log_probs(scorer, sequences, batch_size, f"{desc}{name}"):
            target = targets[i % len(targets)]
            scores[i] = log_probs[torch.arange(len(target)), target].mean()
        for g, ((subject, _, _), facts) in enumerate(groups.items()):
            for fact in facts:
                row = scores[g * len(targets): (g + 1) * len(targets)].clone()
                row[[index[o] for o in valid[subject] - {fact.obj_label} if o in index]] = float("-inf")
                tally.add(int(row.argmax()) == index[fact.obj_label])
        results[name] = tally.result(candidates=len(candidates))
    return results


def _log_probs(scorer, sequences, batch_size, desc):
    """(index, log-probs at the masks) of every sequence, computed ``batch_size`` at a time."""
    with tqdm(total=len(sequences), desc=desc, unit=" queries", leave=False) as bar:
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size]
            for offset, log_probs in enumerate(scorer.mask_log_probs([list(s) for s in batch])):
                yield start + offset, log_probs
            bar.update(len(batch))
