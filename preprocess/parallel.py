"""Ordered parallel maps over worker processes, shared by the dump readers.

Two kinds of input: ``ordered_map`` sends any picklable items (the wikipedia step's page
lists) through the pool's pipe; ``map_line_blocks`` packs a line-based dump (the Wikidata
JSON dump, the truthy N-Triples dump) into buffers of shared memory that the workers read
lines from. Through a pipe, every byte of a dump was pickled, piped and unpickled: the
bulk of the cost of a second worker.
"""

import collections
import contextlib
import itertools
import mmap
import multiprocessing
import os

BUFFER_BYTES = 1 << 22  # a shared buffer holds one block of whole lines
BUFFERS_PER_WORKER = 4  # blocks in flight: slack for the reader, whose speed varies with the lines
# Workers run at the lowest priority. The reader process inflates the dump for all of them and
# so sets the pace; when the cores are all taken (workers = cores, plus the reader) an even
# share left it behind and the workers waiting for blocks (10-15 % of their time, measured).
WORKER_NICENESS = 19

_buffers = None  # in a process that runs ``func`` on line blocks: the buffers, inherited


@contextlib.contextmanager
def ordered_map(func, items, workers, initializer=None, initargs=()):
    """``func`` over ``items`` in ``workers`` processes (in this one when workers <= 1),
    results in input order."""
    if workers <= 1:
        _set_up(None, initializer, initargs)
        yield map(func, items)
        return
    with _worker_pool(workers, None, initializer, initargs) as pool:
        yield _in_order(pool, ((func, (item,)) for item in items), 2 * workers)


@contextlib.contextmanager
def map_line_blocks(func, chunks, workers, initializer=None, initargs=()):
    """``func(lines)`` over blocks of whole lines of a dump, results in input order.

    ``chunks``: the decompressed dump, in byte chunks of any size. They are copied into
    buffers of shared memory, cut after their last newline (the rest starts the next
    buffer); ``lines`` iterates over one buffer's lines (bytes, without the newline), each
    copied out when it is reached, so that the next one to parse is still in the CPU's cache.
    A line longer than a buffer goes alone, through the pipe.

    The buffers are anonymous shared mappings that forked workers inherit, hence the "fork"
    start method (Linux). With workers <= 1 there is one buffer, in this process.
    """
    global _buffers
    buffers = [mmap.mmap(-1, BUFFER_BYTES) for _ in range(BUFFERS_PER_WORKER * workers if workers > 1 else 1)]
    blocks = _line_blocks(chunks, buffers)
    try:
        if workers <= 1:
            _set_up(buffers, initializer, initargs)
            yield (_call(func, block) for block in blocks)
            return
        with _worker_pool(workers, buffers, initializer, initargs) as pool:
            yield _in_order(pool, ((_call, (func, block)) for block in blocks), len(buffers))
    finally:
        _buffers = None
        for buffer in buffers:
            buffer.close()


@contextlib.contextmanager
def _worker_pool(workers, buffers, initializer, initargs):
    """A pool of forked workers, terminated when the block ends, also on an error: a failing
    step leaves no worker behind."""
    pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (buffers, initializer, initargs))
    try:
        yield pool
    finally:
        pool.terminate()


def _in_order(pool, calls, limit):
    """Results of ``calls`` ((func, args) pairs), in order, with at most ``limit`` of them in
    the pool (``Pool.imap`` would read the whole input ahead of slow workers and hold it in
    memory). The next call is made only after a result has been taken, which is what lets
    ``_line_blocks`` reuse its buffers in turn."""
    pending = collections.deque()
    calls = iter(calls)
    while True:
        while len(pending) >= limit:
            yield pending.popleft().get()
        call = next(calls, None)
        if call is None:
            break
        pending.append(pool.apply_async(*call))
    while pending:
        yield pending.popleft().get()


def _init_worker(buffers, initializer, initargs):
    os.nice(WORKER_NICENESS)
    _set_up(buffers, initializer, initargs)


def _set_up(buffers, initializer, initargs):
    """What a process needs to run ``func``: a worker, or this one when workers <= 1."""
    global _buffers
    _buffers = buffers
    if initializer is not None:
        initializer(*initargs)


def _line_blocks(chunks, buffers):
    """Pack ``chunks`` into ``buffers`` in turn: yields (buffer index, size) of whole lines,
    or the bytes of a line longer than a buffer (the last block may lack its newline)."""
    chunks, turn = iter(chunks), 0
    rest = memoryview(b"")  # the part of the current chunk not yet copied
    tail = b""  # the bytes after the last newline of the previous block
    while True:
        buffer = buffers[turn]
        buffer[:len(tail)] = tail
        fill = len(tail)
        while fill < len(buffer):
            if not rest:
                rest = memoryview(next(chunks, b""))
                if not rest:
                    break
            n = min(len(buffer) - fill, len(rest))
            buffer[fill:fill + n] = rest[:n]
            rest, fill = rest[n:], fill + n
        full = fill == len(buffer)
        cut = buffer.rfind(b"\n", 0, fill) + 1 if full else fill
        if full and cut == 0:
            line, rest = _long_line(buffer[:fill], rest, chunks)
            tail = b""
            yield line
            continue
        if cut:
            yield turn, cut
            turn = (turn + 1) % len(buffers)
        if not full:
            return
        tail = buffer[cut:fill]


def _long_line(start, rest, chunks):
    """The line that begins with ``start`` and goes on in ``rest`` and the unread chunks,
    and the unread part after it (rare: copies are fine here)."""
    parts = [start]
    for chunk in itertools.chain([bytes(rest)], chunks):
        newline = chunk.find(b"\n")
        if newline >= 0:
            parts.append(chunk[:newline + 1])
            return b"".join(parts), memoryview(chunk)[newline + 1:]
        parts.append(chunk)
    return b"".join(parts), memoryview(b"")


def _call(func, block):
    """``func`` over the lines of a block: (buffer index, size), or bytes."""
    buffer, size = (_buffers[block[0]], block[1]) if isinstance(block, tuple) else (block, len(block))
    return func(_lines(buffer, size))


def _lines(buffer, size):
    """The lines of ``buffer[:size]``, each copied out only when the parser asks for it."""
    find, start = buffer.find, 0
    while start < size:
        stop = find(b"\n", start, size)
        if stop < 0:
            stop = size
        yield buffer[start:stop]
        start = stop + 1
