"""preprocess.parallel: results in input order; line blocks give every line once, whole."""

import os

import pytest

from preprocess import parallel


def describe(item):
    return os.getpid(), item


@pytest.mark.parametrize("workers", [1, 2])
def test_ordered_map_keeps_the_input_order(workers):
    items = [["page", i] for i in range(30)]
    with parallel.ordered_map(describe, iter(items), workers) as results:
        out = list(results)
    assert [item for _, item in out] == items
    assert (len({pid for pid, _ in out} - {os.getpid()}) > 0) == (workers > 1)


def block_lines(lines):
    return os.getpid(), list(lines)


def chunked(data, size):
    return (data[i:i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 5000])
def test_line_blocks_give_every_line_once_in_order(workers, chunk_size, monkeypatch):
    monkeypatch.setattr(parallel, "BUFFER_BYTES", 64)
    # short lines, a blank one, lines longer than a buffer (they go through the pipe), a
    # line exactly a buffer long, and a last line without its newline
    lines = [b"line %d" % i for i in range(40)] + [b"", b"x" * 200, b"y" * 63, b"z" * 64, b"tail" * 30, b"end"]
    data = b"\n".join(lines)
    with parallel.map_line_blocks(block_lines, chunked(data, chunk_size), workers) as results:
        blocks = list(results)
    assert [line for _, block in blocks for line in block] == lines
    assert len(blocks) > 5  # the lines were spread over several blocks
    assert (len({pid for pid, _ in blocks} - {os.getpid()}) > 0) == (workers > 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_line_blocks_of_nothing(workers):
    with parallel.map_line_blocks(block_lines, iter([b"", b""]), workers) as results:
        assert list(results) == []


def fail_on_bad(lines):
    lines = list(lines)
    if b"bad" in lines:
        raise ValueError("bad block")
    return lines


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_block_raises_and_stops_the_workers(workers, monkeypatch):
    monkeypatch.setattr(parallel, "BUFFER_BYTES", 16)
    chunks = iter([b"a\nb\n", b"bad\n", b"c\n"] * 10)
    with pytest.raises(ValueError, match="bad block"):
        with parallel.map_line_blocks(fail_on_bad, chunks, workers) as results:
            list(results)
    assert parallel._buffers is None


def failing_chunks():
    yield b"a\nb\n"
    raise OSError("the stream broke")


def test_an_error_while_reading_reaches_the_caller():
    with pytest.raises(OSError, match="the stream broke"):
        with parallel.map_line_blocks(block_lines, failing_chunks(), 2) as results:
            list(results)


def niceness(lines):
    list(lines)
    return os.nice(0)


def test_workers_run_at_a_lower_priority_than_the_reader():
    with parallel.map_line_blocks(niceness, iter([b"a\n"]), 2) as results:
        assert list(results) == [min(os.nice(0) + parallel.WORKER_NICENESS, 19)]
