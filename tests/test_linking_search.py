"""The shared top-k search (xlmk_fairseq/linking/search.py) against a brute-force ranking.

Vectors with small integer entries make every score exact in float16/float32, so ties are
real ties whatever the order of summation, and the chunked search must break them exactly
as a full stable sort does (higher score first, then the lower group id), across chunk and
query-block boundaries. The approximate search (faiss) is measured, not required to be exact.
"""

import numpy as np
import pytest
import torch

from xlmk_fairseq.linking.search import (
    GroupRuns, chunk_bounds, exact_search, group_bounds, rank_metrics_from_ranks,
)


def brute_force(queries, keys, groups, k, gold):
    """(top-k group ids with -1 padding, ranks) from the full score matrix, in float64."""
    scores = queries.astype(np.float64) @ keys.astype(np.float64).T
    groups = np.arange(len(keys)) if groups is None else np.asarray(groups)
    ids = np.unique(groups)
    per_group = np.stack([scores[:, groups == g].max(axis=1) for g in ids], axis=1) if len(ids) else scores[:, :0]
    top, ranks = [], []
    for i in range(len(queries)):
        order = sorted(range(len(ids)), key=lambda j: (-per_group[i, j], ids[j]))
        top.append([int(ids[j]) for j in order[:k]] + [-1] * max(0, k - len(ids)))
        where = np.flatnonzero(ids == gold[i])
        ranks.append(0 if len(where) == 0 else
                     1 + int(sum(per_group[i, j] >= per_group[i, where[0]] for j in range(len(ids)) if j != where[0])))
    return np.asarray(top, dtype=np.int64).reshape(len(queries), k), ranks


@pytest.mark.parametrize("grouped", [False, True])
def test_exact_top_k_equals_brute_force_with_ties_across_chunks(grouped):
    rng = np.random.default_rng(0)
    for trial in range(150):
        n, dim, q = int(rng.integers(1, 40)), 3, int(rng.integers(1, 8))
        keys = rng.integers(-2, 3, size=(n, dim)).astype(np.float16)  # few distinct values: many ties
        queries = rng.integers(-2, 3, size=(q, dim)).astype(np.float32)
        groups = np.sort(rng.integers(0, n, size=n)) * 3 if grouped else None
        ids = np.arange(n) if groups is None else np.unique(groups)
        gold = rng.choice(np.r_[ids, -1, 10 ** 6], size=q)  # also golds that are not there
        k = int(rng.integers(1, 12))
        result = exact_search(queries, keys, k, groups=groups, gold=gold, chunk_rows=int(rng.integers(1, 9)),
                              query_block=int(rng.integers(1, 4)))
        expected_ids, expected_ranks = brute_force(queries, keys, groups, k, gold)
        assert (result.ids.numpy() == expected_ids).all(), trial
        assert result.ranks.tolist() == expected_ranks, trial
        found = expected_ids >= 0
        scores = result.scores.numpy()
        assert np.isneginf(scores[~found]).all()
        assert all((np.diff(row[ok]) <= 0).all() for row, ok in zip(scores, found))  # best first


def test_float64_queries_rank_in_float64_and_constant_vectors_tie_everywhere():
    keys = torch.ones(5, 4, dtype=torch.float64) / 2
    result = exact_search(keys[:3], keys, k=5, gold=[0, 1, 2], chunk_rows=2)
    assert result.scores.dtype == torch.float64
    assert result.ids.tolist() == [[0, 1, 2, 3, 4]] * 3
    assert result.ranks.tolist() == [5, 5, 5]  # every other candidate ties: ranked last, never first


def test_groups_are_never_split_by_chunks_and_runs_can_be_reused():
    groups = np.array([0, 0, 0, 2, 5, 5, 7])
    runs = GroupRuns(*group_bounds(groups, len(groups)))
    assert runs.starts.tolist() == [0, 3, 4, 6] and runs.ids.tolist() == [0, 2, 5, 7]
    assert chunk_bounds(7, 2, runs.starts) == [(0, 3), (3, 6), (6, 7)]
    keys = np.eye(7, dtype=np.float16)
    query = np.eye(7, dtype=np.float32)[[4]]
    assert exact_search(query, keys, 2, groups=runs).ids.tolist() == [[5, 0]]
    with pytest.raises(ValueError, match="non-decreasing"):
        group_bounds(np.array([1, 0]), 2)


def test_metrics_from_ranks():
    m = rank_metrics_from_ranks(torch.tensor([1, 2, 11, 0]), at=(1, 10))
    assert m == {"acc@1": 0.25, "acc@10": 0.5, "mrr": pytest.approx((1 + 0.5 + 1 / 11) / 4), "n": 4}


def test_approximate_search_recall_is_reported(tmp_path):
    """faiss IVF over a generated index: recall@10 against the exact search is measured and
    printed; only a sanity floor is asserted (it is approximate by design)."""
    pytest.importorskip("faiss")
    from xlmk_fairseq.linking.approximate import ApproximateSearch

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 32)).astype(np.float32)
    keys = centres[rng.integers(40, size=4000)] + 0.3 * rng.standard_normal((4000, 32)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    queries = keys[rng.integers(4000, size=200)] + 0.05 * rng.standard_normal((200, 32)).astype(np.float32)

    class Index:  # what ApproximateSearch reads of an EntityIndex: two rows per entity
        path, num_rows, dim = str(tmp_path), 4000, 32
        vectors, entity = keys.astype(np.float16), np.arange(4000) // 2
        groups = GroupRuns(*group_bounds(np.arange(4000) // 2, 4000))

    approximate = ApproximateSearch(Index(), nlist=32, nprobe=4)
    exact = exact_search(queries, Index.vectors, 10, groups=Index.groups)
    got = approximate.search(queries, 10, gold=exact.ids[:, 0].numpy())
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.ids.tolist(), got.ids.tolist())])
    print(f"approximate recall@10 against exact: {recall:.3f} (nlist 32, nprobe 4, 2000 entities)")
    assert recall > 0.5
    assert got.ranks.max() <= 10 and (tmp_path / "faiss-ivf32.index").is_file()  # kept beside the index
