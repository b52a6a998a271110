"""Byte ranges of one dump for ``--shard I/N``, cut where a reader can start.

A plain file is cut at line starts, a multistream .bz2 file (the Wikimedia dumps are
written as many concatenated bz2 streams) at stream starts. Every shard computes the same
cut points, and each line (page) belongs to exactly one shard, so the shards' outputs put
together equal the unsharded run's. gzip streams cannot be entered in the middle: shard a
.gz dump after decompressing it, or use the .bz2 dump.
"""

import bz2
import collections
import json
import os
import re
import shutil

from .dump_io import DumpError

BZ2_STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
SCAN = 1 << 20


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


def cut_points(path, count, boundary=None):
    """Offsets c_0 = 0 < ... < c_count = size: each shard covers [c_I, c_I+1)."""
    size = os.path.getsize(path)
    file_kind = kind(path)
    if file_kind == "gz" and count > 1:
        raise DumpError(f"{path}: a gzip dump cannot be sharded; decompress it or use the .bz2 dump")
    cuts = [0]
    for i in range(1, count):
        target = max(i * size // count, cuts[-1] + 1)
        cuts.append(_next_stream(path, target, size) if file_kind == "bz2" else
                    _next_boundary(path, target, size, boundary))
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


def read_range(path, start, end, block=1 << 22):
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


def shard_chunks(path, index, count, boundary=None, lines=True):
    """Decompressed bytes of shard ``index`` of ``count``.

    Plain files are cut at ``boundary`` (a line start by default), so a shard is an exact
    byte range. With ``lines=False`` a .bz2 shard is its streams, decompressed (Wikimedia's
    multistream XML dumps hold whole pages per stream). Otherwise, in a .bz2 file a line may
    cross a stream start: a shard other than the
    first drops the bytes up to its first newline, and a shard other than the last goes on
    past its end up to the next newline, so each line is read by exactly one shard.
    """
    cuts = cut_points(path, count, boundary)
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
