"""Shared by the probing tests: a stub scorer with a known vocabulary, and a jsonl writer."""

import torch

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


class StubScorer:
    """Whitespace words -> ids of a fixed vocabulary (a word listed in ``pieces`` is several
    tokens). ``log_probs(words, k)`` gives the [k, V] log-probabilities at the k masks of a
    query whose non-mask words are ``words``."""

    def __init__(self, words, log_probs, pieces=None, max_positions=64):
        self.vocab = SPECIALS + list(words) + ["<mask>"]
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.bos, self.pad, self.eos, self.unk = 0, 1, 2, 3
        self.mask = len(self.vocab) - 1
        self.special_ids = {0, 1, 2, 3, self.mask}
        self.vocab_size = len(self.vocab)
        self.max_positions = max_positions
        self.pieces = pieces or {}
        self.log_probs = log_probs
        self.batches = []

    def tokenize(self, text):
        out = []
        for word in text.split():
            out += [self.ids.get(p, self.unk) for p in self.pieces.get(word, [word])]
        return out

    def id(self, word):
        return self.ids[word]

    def mask_log_probs(self, sequences):
        self.batches.append(len(sequences))
        out = []
        for seq in sequences:
            k = seq.count(self.mask)
            words = tuple(self.vocab[t] for t in seq if t != self.mask)
            out.append(self.log_probs(words, k))
        return out

    def row(self, values, default=-20.0):
        """A log-prob row [V] with ``values`` {word: log-prob} and ``default`` elsewhere."""
        row = torch.full((self.vocab_size,), default)
        for word, value in values.items():
            row[self.ids[word]] = value
        return row


def write_jsonl(path, rows):
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
