"""Link prediction examples: a Wikidata triple written with its labels, one entity masked.

The three kinds of the paper (knowledge-injected multilingual QA, section III), drawn per
example and epoch with ``kind_probs``, i and j two languages:

    1  <s> ( h_i , r_i , t_i ) </s>                        one language
    2  <s> ( h_j , r_i , t_i ) </s> or ( h_i , r_i , t_j )  one end in another language (50/50)
    3  <s> ( h_i , r_i , t_i ) ( h_j , r_j , t_j ) </s>    the triple in two languages

The head or the tail (50/50, independently of which end kind 2 writes in language j) is
masked: every token of its label becomes <mask>, in kind 3 in both halves, and the target
holds the original tokens there and pad everywhere else (the MLM head restores them).

Languages are drawn among those in which all three labels of the triple exist (labels/ in
the data directory: an empty item is a missing label). Kinds 2 and 3 need two such
languages; with one, the example is of kind 1 and says ``fell_back``. A triple without any
such language cannot be written at all: it is left out when the dataset is built, counted
in ``num_skipped``, so that item numbers stay fixed across epochs.

Labels are cut, longest first, to keep an example within ``max_tokens``; each keeps at least
one token, so the mask is never lost.
"""

import os

import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

from ..errors import ConfigError

SEPARATORS = ("(", ",", ")")
_CHUNK = 1 << 20  # triples per step of the checks at start-up


def separator_tokens(data_dir, dictionary, texts=SEPARATORS):
    """Token ids of the opening bracket, the comma and the closing bracket, for the data's
    dictionary. Each is encoded alone with the data's sentencepiece.bpe.model, as every
    label is: sentencepiece starts it with its word boundary "▁" (XLM-R: "▁(", or "▁" then
    "(" where the joined piece is not in the vocabulary), which is what it also writes for the
    spaced text "( h , r , t )". Without a model (the synthetic data) the pieces "▁(", "▁,",
    "▁)" are looked up in the dictionary."""
    model = os.path.join(data_dir, "sentencepiece.bpe.model")
    if os.path.exists(model):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=model)
        pieces = [sp.encode(text, out_type=str) for text in texts]
    else:
        pieces = [["\u2581" + text] for text in texts]
    ids = [[dictionary.index(piece) for piece in p] for p in pieces]
    for text, p, i in zip(texts, pieces, ids):
        if not i or dictionary.unk() in i:
            raise ConfigError(f"link prediction: the separator {text!r} ({' '.join(p)}) is not in "
                              f"{os.path.join(data_dir, 'dict.txt')}")
    return tuple(ids)


def _has_label(datasets):
    """[N, ceil(L / 8)] uint8: bit l of row n is set when item n of language l is not empty."""
    return np.packbits(np.stack([np.asarray(d.sizes) > 0 for d in datasets], axis=1), axis=1)


def _longest(datasets):
    """[N]: the longest label of each item over the languages."""
    out = np.zeros(len(datasets[0]), dtype=np.int64)
    for d in datasets:
        np.maximum(out, np.asarray(d.sizes), out=out)
    return out


