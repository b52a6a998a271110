"""Zips the per-task datasets into one XLM-K batch per step.

Index i of the zipped dataset is example i of the primary (MLM) dataset and, for every
other task, example ``i mod len`` of that task in an epoch-seeded random order, so one
batch holds B examples of each task. The knowledge sequences of a batch (MEP sentences,
MEP descriptions, OE subjects, OE objects) are collated together and cut into length
buckets, so that they share encoder forwards and pay little padding.
"""

from collections import OrderedDict

import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

ROLE_ORDER = ("mep_query", "mep_key", "oe_subject", "oe_object")
# sub-batches that the MLM head scores: text, descriptions, verbalised triples
MASKED_LM_KEYS = ("mlm", "desc_mlm", "lp")


class XLMKBatchDataset(FairseqDataset):
    def __init__(self, datasets: "OrderedDict[str, FairseqDataset]", pad_idx, seed=1,
                 num_buckets=2, shuffle=True, separate_keys=False):
        super().__init__()
        assert datasets, "no task to train"
        self.datasets = OrderedDict(datasets)
        self.primary = next(iter(self.datasets))
        self.pad_idx, self.seed, self.num_buckets, self.shuffle = pad_idx, seed, num_buckets, shuffle
        self.separate_keys = separate_keys
        self.epoch = 1
        self._order = None

    def set_epoch(self, epoch):
        self.epoch = epoch
        self._order = None
        for dataset in self.datasets.values():
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return False

    def _orders(self):
        if self._order is None:
            self._order = {}
            for k, (key, dataset) in enumerate(self.datasets.items()):
                if self.shuffle:
                    rng = np.random.default_rng([self.seed, self.epoch, k])
                    self._order[key] = rng.permutation(len(dataset))
                else:
                    self._order[key] = np.arange(len(dataset))
        return self._order

    def _map(self, key, index):
        order = self._orders()[key]
        return int(order[index % len(order)])

    def __len__(self):
        return len(self.datasets[self.primary])

    def __getitem__(self, index):
        return {key: ds[self._map(key, index)] for key, ds in self.datasets.items()}

    def num_tokens_vec(self, indices):
        # token cost of an example = the sum over tasks of the sub-datasets' sizes
        indices = np.asarray(indices)
        total = np.zeros(len(indices), dtype=np.int64)
        for key, dataset in self.datasets.items():
            order = self._orders()[key]
            total += _token_sizes(dataset)[order[indices % len(order)]]
        return total

    def num_tokens(self, index):
        return int(self.num_tokens_vec(np.array([index]))[0])

    def size(self, index):
        return self.num_tokens(index)

    @property
    def sizes(self):
        return self.num_tokens_vec(np.arange(len(self)))

    def ordered_indices(self):
        # batches are formed over consecutive indices: sort by token cost (stable, so the
        # epoch's random order breaks ties), which keeps examples of one length together
        return np.argsort(self.sizes, kind="stable")

    def filter_indices_by_size(self, indices, max_sizes):
        return indices, []  # every sub-dataset already cuts its examples to its own limit

    def collater(self, samples):
        if len(samples) == 0:
            return {}
        batch = {"nsentences": len(samples)}
        for key in MASKED_LM_KEYS:
            if key in self.datasets:
                batch[key] = self.datasets[key].collater([s[key] for s in samples])
        mep = [s["mep"] for s in samples] if "mep" in self.datasets else []
        oe = [s["oe"] for s in samples] if "oe" in self.datasets else []
        if mep or oe:
            batch["knowledge"] = collate_knowledge(mep, oe, self.pad_idx, self.num_buckets,
                                                   self.separate_keys)
        batch["ntokens"] = sum(
            int(sub["net_input"]["src_tokens"].ne(self.pad_idx).sum())
            for key, sub in batch.items() if key in MASKED_LM_KEYS
        ) + batch.get("knowledge", {}).get("ntokens", 0)
        return batch


def _token_sizes(dataset):
    sizes = dataset.sizes
    # NestedDictionaryDataset keeps a list of size arrays, one per input
    return np.asarray(sizes[0] if isinstance(sizes, (list, tuple)) else sizes)


def collate_knowledge(mep, oe, pad_idx, num_buckets, separate_keys=False):
    """Collate MEP and OE examples into length buckets of (tokens, pick positions).

    ``separate_keys``: the keys (MEP descriptions, OE objects) get buckets of their own,
    after the others, for a separate key encoder; "key_buckets" says how many.
    """
    seqs = ([x["query"] for x in mep] + [x["key"] for x in mep]
            + [x["subject"] for x in oe] + [x["object"] for x in oe])
    picks = [x["pos"] for x in mep] + [0] * (len(mep) + 2 * len(oe))
    m, o = len(mep), len(oe)
    is_key = np.zeros(len(seqs), dtype=bool)
    is_key[m : 2 * m] = is_key[2 * m + o :] = True
    groups = (np.flatnonzero(~is_key), np.flatnonzero(is_key)) if separate_keys else (np.arange(len(seqs)),)
    lengths = np.array([len(s) for s in seqs])
    buckets, row_of = [], np.empty(len(seqs), dtype=np.int64)
    row = 0
    for group in groups:
        first_of_group = len(buckets)
        by_length = group[np.argsort(lengths[group], kind="stable")]
        for chunk in _split_for_padding(lengths[by_length], num_buckets):
            members = by_length[chunk]
            tokens = data_utils.collate_tokens([seqs[i] for i in members], pad_idx)
            positions = torch.tensor([picks[i] for i in members], dtype=torch.long)
            buckets.append((tokens, positions))
            row_of[members] = np.arange(row, row + len(members))
            row += len(members)
    return {
        "buckets": buckets,
        "key_buckets": len(buckets) - first_of_group if separate_keys else 0,
        "order": torch.from_numpy(row_of),
        "num_mep": len(mep),
        "num_oe": len(oe),
        "mep_entities": torch.tensor([x["entity"] for x in mep], dtype=torch.long),
        "oe_entities": torch.tensor([x["entity"] for x in oe], dtype=torch.long),
        "relations": torch.tensor([x["relation"] for x in oe], dtype=torch.long),
        "ntokens": int(lengths.sum()),
    }


def _split_for_padding(sorted_lengths, num_buckets, min_saving=0.02):
    """Cut ascending lengths into at most ``num_buckets`` contiguous slices.

    Greedy: each new cut is the one that saves the most padding, where cutting segment
    [a, b) at c saves (c - a) * (L[b-1] - L[c-1]) padded tokens; a cut that saves less than
    ``min_saving`` of the tokens is not worth another encoder call.
    """
    lengths = np.asarray(sorted_lengths, dtype=np.int64)
    cuts = [0, len(lengths)]
    threshold = min_saving * int(lengths.sum())
    for _ in range(num_buckets - 1):
        best_saving, best_cut = threshold, None
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b - a < 2:
                continue
            c = np.arange(a + 1, b)
            saving = (c - a) * (lengths[b - 1] - lengths[c - 1])
            i = int(np.argmax(saving))
            if saving[i] > best_saving:
                best_saving, best_cut = int(saving[i]), int(c[i])
        if best_cut is None:
            break
        cuts = sorted(cuts + [best_cut])
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
