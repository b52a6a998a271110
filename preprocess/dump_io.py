"""Opening dumps (plain, .gz, .bz2) and writing outputs that appear only when complete."""

import bz2
import contextlib
import hashlib
import json
import os
import shutil
import threading
import zlib

from isal import igzip


class DumpError(Exception):
    """The input is not a usable dump: the message says why; nothing has been written."""


def open_dump(path):
    """A binary stream of the decompressed dump, chosen by magic bytes, not by name."""
    if not os.path.isfile(path):
        raise DumpError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DumpError(f"{path}: the file is empty")
    with open(path, "rb") as f:
        magic = f.read(3)
    if magic[:2] == b"\x1f\x8b":
        # ISA-L inflates about 2.5x faster than zlib: a gzip dump has one reader process,
        # which the workers wait on
        return igzip.open(path, "rb")
    if magic == b"BZh":
        return bz2.open(path, "rb")
    return open(path, "rb")


def read_chunks(stream, path, size=1 << 22):
    """Yield decompressed chunks; a truncated compressed stream is a DumpError."""
    try:
        while True:
            chunk = stream.read(size)
            if not chunk:
                return
            yield chunk
    except (EOFError, OSError, zlib.error) as e:
        raise DumpError(f"{path}: the compressed stream is damaged or truncated ({e})") from None


def file_fingerprint(path, stop=None):
    """Size and sha256 of an input file, for the manifest (None once ``stop`` is set)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            if stop is not None and stop.is_set():
                return None
            h.update(block)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": h.hexdigest()}


@contextlib.contextmanager
def fingerprints_in_background(paths):
    """The fingerprints of ``paths``, computed in a thread while a step reads the files
    (hashlib lets go of the GIL): on a real dump the checksum takes minutes of a core, which
    then overlap the parsing instead of following it. Yields a function that waits for them
    (a list); leaving the block stops the thread."""
    stop, outcome = threading.Event(), {}

    def run():
        try:
            outcome["fingerprints"] = [file_fingerprint(path, stop) for path in paths]
        except Exception as e:  # noqa: BLE001 -- raised in the thread that waits
            outcome["error"] = e

    thread = threading.Thread(target=run, name="fingerprints", daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["fingerprints"]

    try:
        yield wait
    finally:
        stop.set()


@contextlib.contextmanager
def atomic_dir(path):
    """Build a directory under ``<path>.partial`` and rename it to ``path`` on success.

    An interrupted or failed run leaves no ``path`` that a later step would read (a stale
    ``.partial`` is removed by the next run).
    """
    tmp = path.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(path):
        shutil.rmtree(path)
    os.rename(tmp, path)


def text_lines(stream_chunks):
    """Split a stream of byte chunks into lines (bytes, without the newline)."""
    rest = b""
    for chunk in stream_chunks:
        chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