class LinkPredictionDataset(FairseqDataset):
    def __init__(self, triples, entity_labels, relation_labels, dictionary, mask_idx, separators,
                 kind_probs=(1 / 3, 1 / 3, 1 / 3), max_tokens=128, seed=1, name="lp"):
        """``triples``: int array [T, 3] (subject, relation, object ids, e.g. oe/train.npy);
        ``entity_labels``/``relation_labels``: one indexed dataset per language (the same
        languages, in the same order), one item per entity/relation id, empty where none;
        ``separators``: token ids of "(", "," and ")" (see ``separator_tokens``)."""
        super().__init__()
        self.triples, self.seed, self.epoch, self.max_tokens = triples, seed, 1, max_tokens
        self.entity_labels, self.relation_labels = list(entity_labels), list(relation_labels)
        self.bos, self.eos, self.pad, self.mask_idx = dictionary.bos(), dictionary.eos(), dictionary.pad(), mask_idx
        self.open, self.sep, self.close = (list(map(int, s)) for s in separators)
        self.num_langs = len(self.entity_labels)
        probs = np.asarray(kind_probs, dtype=np.float64)
        if probs.shape != (3,) or (probs < 0).any() or probs.sum() <= 0:
            raise ConfigError(f"{name}: kind probabilities must be three numbers >= 0, not all 0; got {kind_probs}")
        self.kind_probs = probs / probs.sum()
        self._check(name)
        self.halves = 2 if self.kind_probs[2] > 0 else 1
        if max_tokens < self._frame(self.halves) + 3 * self.halves:
            raise ConfigError(f"{name}: {max_tokens} tokens cannot hold a triple of one-token labels "
                              f"({self._frame(self.halves) + 3 * self.halves} tokens)")
        self._entity_has, self._relation_has = _has_label(self.entity_labels), _has_label(self.relation_labels)
        self.rows, self.sizes = self._rows_and_sizes()
        self.num_skipped = len(triples) - len(self.rows)

    def _check(self, name):
        if self.num_langs == 0 or len(self.relation_labels) != self.num_langs:
            raise ConfigError(f"{name}: expected entity and relation labels for the same languages, got "
                              f"{self.num_langs} and {len(self.relation_labels)}")
        if self.triples.ndim != 2 or self.triples.shape[1] != 3:
            raise ConfigError(f"{name}: expected an int array of shape [T, 3], got {self.triples.shape}")
        for what, datasets in (("entity", self.entity_labels), ("relation", self.relation_labels)):
            if len({len(d) for d in datasets}) != 1:
                raise ConfigError(f"{name}: the {what} labels of the languages differ in length")
        n_e, n_r = len(self.entity_labels[0]), len(self.relation_labels[0])
        for start in range(0, len(self.triples), _CHUNK):
            t = np.asarray(self.triples[start : start + _CHUNK], dtype=np.int64)
            if t[:, [0, 2]].min() < 0 or t[:, [0, 2]].max() >= n_e:
                raise ConfigError(f"{name}: entity ids must lie in 0..{n_e - 1} (one label item per entity)")
            if t[:, 1].min() < 0 or t[:, 1].max() >= n_r:
                raise ConfigError(f"{name}: relation ids must lie in 0..{n_r - 1} (one label item per relation)")

    def _frame(self, halves):
        """Tokens of an example that are not labels: <s>, </s> and the separators."""
        return 2 + halves * (len(self.open) + 2 * len(self.sep) + len(self.close))

    def _rows_and_sizes(self):
        """The rows of the triples that have a language with all three labels, and an upper
        bound of their examples' lengths (for batching)."""
        longest_e, longest_r = _longest(self.entity_labels), _longest(self.relation_labels)
        rows, sizes = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for start in range(0, len(self.triples), _CHUNK):
            t = np.asarray(self.triples[start : start + _CHUNK], dtype=np.int64)
            common = self._entity_has[t[:, 0]] & self._relation_has[t[:, 1]] & self._entity_has[t[:, 2]]
            keep = common.any(axis=1)
            rows.append(start + np.flatnonzero(keep))
            t = t[keep]
            labels = longest_e[t[:, 0]] + longest_r[t[:, 1]] + longest_e[t[:, 2]]
            sizes.append(np.minimum(self._frame(self.halves) + self.halves * labels, self.max_tokens))
        return np.concatenate(rows), np.concatenate(sizes)

    def set_epoch(self, epoch):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return False

    def __len__(self):
        return len(self.rows)

    def languages(self, index):
        """Indices of the languages in which example ``index``'s three labels all exist."""
        s, r, o = (int(x) for x in self.triples[self.rows[index]])
        common = self._entity_has[s] & self._relation_has[r] & self._entity_has[o]
        return np.flatnonzero(np.unpackbits(common, count=self.num_langs))

    def __getitem__(self, index):
        """{"id", "source" (<s> ... </s>), "target" (pad but where masked), "kind" (1, 2, 3),
        "fell_back", "tail" (the tail is masked, else the head), "langs": per half, the
        language indices of its head, relation and tail}."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s, r, o = (int(x) for x in self.triples[self.rows[index]])
        langs = self.languages(index)
        kind = 1 + int(rng.choice(3, p=self.kind_probs))
        tail = bool(rng.integers(2))
        i = int(langs[rng.integers(len(langs))])
        fell_back = kind > 1 and len(langs) < 2
        if fell_back:
            kind = 1
        if kind == 1:
            halves = [(i, i, i)]
        else:
            others = langs[langs != i]
            j = int(others[rng.integers(len(others))])
            if kind == 3:
                halves = [(i, i, i), (j, j, j)]
            else:
                halves = [(i, i, j)] if rng.integers(2) else [(j, i, i)]
        labels = [[self.entity_labels[a][s].tolist(), self.relation_labels[b][r].tolist(),
                   self.entity_labels[c][o].tolist()] for a, b, c in halves]
        source, target = self._write(labels, 2 if tail else 0)
        return {"id": index, "source": torch.tensor(source, dtype=torch.int64),
                "target": torch.tensor(target, dtype=torch.int64), "kind": kind, "fell_back": fell_back,
                "tail": tail, "langs": halves}

    def _write(self, labels, masked):
        """Source and target token lists of the halves' (h, r, t) labels, label ``masked``
        (0 head, 2 tail) masked in every half; labels cut to fit ``max_tokens``."""
        lengths = [len(x) for half in labels for x in half]
        budget = self.max_tokens - self._frame(len(labels))
        cap = max(lengths)
        while sum(min(n, cap) for n in lengths) > budget:
            cap -= 1
        source, target = [self.bos], [self.pad]
        for half in labels:
            for k, part in enumerate((self.open, half[0], self.sep, half[1], self.sep, half[2], self.close)):
                if k % 2 == 0:  # a separator
                    source += part
                    target += [self.pad] * len(part)
                elif k == 2 * masked + 1:
                    source += [self.mask_idx] * len(part[:cap])
                    target += part[:cap]
                else:
                    source += part[:cap]
                    target += [self.pad] * len(part[:cap])
        return source + [self.eos], target + [self.pad]

    def num_tokens(self, index):
        return int(self.sizes[index])

    def num_tokens_vec(self, indices):
        return self.sizes[indices]

    def size(self, index):
        return int(self.sizes[index])

    def collater(self, samples):
        """{"id", "nsentences", "ntokens" (source tokens), "nmasked" (target tokens),
        "net_input": {"src_tokens" [B, T], "src_lengths"}, "target" [B, T] (pad but where
        masked), "kinds" (LongTensor [3]: examples of kind 1, 2, 3), "fell_back" (how many)}."""
        if not samples:
            return {}
        source = data_utils.collate_tokens([s["source"] for s in samples], self.pad)
        target = data_utils.collate_tokens([s["target"] for s in samples], self.pad)
        kinds = torch.bincount(torch.tensor([s["kind"] for s in samples]), minlength=4)[1:]
        return {
            "id": torch.tensor([s["id"] for s in samples], dtype=torch.int64),
            "nsentences": len(samples),
            "ntokens": int(source.ne(self.pad).sum()),
            "nmasked": int(target.ne(self.pad).sum()),
            "net_input": {"src_tokens": source,
                          "src_lengths": torch.tensor([len(s["source"]) for s in samples], dtype=torch.int64)},
            "target": target,
            "kinds": kinds,
            "fell_back": sum(bool(s["fell_back"]) for s in samples),
        }
