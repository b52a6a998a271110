"""Ordered parallel map over worker processes, shared by the dump readers."""

import collections
import contextlib
from multiprocessing import Pool


@contextlib.contextmanager
def ordered_map(func, items, workers, initializer=None, initargs=()):
    """``func`` over ``items`` in ``workers`` processes (in this one when workers <= 1),
    results in input order. At most two items per worker are in flight (``Pool.imap`` would
    read the whole input ahead of slow workers and hold it in memory). The pool is terminated
    when the block ends, also on an error, so a failing step leaves no worker behind."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield map(func, items)
        return
    pool = Pool(workers, initializer, initargs)
    try:
        yield _bounded_imap(pool, func, items, ahead=2 * workers)
    finally:
        pool.terminate()


def _bounded_imap(pool, func, items, ahead):
    pending = collections.deque()
    for item in items:
        pending.append(pool.apply_async(func, (item,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
