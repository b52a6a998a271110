"""Ordered parallel map over worker processes, shared by the dump readers."""

import contextlib
from multiprocessing import Pool


@contextlib.contextmanager
def ordered_map(func, items, workers, initializer=None, initargs=()):
    """``func`` over ``items`` in ``workers`` processes (in this one when workers <= 1),
    results in input order. The pool is terminated when the block ends, also on an error,
    so a failing step leaves no worker behind."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield map(func, items)
        return
    pool = Pool(workers, initializer, initargs)
    try:
        yield pool.imap(func, items)
    finally:
        pool.terminate()
