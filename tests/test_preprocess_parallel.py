"""preprocess.parallel.ordered_map: results in input order, whatever way the items travel."""

import os

import pytest

from preprocess import parallel


def describe(item):
    return os.getpid(), len(item), bytes(item[:3]) if isinstance(item, bytes) else item


@pytest.mark.parametrize("workers", [1, 2])
def test_results_keep_the_input_order(workers, monkeypatch):
    monkeypatch.setattr(parallel, "SLOT_BYTES", 1000)
    # small blocks go through the shared buffers, a block too big for one through the pipe,
    # other items (the wikipedia step's page lists) through the pipe
    items = [bytes([i % 256]) * (10 + i) for i in range(40)] + [b"x" * 5000, ["a", "b"], b"end"]
    with parallel.ordered_map(describe, iter(items), workers) as results:
        out = list(results)
    assert [(n, head) for _, n, head in out] == [
        (len(x), x[:3] if isinstance(x, bytes) else x) for x in items]
    assert (len({pid for pid, _, _ in out} - {os.getpid()}) > 0) == (workers > 1)


def fail_on(item):
    if item == b"bad":
        raise ValueError("bad block")
    return item


def test_a_failing_item_raises_and_stops_the_workers():
    with pytest.raises(ValueError, match="bad block"):
        with parallel.ordered_map(fail_on, iter([b"a", b"bad", b"c"] * 5), 2) as results:
            list(results)
