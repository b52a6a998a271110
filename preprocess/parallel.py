"""Ordered parallel map over worker processes, shared by the dump readers."""

import collections
import contextlib
import mmap
import multiprocessing

SLOT_BYTES = 1 << 23  # a shared buffer holds one block of dump lines (4 MB chunks + a partial line)

_slots = None  # in a worker process: the shared buffers, inherited from the parent


@contextlib.contextmanager
def ordered_map(func, items, workers, initializer=None, initargs=()):
    """``func`` over ``items`` in ``workers`` processes (in this one when workers <= 1),
    results in input order. At most two items per worker are in flight (``Pool.imap`` would
    read the whole input ahead of slow workers and hold it in memory). The pool is terminated
    when the block ends, also on an error, so a failing step leaves no worker behind.

    A bytes item (a block of dump lines) goes to its worker through a buffer of shared
    memory rather than a pipe: pickling it, the pipe and unpickling copied every byte of the
    dump four times, the bulk of the cost of a second worker. The buffers are anonymous
    shared mappings that forked workers inherit, hence the "fork" start method (Linux).
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield map(func, items)
        return
    ahead = 2 * workers
    slots = [mmap.mmap(-1, SLOT_BYTES) for _ in range(ahead)]
    pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (slots, initializer, initargs))
    try:
        yield _bounded_imap(pool, func, items, slots)
    finally:
        pool.terminate()
        for slot in slots:
            slot.close()


def _init_worker(slots, initializer, initargs):
    global _slots
    _slots = slots
    if initializer is not None:
        initializer(*initargs)


class _InSlot:
    """Stands for a bytes item of ``size`` bytes in shared buffer ``slot``."""

    def __init__(self, slot, size):
        self.slot, self.size = slot, size


def _call(func, task):
    if isinstance(task, _InSlot):
        task = _slots[task.slot][:task.size]
    return func(task)


def _bounded_imap(pool, func, items, slots):
    pending, free = collections.deque(), list(range(len(slots)))
    for item in items:
        slot = None
        if isinstance(item, bytes) and len(item) <= SLOT_BYTES:
            slot = free.pop()
            slots[slot][:len(item)] = item
            item = _InSlot(slot, len(item))
        pending.append((pool.apply_async(_call, (func, item)), slot))
        if len(pending) >= len(slots):
            yield _collect(pending.popleft(), free)
    while pending:
        yield _collect(pending.popleft(), free)


def _collect(task, free):
    result, slot = task
    value = result.get()
    if slot is not None:
        free.append(slot)
    return value
