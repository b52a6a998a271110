"""Exact top-k search over many vectors in chunks: bounded memory, never a queries x keys matrix.

One search for every ranking of the project: ``xlmk-link`` (entities for mentions) and
``xlmk-probe --retrieval`` (descriptions for descriptions). Keys (a memory-mapped float16
index, or any [N, D] array) are read ``chunk_rows`` at a time and scored against blocks of
``query_block`` queries; only a running top-k and one count per query are kept.

Keys may come in *groups* (the rows of one entity, one per language): ``groups`` is a
non-decreasing id per row, a group scores the maximum of its rows, and ranks, top-k and ties
are over groups. Ordering: higher score first, ties by the lower group id, exactly as a full
sort with a stable tie-break would order them (tested against brute force).

The rank of a gold group is 1 + the number of *other* groups that score at least as much
(ties count against it, as in xlmk-probe's retrieval); its own score is computed once per
query and used in every chunk, so it never competes with itself.
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
import torch

CHUNK_ROWS = 32768
QUERY_BLOCK = 2048
GOLD_BATCH = 16384


@dataclass
class SearchResult:
    scores: torch.Tensor          # [Q, k] float, best first; -inf where fewer than k groups exist
    ids: torch.Tensor             # [Q, k] int64 group ids (row ids without groups); -1 pads
    ranks: Optional[torch.Tensor] = None  # [Q] int64 rank of the gold group; 0 where it is absent


class GroupRuns(NamedTuple):
    """``group_bounds``' result, computed once for an index that is searched many times."""
    starts: np.ndarray  # first row of each group
    ids: np.ndarray     # its group id


def score_dtype(queries):
    """float64 queries are ranked in float64 (xlmk-probe), everything else in float32."""
    return torch.float64 if queries.dtype == torch.float64 else torch.float32


def group_bounds(groups, num_rows):
    """Start row of every group run, and the group id of each run (``groups`` non-decreasing)."""
    if groups is None:
        return None, None
    groups = np.asarray(groups)
    if len(groups) != num_rows:
        raise ValueError(f"{len(groups)} group ids for {num_rows} key rows")
    if len(groups) and (np.diff(groups) < 0).any():
        raise ValueError("group ids must be non-decreasing over the key rows")
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else np.zeros(0, np.int64)
    return starts, groups[starts].astype(np.int64)


def chunk_bounds(num_rows, chunk_rows, starts=None):
    """[(first row, end row)] of chunks of about ``chunk_rows`` rows that never split a group."""
    bounds, a = [], 0
    while a < num_rows:
        b = min(a + chunk_rows, num_rows)
        if starts is not None and b < num_rows:
            j = int(np.searchsorted(starts, b, side="left"))  # first group starting at or after b
            b = int(starts[j]) if j < len(starts) else num_rows
            if b <= a:
                b = num_rows
        bounds.append((a, b))
        a = b
    return bounds


def exact_search(queries, keys, k=10, groups=None, gold=None, chunk_rows=CHUNK_ROWS,
                 query_block=QUERY_BLOCK, progress=None):
    """Top-k groups (rows) by dot product for every query, and optionally the gold's rank.

    ``queries``: [Q, D] tensor or array (float64 ranks in float64, else float32);
    ``keys``: [N, D] array-like read in slices (a numpy memmap stays on disk);
    ``groups``: None, a non-decreasing id per key row, or their ``GroupRuns``; ``gold``: None or one group id per
    query (-1 or an id not among the keys: rank 0). ``progress``: called with the number
    of key rows done after every chunk.
    """
    queries = torch.as_tensor(queries)
    dtype = score_dtype(queries)
    queries = queries.to(dtype)
    num_queries, num_rows, k = queries.size(0), len(keys), max(int(k), 0)
    starts, run_ids = groups if isinstance(groups, GroupRuns) else group_bounds(groups, num_rows)
    best_scores = torch.zeros((num_queries, 0), dtype=dtype)
    best_ids = torch.zeros((num_queries, 0), dtype=torch.long)
    gold_scores = counts = None
    if gold is not None:
        gold = torch.as_tensor(np.asarray(gold, dtype=np.int64).reshape(-1))
        if len(gold) != num_queries:
            raise ValueError(f"{len(gold)} gold ids for {num_queries} queries")
        gold_scores = _gold_scores(queries, keys, gold.numpy(), starts, run_ids)
        counts = torch.zeros(num_queries, dtype=torch.long)
    for a, b in chunk_bounds(num_rows, chunk_rows, starts):
        chunk = _rows(keys, slice(a, b), dtype)
        if starts is None:
            cols, ids = None, torch.arange(a, b, dtype=torch.long)
        else:
            lo, hi = np.searchsorted(starts, [a, b])
            cols, ids = starts[lo:hi] - a, torch.from_numpy(run_ids[lo:hi])
        width = min(k, best_scores.size(1) + len(ids))
        new_scores = torch.empty((num_queries, width), dtype=dtype)
        new_ids = torch.empty((num_queries, width), dtype=torch.long)
        for q0 in range(0, num_queries, query_block):
            q = slice(q0, min(q0 + query_block, num_queries))
            scores = queries[q] @ chunk.T
            if cols is not None and len(cols) != scores.size(1):  # a group's score: its best row
                scores = torch.from_numpy(np.maximum.reduceat(scores.numpy(), cols, axis=1))
            if gold is not None:  # the gold's column holds its own score; it does not count itself
                inside, col = _columns_of(ids, gold[q])
                rows = inside.nonzero().flatten()
                scores[rows, col[rows]] = gold_scores[q][rows]
                counts[q] += (scores >= gold_scores[q, None]).sum(dim=1, dtype=torch.int32) - inside.int()
            if width:
                s, i = _chunk_top(scores, ids, k)
                new_scores[q], new_ids[q] = _merge(best_scores[q], best_ids[q], s, i, k)
        best_scores, best_ids = new_scores, new_ids
        if progress is not None:
            progress(b)
    ranks = None
    if gold is not None:
        ranks = torch.where(torch.isnan(gold_scores), torch.zeros_like(counts), counts + 1)
    return SearchResult(*_pad(best_scores, best_ids, k), ranks)


