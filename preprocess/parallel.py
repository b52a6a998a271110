"""Ordered parallel map over worker processes, shared by the dump readers."""

import collections
import contextlib
import mmap
import multiprocessing

SLOT_BYTES = 1 << 22  # a shared buffer holds one block of dump lines (1 MB + a partial line)

_slots = None  # in a worker process: the shared buffers, inherited from the parent


@contextlib.contextmanager
def ordered_map(func, items, workers, initializer=None, initargs=()):
    """``func`` over ``items`` in ``workers`` processes (in this one when workers <= 1),
    results in input order. At most two tasks per worker are in flight (``Pool.imap`` would
    read the whole input ahead of slow workers and hold it in memory). The pool is terminated
    when the block ends, also on an error, so a failing step leaves no worker behind.

    Bytes items (blocks of dump lines) go to the workers through buffers of shared memory,
    several to a task, rather than through a pipe: pickling it, the pipe and unpickling copied every byte of the
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
    """Stands for consecutive bytes items of the given ``sizes`` in shared buffer ``slot``."""

    def __init__(self, slot):
        self.slot, self.sizes = slot, []


def _call(func, task):
    """``func`` over the items of a task, a list of results."""
    if not isinstance(task, _InSlot):
        return [func(task)]
    buffer, start, results = _slots[task.slot], 0, []
    for size in task.sizes:
        results.append(func(buffer[start:start + size]))
        start += size
    return results


def _bounded_imap(pool, func, items, slots):
    """Bytes items are packed into a free shared buffer until it is full (one task: blocks
    stay small, which keeps the allocator from fragmenting, and tasks stay few, which keeps
    the pool's overhead down); other items go alone, through the pipe."""
    pending, free, batch = collections.deque(), list(range(len(slots))), None

    def submit(task):
        pending.append((pool.apply_async(_call, (func, task)), task))

    def collect():
        result, task = pending.popleft()
        values = result.get()
        if isinstance(task, _InSlot):
            free.append(task.slot)
        return values

    for item in items:
        used = sum(batch.sizes) if batch is not None else 0
        if batch is not None and not (isinstance(item, bytes) and used + len(item) <= SLOT_BYTES):
            submit(batch)
            batch = None
        if isinstance(item, bytes) and len(item) <= SLOT_BYTES:
            if batch is None:
                while not free:
                    yield from collect()
                batch, used = _InSlot(free.pop()), 0
            slots[batch.slot][used:used + len(item)] = item
            batch.sizes.append(len(item))
        else:
            submit(item)
        while len(pending) >= len(slots):
            yield from collect()
    if batch is not None:
        submit(batch)
    while pending:
        yield from collect()
