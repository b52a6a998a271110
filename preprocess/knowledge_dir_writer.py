"""Writes a knowledge data directory (docs/data-format.md) with fairseq's own builders.

Everything is written under ``<out>.partial`` and renamed to ``<out>`` when complete, so an
interrupted run never leaves a directory that the task would read.
"""

import json
import os

import numpy as np
import torch
from fairseq.data import indexed_dataset

from xlmk_fairseq.data.knowledge_dir import FORMAT_VERSION, file_sha256

from .dump_io import PartialDir


class KnowledgeDirWriter:
    def __init__(self, out_dir, languages, dict_symbols, overwrite=False, inputs=()):
        """``dict_symbols``: [(symbol, count)] of dict.txt (specials excluded, as fairseq);
        ``overwrite`` replaces an earlier data directory (one with a manifest.json), never
        another directory or one of ``inputs``."""
        self.out_dir = os.path.abspath(out_dir)
        if os.path.exists(self.out_dir) and not overwrite:
            raise FileExistsError(f"{self.out_dir} exists")
        self.partial = PartialDir(self.out_dir, "manifest.json", inputs)  # ``with`` it: discarded on a failure
        self.tmp = self.partial.tmp
        self.languages = list(languages)
        with self.partial, open(self._p("dict.txt"), "w", encoding="utf-8") as f:
            for symbol, count in dict_symbols:
                f.write(f"{symbol} {count}\n")
        self.vocab_size = len(dict_symbols) + 4 + 1  # specials and <mask>
        self.token_dtype = indexed_dataset.best_fitting_int_dtype(self.vocab_size)
        self._builders = {}
        self._desc_rows = []  # (entity, language index, row in desc/<lang>)
        self.counts = {}

    def _p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def _builder(self, rel, dtype):
        if rel not in self._builders:
            os.makedirs(os.path.dirname(self._p(rel)) or self.tmp, exist_ok=True)
            self._builders[rel] = indexed_dataset.MMapIndexedDatasetBuilder(
                self._p(rel + ".bin"), dtype=dtype
            )
        return self._builders[rel]

    def _count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def add_mlm_document(self, lang, split, lines):
        """One document: each line a list of token ids without </s> (added here, as
        fairseq-preprocess does); an empty [</s>] item follows as the document break."""
        b = self._builder(f"mlm/{lang}/{split}", self.token_dtype)
        for line in lines:
            b.add_item(torch.tensor(list(line) + [2], dtype=torch.int64))
        b.add_item(torch.tensor([2], dtype=torch.int64))
        self._count(f"mlm/{lang}/{split}/documents")

    def add_mep_sentence(self, lang, split, tokens, mentions):
        """``mentions``: [(start_token, end_token_exclusive, entity_id)]."""
        self._builder(f"mep/{lang}/{split}", self.token_dtype).add_item(
            torch.tensor(tokens, dtype=torch.int64))
        self._builder(f"mep/{lang}/{split}.mentions", np.int32).add_item(
            torch.tensor(np.asarray(mentions, dtype=np.int64).reshape(-1)))
        self._count(f"mep/{lang}/{split}/sentences")

    def add_description(self, entity, lang, tokens):
        """One description (token ids without <s>/</s>) of ``entity`` in ``lang``."""
        self._builder(f"desc/{lang}", self.token_dtype).add_item(torch.tensor(tokens, dtype=torch.int64))
        row = self.counts.get(f"desc/{lang}/descriptions", 0)
        self._count(f"desc/{lang}/descriptions")
        self._desc_rows.append((entity, self.languages.index(lang), row))

    def add_labels(self, kind, lang, labels):
        """labels/<kind>/<lang>: ``labels`` gives one list of token ids (no <s>/</s>) per entity
        (``kind`` "entities") or relation ("relations"), in id order, [] where it has no label
        in ``lang``: an empty item keeps ids and items aligned."""
        builder = self._builder(f"labels/{kind}/{lang}", self.token_dtype)
        items = missing = 0
        for tokens in labels:
            builder.add_item(torch.tensor(tokens, dtype=torch.int64))
            items += 1
            missing += not len(tokens)
        self._count(f"labels/{kind}/{lang}", items - missing)
        self._count(f"labels/{kind}/{lang}/missing", missing)

    def write_tables(self, entities, relations, triples_by_split):
        """``entities``: [(qid, label)] in id order; ``relations``: [(pid, label)];
        ``triples_by_split``: {split: int array [T, 3]}. Call after the descriptions."""
        _write_tsv(self._p("entities.tsv"), entities)
        _write_tsv(self._p("relations.tsv"), relations)
        os.makedirs(self._p("desc"), exist_ok=True)
        for lang in self.languages:  # every language has a desc file, possibly empty
            self._builder(f"desc/{lang}", self.token_dtype)
        rows = np.asarray(self._desc_rows, dtype=np.int64).reshape(-1, 3)
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]  # by entity, then language
        offsets = np.zeros(len(entities) + 1, dtype=np.int64)
        np.add.at(offsets, rows[:, 0] + 1, 1)
        np.save(self._p("desc", "entity_offsets.npy"), np.cumsum(offsets))
        np.save(self._p("desc", "desc_lang.npy"), rows[:, 1].astype(np.int32))
        np.save(self._p("desc", "desc_row.npy"), rows[:, 2])
        os.makedirs(self._p("oe"), exist_ok=True)
        for split, triples in triples_by_split.items():
            np.save(self._p("oe", f"{split}.npy"), np.asarray(triples, dtype=np.int32).reshape(-1, 3))
            self._count(f"oe/{split}/triples", len(triples))
        self._count("entities", len(entities))
        self._count("relations", len(relations))
        self._count("descriptions", len(rows))

    def write_knowledge(self, entities, relations, descriptions, triples_by_split):
        """All at once: ``descriptions`` is {entity_id: {lang: token ids}}."""
        for entity, by_lang in sorted(descriptions.items()):
            for lang, tokens in by_lang.items():
                self.add_description(entity, lang, tokens)
        self.write_tables(entities, relations, triples_by_split)

    def finalize(self, splits=("train", "valid"), **manifest_extra):
        # every language has every split, possibly empty, so the task finds all files
        for lang in self.languages:
            for split in splits:
                self._builder(f"mlm/{lang}/{split}", self.token_dtype)
                self._builder(f"mep/{lang}/{split}", self.token_dtype)
                self._builder(f"mep/{lang}/{split}.mentions", np.int32)
        for kind in ("entities", "relations"):  # labels, when written, have one item per id
            for lang in self.languages:
                items = [self.counts.get(f"labels/{kind}/{lang}{k}") for k in ("", "/missing")]
                if items[0] is not None and kind in self.counts and sum(items) != self.counts[kind]:
                    raise ValueError(f"labels/{kind}/{lang} has {sum(items)} items for {self.counts[kind]} {kind}")
        for rel, builder in self._builders.items():
            builder.finalize(self._p(rel + ".idx"))
        manifest = {
            "format_version": FORMAT_VERSION,
            "languages": self.languages,
            "dictionary": {"size": self.vocab_size - 1, "sha256": file_sha256(self._p("dict.txt"))},
            "counts": dict(sorted(self.counts.items())),
            **manifest_extra,
        }
        with open(self._p("manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
        return self.partial.commit()


def _write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for i, (ident, label) in enumerate(rows):
            f.write(f"{i}\t{ident}\t{label}\n")
