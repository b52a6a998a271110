"""Shared by the probing tests: a stub scorer, and the embedded sample with a tiny checkpoint
trained on it (built once per test session)."""

import os

import torch

from conftest import REPO, run_train

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


_SAMPLE = {}


def embedded_sample(tmp_path_factory):
    """{"work", "data"} of the embedded sample (preprocess/sample), made once per session."""
    if not _SAMPLE:
        from preprocess.cli import main

        root = tmp_path_factory.mktemp("probe_sample")
        config = os.path.join(REPO, "recipes", "config", "preprocess_sample.yaml")
        assert main(["all", "--config", config, "--work", str(root / "work"), "--out", str(root / "data")]) == 0
        _SAMPLE.update(root=root, work=root / "work", data=root / "data")
    return _SAMPLE


def sample_with_checkpoint(tmp_path_factory):
    """The embedded sample and "checkpoint": a 3-update xlmk_tiny run on it."""
    sample = embedded_sample(tmp_path_factory)
    if "checkpoint" not in sample:
        run_train(sample["data"], sample["root"] / "ck", "--max-update", "3", "--batch-size", "4",
                  "--required-batch-size-multiple", "1")
        sample["checkpoint"] = sample["root"] / "ck" / "checkpoint_last.pt"
    return sample


def write_jsonl(path, rows):
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
