"""The entity index on disk and its reader, ``EntityIndex`` (format: docs/entity-linking.md).

A directory of memory-mapped numpy arrays and a small JSON header, so that an index of
millions of entities opens at once and is searched from the page cache:

    index.json                 header: format, format_version, vectors, per, dim, rows, entities,
                               languages, label_languages, max_tokens, model and data fingerprints
    vectors.npy                float16 [rows, dim], every row L2-normalised
    entity.npy                 int64 [rows]: the entity id (data's entities.tsv) of each row, non-decreasing
    lang.npy                   int16 [rows]: index into "languages"; -1 for a per-entity mean
    entities.tsv               the data's entities.tsv (id, QID, label), line i = entity i
    entities.offsets.npy       int64 [E + 1]: byte offset of each line of entities.tsv
    qid.npy                    int64 [E]: numeric QID of each entity (-1 when not Q<digits>)
    labels/<lang>.tsv          optional (xlmk-index --labels): line i = entity i's label in <lang>,
                               possibly empty, with labels/<lang>.offsets.npy
"""

import json
import os

import numpy as np

from .errors import LinkingError
from .search import GroupRuns, exact_search, group_bounds

FORMAT = "xlmk-entity-index"
FORMAT_VERSION = 1
HEADER = "index.json"
ARRAYS = ("vectors.npy", "entity.npy", "lang.npy", "qid.npy", "entities.offsets.npy")


def parse_qid(text):
    """'Q64' -> 64; anything else -> -1."""
    text = (text or "").strip()
    return int(text[1:]) if len(text) > 1 and text[0] in "Qq" and text[1:].isdigit() else -1


def write_lines(path, lines):
    """A text file of ``lines`` (no newlines inside) and ``path``'s offsets array (.offsets.npy)."""
    offsets = [0]
    with open(path, "wb") as f:
        for line in lines:
            data = (line + "\n").encode("utf-8")
            f.write(data)
            offsets.append(offsets[-1] + len(data))
    np.save(_offsets_path(path), np.asarray(offsets, dtype=np.int64))


def _offsets_path(path):
    return path[: -len(".tsv")] + ".offsets.npy" if path.endswith(".tsv") else path + ".offsets.npy"


class LineTable:
    """Random access to line i of a text file through its offsets array (no full read)."""

    def __init__(self, path):
        self.path = path
        self.offsets = np.load(_offsets_path(path), mmap_mode="r")

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        with open(self.path, "rb") as f:
            f.seek(a)
            return f.read(b - a).decode("utf-8").rstrip("\n")


