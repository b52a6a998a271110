"""The knowledge data directory (docs/data-format.md): paths, manifest and checks.

Everything here is checked when the task starts, so that a bad directory stops the run
with a message that names the problem instead of failing mid-training.
"""

import hashlib
import json
import os

import numpy as np
import torch
from fairseq.data.indexed_dataset import MMapIndexedDataset

from ..errors import ConfigError

FORMAT_VERSION = 1


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class EmptyIndexedDataset:
    """What an indexed dataset with no items looks like to the task."""

    sizes = np.zeros(0, dtype=np.int32)

    def __len__(self):
        return 0


class EmptyItems:
    """An indexed dataset whose items are all empty (a labels file of a language without any
    label): its .bin is empty, which numpy cannot memory-map, but its .idx counts the items."""

    def __init__(self, prefix):
        self._index = MMapIndexedDataset.Index(prefix + ".idx")  # kept: its sizes are a view of its memory map
        self.sizes = self._index.sizes

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        return torch.zeros(0, dtype=torch.int64)


LABEL_KINDS = {"entities": "entity", "relations": "relation"}  # labels/<kind>/: one item per what


class KnowledgeDir:
    def __init__(self, root):
        self.root = root
        if not os.path.isdir(root):
            raise ConfigError(f"data directory {root} does not exist")
        self.require(self.path("dict.txt"), self.path("manifest.json"))
        try:
            with open(self.path("manifest.json"), encoding="utf-8") as f:
                self.manifest = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.path('manifest.json')} is not valid JSON: {e}")
        self.languages = list(self.manifest.get("languages") or [])
        if not self.languages:
            raise ConfigError(f"{self.path('manifest.json')} lists no \"languages\"")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def require(self, *paths):
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise ConfigError(
                "missing data file(s): " + ", ".join(missing)
                + " (see docs/data-format.md for the layout of a data directory)"
            )

    def indexed(self, *parts):
        """An MMapIndexedDataset at ``parts`` (without .bin/.idx), checked to exist."""
        prefix = self.path(*parts)
        self.require(prefix + ".bin", prefix + ".idx")
        if os.path.getsize(prefix + ".bin") == 0:
            return EmptyIndexedDataset()  # numpy cannot memory-map an empty file
        try:
            return MMapIndexedDataset(prefix)
        except Exception as e:  # a truncated or foreign file
            raise ConfigError(f"{prefix}.{{bin,idx}} is not a fairseq mmap indexed dataset: {e}")

    def npy(self, *parts):
        path = self.path(*parts)
        self.require(path)
        try:
            return np.load(path, mmap_mode="r")
        except ValueError as e:
            raise ConfigError(f"{path} is not a .npy array: {e}")

    def select_languages(self, langs: str):
        """Languages named by ``--langs`` (comma-separated; empty means all)."""
        if not langs:
            return list(self.languages)
        chosen = [x.strip() for x in langs.split(",") if x.strip()]
        unknown = [x for x in chosen if x not in self.languages]
        if unknown:
            raise ConfigError(
                f"unknown language(s) {', '.join(unknown)}: the data directory {self.root} "
                f"has {', '.join(self.languages)}"
            )
        return chosen

    def check_dictionary(self, dictionary):
        """The data must have been encoded with this dict.txt."""
        recorded = self.manifest.get("dictionary") or {}
        if "sha256" in recorded and recorded["sha256"] != file_sha256(self.path("dict.txt")):
            raise ConfigError(
                f"{self.path('dict.txt')} is not the dictionary the data was encoded with "
                f"(sha256 differs from manifest.json's)"
            )
        if "size" in recorded and recorded["size"] != len(dictionary):
            raise ConfigError(
                f"{self.path('dict.txt')} has {len(dictionary)} symbols but the data was "
                f"encoded with {recorded['size']}"
            )

    def check_token_ids(self, dataset, name, vocab_size):
        """Every token id of ``dataset`` lies in 0..vocab_size-1: a full scan of the memory
        map (0.16 s for 10M items, 1.2 GB, from the page cache: bench_data_checks.py), so that
        a bad id stops the run now, naming its item, instead of as an IndexError (on a GPU, a
        device-side assert) hours into training."""
        if len(dataset) == 0:
            return
        index = dataset._index  # fairseq's MMapIndexedDataset: dtype, sizes of the items
        flat = np.frombuffer(dataset._bin_buffer, dtype=index.dtype)
        # viewed as unsigned, a negative id is huge: one comparison finds both kinds
        unsigned = flat.view(np.dtype(index.dtype).str.replace("i", "u"))
        chunk = 1 << 22
        for start in range(0, len(unsigned), chunk):
            part = unsigned[start : start + chunk]
            if part.max() >= vocab_size:
                bad = start + int(np.flatnonzero(part >= vocab_size)[0])
                item = int(np.searchsorted(np.cumsum(index.sizes, dtype=np.int64), bad, side="right"))
                raise ConfigError(
                    f"{name}: item {item} holds token id {int(flat[bad])}, outside the "
                    f"{vocab_size} ids of dict.txt (encoded with another dictionary, or damaged)"
                )

    def require_labels(self, languages):
        """The labels/ files that link prediction reads (docs/data-format.md, "Labels"): a
        directory binarized before they existed has none of them."""
        missing = [self.path("labels", kind, f"{lang}.{ext}") for kind in LABEL_KINDS for lang in languages
                   for ext in ("bin", "idx") if not os.path.exists(self.path("labels", kind, f"{lang}.{ext}"))]
        if missing:
            raise ConfigError(
                f"link prediction needs the entity and relation labels, missing: {', '.join(missing)} "
                f"(the directory was written before labels existed: rerun `xlmk-preprocess binarize`)"
            )

    def labels(self, languages, vocab_size):
        """(entity labels, relation labels): per language, an indexed dataset with one item per
        entity (relation) id, empty where it has no label; checked to exist, to have one item
        per id and to hold no id beyond the dictionary."""
        self.require_labels(languages)
        expected = {"entities": self.manifest.get("counts", {}).get("entities"), "relations": self.num_relations()}
        out = {}
        for kind in LABEL_KINDS:
            out[kind] = []
            for lang in languages:
                prefix = self.path("labels", kind, lang)
                if os.path.getsize(prefix + ".bin") == 0:
                    dataset = EmptyItems(prefix)
                else:
                    dataset = self.indexed("labels", kind, lang)
                    self.check_token_ids(dataset, prefix + ".bin", vocab_size)
                expected[kind] = len(dataset) if expected[kind] is None else expected[kind]
                if len(dataset) != expected[kind]:
                    raise ConfigError(f"{prefix}.{{bin,idx}} has {len(dataset)} items, expected one per "
                                      f"{LABEL_KINDS[kind]} ({expected[kind]}): rerun `xlmk-preprocess binarize`")
                out[kind].append(dataset)
        return out["entities"], out["relations"]

    def num_relations(self):
        self.require(self.path("relations.tsv"))
        with open(self.path("relations.tsv"), encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