def _gold_scores(queries, keys, gold, starts, run_ids):
    """Each query's score for its gold group (the best of the group's rows), NaN when the gold
    is not among the keys. Computed once and used in every chunk, so that the gold compares
    with the other groups by one value."""
    out = torch.full((len(gold),), float("nan"), dtype=queries.dtype)
    if starts is None:
        present = (gold >= 0) & (gold < len(keys))
        first, end = gold, gold + 1
    elif len(run_ids) == 0:
        return out
    else:
        j = np.minimum(np.searchsorted(run_ids, gold), len(run_ids) - 1)
        present = run_ids[j] == gold
        ends = np.r_[starts[1:], len(keys)]
        first, end = starts[j], ends[j]
    where = np.flatnonzero(present)
    longest = int((end[where] - first[where]).max()) if len(where) else 0
    for offset in range(longest):  # the offset-th row of every gold group, a batch at a time
        todo = where[first[where] + offset < end[where]]
        for b in range(0, len(todo), GOLD_BATCH):
            sel = todo[b:b + GOLD_BATCH]
            rows = _rows(keys, first[sel] + offset, queries.dtype)
            sel = torch.from_numpy(sel)
            dots = (queries[sel] * rows).sum(dim=1)
            current = out[sel]
            out[sel] = torch.where(torch.isnan(current) | (dots > current), dots, current)
    return out


def _columns_of(ids, wanted):
    """(is ``wanted[i]`` among the sorted ``ids``, its column) for every query of a block."""
    col = torch.searchsorted(ids, wanted).clamp(max=max(len(ids) - 1, 0))
    inside = ids[col] == wanted if len(ids) else torch.zeros(len(wanted), dtype=torch.bool)
    return inside, col


def _rows(keys, which, dtype):
    """keys[which] as a writable tensor of ``dtype`` (a memory map is copied, read-only as it is)."""
    if isinstance(keys, torch.Tensor):
        return keys[torch.as_tensor(which) if not isinstance(which, slice) else which].to(dtype)
    return torch.from_numpy(np.array(keys[which], dtype=np.float64 if dtype == torch.float64 else np.float32))


def _chunk_top(scores, ids, k):
    """The chunk's best min(k, columns) as (scores, ids), ordered by score then lower id.
    Rows where the k-th score ties with a left-out column are sorted in full (stable), so the
    lower ids among equal scores are the ones kept."""
    kk = min(k, scores.size(1))
    if kk == 0:
        return scores[:, :0], ids[None, :0].expand(scores.size(0), 0)
    # one more than needed: a left-out column ties with the k-th exactly when the (k+1)-th does
    values, cols = torch.topk(scores, min(kk + 1, scores.size(1)), dim=1)
    tie = values[:, kk] == values[:, kk - 1] if values.size(1) > kk else torch.zeros(len(values), dtype=torch.bool)
    values, cols = values[:, :kk], cols[:, :kk]
    # order the kept columns by (score desc, column asc): sort by column, then stable by score
    cols, perm = torch.sort(cols, dim=1)
    values = values.gather(1, perm)
    values, perm = torch.sort(values, dim=1, descending=True, stable=True)
    cols = cols.gather(1, perm)
    if tie.any():
        rows = tie.nonzero().flatten()
        full_values, full_cols = torch.sort(scores[rows], dim=1, descending=True, stable=True)
        values[rows], cols[rows] = full_values[:, :kk], full_cols[:, :kk]
    return values, ids[cols]


def _merge(best_scores, best_ids, scores, ids, k):
    """Running top-k (ids all lower) + the chunk's: a stable sort keeps lower ids first on ties."""
    all_scores = torch.cat([best_scores, scores], dim=1)
    all_ids = torch.cat([best_ids, ids], dim=1)
    all_scores, perm = torch.sort(all_scores, dim=1, descending=True, stable=True)
    return all_scores[:, :k], all_ids.gather(1, perm)[:, :k]


def _pad(scores, ids, k):
    """Fewer groups than k: -inf scores and id -1 fill the row."""
    missing = k - scores.size(1)
    if missing <= 0:
        return scores, ids
    scores = torch.cat([scores, torch.full((scores.size(0), missing), float("-inf"), dtype=scores.dtype)], dim=1)
    ids = torch.cat([ids, torch.full((ids.size(0), missing), -1, dtype=torch.long)], dim=1)
    return scores, ids


def rank_metrics_from_ranks(ranks, at=(1,)):
    """accuracy@n for each n in ``at`` and MRR from 1-based ranks (0 = not found: a miss)."""
    ranks = torch.as_tensor(ranks, dtype=torch.long)
    found = ranks > 0
    n = len(ranks)
    out = {f"acc@{a}": (float((found & (ranks <= a)).double().mean()) if n else None) for a in at}
    reciprocal = torch.where(found, 1.0 / ranks.clamp(min=1).double(), torch.zeros(n, dtype=torch.float64))
    out["mrr"] = float(reciprocal.mean()) if n else None
    out["n"] = n
    return out