class EntityIndex:
    """An index written by ``xlmk-index``: load it, search it, name its entities."""

    def __init__(self, path, header, arrays):
        self.path, self.header = path, header
        self.vectors, self.entity, self.lang = arrays["vectors.npy"], arrays["entity.npy"], arrays["lang.npy"]
        self.qids = arrays["qid.npy"]
        self.entities = LineTable(os.path.join(path, "entities.tsv"))
        self.languages = list(header["languages"])
        self.label_tables = {lang: LineTable(os.path.join(path, "labels", f"{lang}.tsv"))
                             for lang in header.get("label_languages", [])}
        self._runs = None
        self._qid_order = None

    @classmethod
    def load(cls, path):
        path = os.path.abspath(path)
        header_path = os.path.join(path, HEADER)
        if not os.path.isfile(header_path):
            raise LinkingError(f"{path}: not an entity index (no {HEADER}; build one with xlmk-index)")
        try:
            with open(header_path, encoding="utf-8") as f:
                header = json.load(f)
        except (OSError, ValueError) as e:
            raise LinkingError(f"{header_path}: not valid JSON ({e})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise LinkingError(f"{header_path}: not an xlmk-index header (format is not {FORMAT!r})")
        if header.get("format_version") != FORMAT_VERSION:
            raise LinkingError(f"{path}: index format version {header.get('format_version')}; this version "
                               f"reads {FORMAT_VERSION} (rebuild it with xlmk-index)")
        arrays = {}
        for name in ARRAYS:
            try:
                arrays[name] = np.load(os.path.join(path, name), mmap_mode="r")
            except (OSError, ValueError) as e:
                raise LinkingError(f"{os.path.join(path, name)}: cannot read ({e}); the index is damaged") from None
        rows, dim = int(header["rows"]), int(header["dim"])
        v = arrays["vectors.npy"]
        if (v.shape != (rows, dim) or v.dtype != np.float16 or arrays["entity.npy"].shape != (rows,)
                or arrays["lang.npy"].shape != (rows,)
                or len(arrays["entities.offsets.npy"]) != len(arrays["qid.npy"]) + 1):
            raise LinkingError(f"{path}: its arrays do not match index.json (rows {rows}, dim {dim}); "
                               f"the index is damaged")
        return cls(path, header, arrays)

    # ---- what it holds -----------------------------------------------------------------------

    @property
    def dim(self):
        return int(self.header["dim"])

    @property
    def num_rows(self):
        return int(self.header["rows"])

    @property
    def num_entities(self):
        """Entities with at least one vector (the candidates of every search)."""
        return int(self.header["entities"])

    @property
    def vectors_kind(self):
        """"mep_key" (MEP key head on <s>) or "cls" (the <s> state itself)."""
        return self.header["vectors"]

    @property
    def groups(self):
        """The row runs of each entity (computed once per index)."""
        if self._runs is None:
            self._runs = GroupRuns(*group_bounds(np.asarray(self.entity), self.num_rows))
        return self._runs

    def qid(self, entity):
        fields = self.entities[int(entity)].split("\t")
        return fields[1] if len(fields) > 1 else ""

    def label(self, entity, lang=None):
        """The label in ``lang`` when the index has labels in that language and this one is not
        empty, else the data's label (entities.tsv)."""
        if lang in self.label_tables:
            label = self.label_tables[lang][int(entity)]
            if label:
                return label
        fields = self.entities[int(entity)].split("\t")
        return fields[2] if len(fields) > 2 else ""

    def entities_of_qids(self, qids):
        """Entity ids of QID strings ('Q64'), -1 where the data has no such entity."""
        if self._qid_order is None:
            self._qid_order = np.argsort(np.asarray(self.qids), kind="stable")
        sorted_qids = np.asarray(self.qids)[self._qid_order]
        wanted = np.asarray([parse_qid(q) for q in qids], dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_qids, wanted), max(len(sorted_qids) - 1, 0))
        if not len(sorted_qids):
            return np.full(len(wanted), -1, dtype=np.int64)
        found = (sorted_qids[pos] == wanted) & (wanted >= 0)
        return np.where(found, self._qid_order[pos], -1).astype(np.int64)

    # ---- checks ------------------------------------------------------------------------------

    def check_model(self, fingerprint, model_name):
        recorded = self.header["model"]
        if recorded["fingerprint"] != fingerprint:
            raise LinkingError(
                f"{self.path} was built from another model ({recorded.get('path')}, fingerprint "
                f"{recorded['fingerprint'][:12]}) than {model_name} (fingerprint {fingerprint[:12]}): "
                f"rebuild the index with xlmk-index for this model")

    def check_data(self, fingerprint, data):
        recorded = self.header["data"]
        if recorded["fingerprint"] != fingerprint:
            raise LinkingError(
                f"{self.path} was built from other data ({recorded.get('path')}, fingerprint "
                f"{recorded['fingerprint'][:12]}) than {data} (fingerprint {fingerprint[:12]}): its "
                f"entity ids would not match; use the index's data or rebuild the index")

    # ---- search ------------------------------------------------------------------------------

    def search(self, queries, k=10, gold=None, approximate=None, progress=None):
        """Top-k entities for each query vector ([Q, dim], unit length for cosine scores):
        a ``SearchResult`` whose ids are entity ids. ``gold``: entity ids (-1: none) whose rank
        among all the index's entities is returned too. ``approximate``: an
        ``ApproximateSearch`` of this index (faiss) instead of the exact search."""
        if approximate is not None:
            return approximate.search(queries, k, gold)
        return exact_search(queries, self.vectors, k, groups=self.groups, gold=gold, progress=progress)
