"""Byte ranges of one dump for ``--shard I/N``, cut where a reader can start.

A plain file is cut at line starts, a multistream .bz2 file (the Wikimedia dumps are
written as many concatenated bz2 streams) at stream starts. Every shard computes the same
cut points, and each line (page) belongs to exactly one shard, so the shards' outputs put
together equal the unsharded run's. gzip streams cannot be entered in the middle: shard a
.gz dump after decompressing it, or use the .bz2 dump. A multistream dump's index
(``*-multistream-index.txt.bz2``) gives the stream starts without scanning for them.
"""

import bisect
import bz2
import collections
import contextlib
import json
import os
import re
import shutil

from .dump_io import DumpError, open_dump, read_chunks, text_lines

BZ2_STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
SCAN = 1 << 20
# Reads of 1 MB: glibc's allocator reuses the memory of one for the next (with 4 MB ones
# peak memory grew with the dump, 63 -> 84 MB at 10x).
BLOCK_BYTES = 1 << 20


def parse_shard(text):
    """'I/N' -> (I, N), with 0 <= I < N."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise DumpError(f"--shard {text!r}: expected I/N, e.g. 0/16") from None
    if not 0 <= index < count:
        raise DumpError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def kind(path):
    with open(path, "rb") as f:
        magic = f.read(3)
    return "gz" if magic[:2] == b"\x1f\x8b" else "bz2" if magic == b"BZh" else "plain"


def cut_points(path, count, boundary=None, stream_offsets=None):
    """Offsets c_0 = 0 < ... < c_count = size: each shard covers [c_I, c_I+1).

    ``stream_offsets`` (sorted, from a multistream index) are a .bz2 file's stream starts;
    without them the file is scanned for stream starts near each cut.
    """
    size = os.path.getsize(path)
    file_kind = kind(path)
    if file_kind == "gz" and count > 1:
        raise DumpError(f"{path}: a gzip dump cannot be sharded; decompress it or use the .bz2 dump")
    cuts = [0]
    for i in range(1, count):
        target = max(i * size // count, cuts[-1] + 1)
        if file_kind == "bz2" and stream_offsets is not None:
            at = bisect.bisect_left(stream_offsets, target)
            cuts.append(stream_offsets[at] if at < len(stream_offsets) else size)
        elif file_kind == "bz2":
            cuts.append(_next_stream(path, target, size))
        else:
            cuts.append(_next_boundary(path, target, size, boundary))
    cuts.append(size)
    return [min(c, size) for c in cuts]


def _next_boundary(path, target, size, boundary):
    """For plain files: the next offset >= target where ``boundary`` (a line start by
    default) begins."""
    pattern = boundary or b"\n"
    with open(path, "rb") as f:
        f.seek(max(target - len(pattern), 0))
        pos = f.tell()
        while pos < size:
            block = f.read(SCAN + len(pattern))
            at = block.find(pattern)
            if at >= 0:
                hit = pos + at
                return hit + len(pattern) if boundary is None else hit
            pos += SCAN
            f.seek(pos)
    return size


def _next_stream(path, target, size):
    with open(path, "rb") as f:
        pos = target
        while pos < size:
            f.seek(pos)
            block = f.read(SCAN + 10)
            for m in BZ2_STREAM_START.finditer(block):
                start = pos + m.start()
                if start >= target and _is_stream_start(f, start):
                    return start
            pos += SCAN
    return size


def _is_stream_start(f, offset):
    f.seek(offset)
    try:
        bz2.BZ2Decompressor().decompress(f.read(1 << 16), max_length=1)
        return True
    except OSError:
        return False


def index_stream_offsets(dump, index):
    """The stream starts of a multistream .bz2 dump, from its index (lines
    ``offset:page_id:title``): 0 (the stream holding the <siteinfo> header, which the index
    does not list) and the index's distinct offsets, sorted. The first and last offset are
    checked to be stream starts in ``dump``: an index of another dump is a DumpError."""
    offsets, previous = set(), None
    with contextlib.closing(open_dump(index)) as stream:
        for number, line in enumerate(text_lines(read_chunks(stream, index)), 1):
            field = line.split(b":", 2)
            if len(field) < 3 or not field[0].isdigit() or not field[1].isdigit():
                if not line.strip():
                    continue
                raise DumpError(f"{index}: not a multistream index (line {number}: {line[:80]!r})")
            if field[0] != previous:
                previous = field[0]
                offsets.add(int(previous))
    if not offsets:
        raise DumpError(f"{index}: the index lists no page")
    offsets = sorted(offsets | {0})
    size = os.path.getsize(dump)
    with open(dump, "rb") as f:
        for offset in (offsets[1], offsets[-1]) if len(offsets) > 1 else ():
            f.seek(offset)
            if offset >= size or not BZ2_STREAM_START.match(f.read(10)):
                raise DumpError(f"{index}: not the index of {dump} (no bz2 stream starts at offset {offset})")
    return offsets


def read_range(path, start, end, block=BLOCK_BYTES):
    """Raw bytes [start, end) of the file, in blocks."""
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            data = f.read(min(block, left))
            if not data:
                return
            left -= len(data)
            yield data


def decompress_streams(raw_blocks, path):
    """Decompress concatenated bz2 streams; a stream cut short is a DumpError."""
    decompressor, started = bz2.BZ2Decompressor(), False
    for data in raw_blocks:
        while data:
            started = True
            try:
                out = decompressor.decompress(data)
            except OSError as e:
                raise DumpError(f"{path}: the compressed stream is damaged ({e})") from None
            if out:
                yield out
            if decompressor.eof:
                data = decompressor.unused_data
                decompressor, started = bz2.BZ2Decompressor(), False
            else:
                data = b""
    if started:
        raise DumpError(f"{path}: the compressed stream is damaged or truncated")


def shard_chunks(path, index, count, boundary=None, lines=True, stream_offsets=None):
    """Decompressed bytes of shard ``index`` of ``count``.

    Plain files are cut at ``boundary`` (a line start by default), so a shard is an exact
    byte range. With ``lines=False`` a .bz2 shard is its streams, decompressed (Wikimedia's
    multistream XML dumps hold whole pages per stream). Otherwise, in a .bz2 file a line may
    cross a stream start: a shard other than the
    first drops the bytes up to its first newline, and a shard other than the last goes on
    past its end up to the next newline, so each line is read by exactly one shard.
    """
    cuts = cut_points(path, count, boundary, stream_offsets)
    start, end = cuts[index], cuts[index + 1]
    if kind(path) == "plain":
        yield from read_range(path, start, end)
        return
    if not lines:  # whole records per stream (the pages of a multistream XML dump)
        yield from decompress_streams(read_range(path, start, end), path)
        return
    skipping = index > 0
    for out in decompress_streams(read_range(path, start, end), path):
        if skipping:
            newline = out.find(b"\n")
            if newline < 0:
                continue
            out, skipping = out[newline + 1:], False
        yield out
    if index < count - 1:
        for out in decompress_streams(read_range(path, end, os.path.getsize(path)), path):
            newline = out.find(b"\n")
            if newline >= 0:
                yield out[: newline + 1]
                return
            yield out


def dump_chunks(path, shard=(0, 1)):
    """The decompressed dump, or shard I of N of it, in chunks of any size (what
    ``parallel.map_line_blocks`` packs into blocks of lines)."""
    index, count = shard
    if count > 1:
        yield from shard_chunks(path, index, count)
        return
    with contextlib.closing(open_dump(path)) as stream:
        yield from read_chunks(stream, path, BLOCK_BYTES)


def finished_shards(dirs, what):
    """The stats.json of every shard directory; a DumpError names the unfinished ones."""
    missing = [d for d in dirs if not os.path.exists(os.path.join(d, "stats.json"))]
    if missing:
        raise DumpError(f"unfinished {what} shards: " + ", ".join(missing))
    stats = []
    for d in dirs:
        with open(os.path.join(d, "stats.json"), encoding="utf-8") as f:
            stats.append(json.load(f))
    return stats


def merged_stats(stats):
    """The first shard's stats with every shard's counts and skip counts added up."""
    counts, skipped = collections.Counter(), collections.Counter()
    for s in stats:
        counts.update(s["counts"])
        skipped.update(s["skipped"])
    return {**stats[0], "counts": dict(counts), "skipped": dict(sorted(skipped.items()))}


def concatenate(dirs, name, out_path):
    """File ``name`` of every shard directory, in shard order, into ``out_path``."""
    with open(out_path, "wb") as dst:
        for d in dirs:
            with open(os.path.join(d, name), "rb") as src:
                shutil.copyfileobj(src, dst)
