"""Approximate search for large indexes: faiss's inverted file over the index's vectors.

An optional extra (``pip install -e .[faiss]``): ``IndexIVFScalarQuantizer`` with float16
codes and inner product, i.e. the index's own float16 vectors (no second copy in float32)
split into ``nlist`` k-means cells (default about sqrt(rows)), of which a query scans the
``nprobe`` nearest. k-means runs 10 iterations on a fixed random sample of 40 rows per cell
(seed 0), so the same index gives the same cells.
Built once per index and setting and kept beside the index as ``faiss-ivf<nlist>.index``
(when the directory is writable). Results are rows; an entity with several rows (one per
language) counts once, at its best row. A gold entity that is not among the k returned
gets rank 0: accuracy@k and MRR are truncated at k.
"""

import math
import os

import numpy as np
import torch

from .errors import LinkingError
from .search import SearchResult

ADD_ROWS = 65536
TRAIN_PER_CELL = 40  # training rows per cell (faiss asks for at least 39)
KMEANS_ITERATIONS = 10


def default_nlist(rows):
    """About sqrt(rows) cells (1,000 for a million), with TRAIN_PER_CELL rows for each."""
    return max(1, min(int(math.sqrt(rows)), rows // TRAIN_PER_CELL or 1))


def build_ivf(vectors, nlist, train_rows=None):
    """faiss IVF (float16 codes, inner product) over ``vectors`` ([rows, dim], read in slices),
    trained with k-means on a fixed random sample (seed 0) of ``train_rows`` rows."""
    faiss = _faiss()
    rows, dim = vectors.shape
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16,
                                        faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = KMEANS_ITERATIONS
    n_train = min(rows, train_rows or max(TRAIN_PER_CELL * nlist, 10000))
    sample = np.sort(np.random.default_rng(0).choice(rows, size=n_train, replace=False))
    ivf.train(np.asarray(vectors[sample], dtype=np.float32))
    for a in range(0, rows, ADD_ROWS):
        ivf.add(np.asarray(vectors[a:a + ADD_ROWS], dtype=np.float32))
    return ivf


def _faiss():
    import logging

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its search for SIMD builds is not news
    try:
        import faiss
    except ImportError:
        raise LinkingError("approximate search needs faiss-cpu: pip install -e .[faiss]") from None
    return faiss


class ApproximateSearch:
    def __init__(self, index, nlist=None, nprobe=16, train_rows=None, cache=True):
        faiss = _faiss()
        self.index = index
        rows, dim = index.num_rows, index.dim
        self.nlist = nlist or default_nlist(rows)
        if not 1 <= self.nlist <= rows:
            raise LinkingError(f"--nlist must lie in 1..{rows} (the index's rows)")
        self.nprobe = max(1, min(nprobe, self.nlist))
        path = os.path.join(index.path, f"faiss-ivf{self.nlist}.index")
        if os.path.isfile(path):
            self.ivf = faiss.read_index(path)
        else:
            self.ivf = build_ivf(index.vectors, self.nlist, train_rows)
            if cache:
                try:
                    faiss.write_index(self.ivf, path + ".tmp")
                    os.replace(path + ".tmp", path)
                except (OSError, RuntimeError):  # a read-only index directory: keep it in memory only
                    pass
        if self.ivf.ntotal != rows or self.ivf.d != dim:
            raise LinkingError(f"{path} does not belong to this index ({self.ivf.ntotal} vectors of "
                               f"{self.ivf.d}); remove it")
        self.ivf.nprobe = self.nprobe
        starts = index.groups.starts
        self.max_rows = int(np.diff(np.r_[starts, rows]).max()) if len(starts) else 1

    def search(self, queries, k=10, gold=None):
        """Like ``EntityIndex.search``: top-k entities (ids, scores) and the gold's rank within them."""
        q = np.ascontiguousarray(torch.as_tensor(queries).float().numpy())
        scores, rows = self.ivf.search(q, k * self.max_rows)
        entity = np.asarray(self.index.entity)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        best = np.full((len(q), k), -np.inf, dtype=np.float32)
        if self.max_rows == 1:  # one row per entity: nothing to merge
            found = rows >= 0
            ids[found], best[found] = entity[rows[found]], scores[found]
        for i in range(len(q) if self.max_rows > 1 else 0):
            seen = []
            for s, r in zip(scores[i], rows[i]):
                if r < 0:
                    break
                e = int(entity[r])
                if e not in seen:
                    best[i, len(seen)] = s
                    seen.append(e)
                    if len(seen) == k:
                        break
            ids[i, :len(seen)] = seen
        ranks = None
        if gold is not None:
            gold = np.asarray(gold, dtype=np.int64).reshape(-1, 1)
            hit = (ids == gold) & (gold >= 0)
            ranks = torch.from_numpy(np.where(hit.any(1), hit.argmax(1) + 1, 0).astype(np.int64))
        return SearchResult(torch.from_numpy(best), torch.from_numpy(ids), ranks)
