"""Opening dumps (plain, .gz, .bz2) and writing outputs that appear only when complete."""

import bz2
import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
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


PARTIAL_MARK = ".xlmk-preprocess-partial"  # in a .partial directory: this program's, safe to remove


def _check_apart(out, inputs):
    """Refuse an output that is, contains or lies inside an input: replacing the output
    would delete the input (``binarize --out WORK`` would delete WORK/wikidata)."""
    real_out = os.path.realpath(out)
    for path in filter(None, inputs):
        real = os.path.realpath(path)
        if os.path.commonpath([real_out, real]) in (real_out, real):
            raise DumpError(f"{out}: the output must not be, contain or lie inside the input {path}")


class PartialDir:
    """A directory built under ``<path>.partial`` and renamed to ``path`` by ``commit``.

    ``mark`` is the file every finished output of the step holds (its stats.json): an
    existing ``path`` without it was not written by this step and is refused, never replaced.
    ``discard`` removes the .partial and the parent directories this run created, so a
    failed step leaves nothing behind; the block ``with`` it discards on any failure, and
    tells a full disk in one line that names the output.
    """

    def __init__(self, path, mark, inputs=()):
        self.path = os.path.abspath(path)
        self.tmp = self.path + ".partial"
        _check_apart(self.path, inputs)
        _check_replaceable(self.path, mark)
        _check_replaceable(self.tmp, PARTIAL_MARK)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._created = _first_missing(self.tmp)
        try:
            os.makedirs(self.tmp)
            open(os.path.join(self.tmp, PARTIAL_MARK), "w").close()
        except OSError as e:
            self.discard()
            raise DumpError(f"cannot write {self.tmp}: {e.strerror}") from None

    def __enter__(self):
        return self.tmp

    def __exit__(self, kind, error, traceback):
        if error is None:
            return
        self.discard()
        full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
            isinstance(error, sqlite3.OperationalError) and "full" in str(error))
        if full:
            raise DumpError(f"{self.path}: the disk is full ({error}); nothing of it was kept") from None

    def commit(self):
        os.remove(os.path.join(self.tmp, PARTIAL_MARK))
        if os.path.exists(self.path):
            shutil.rmtree(self.path)
        os.rename(self.tmp, self.path)
        return self.path

    def discard(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        parent = os.path.dirname(self.tmp)
        while self._created and os.path.commonpath([parent, self._created]) == self._created:
            try:
                os.rmdir(parent)
            except OSError:
                return
            parent = os.path.dirname(parent)


def _check_replaceable(path, mark):
    if os.path.isdir(path) and os.listdir(path) and not os.path.exists(os.path.join(path, mark)):
        raise DumpError(f"{path} exists and was not written by this step (it has no {mark}): "
                        f"choose another output or remove it")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise DumpError(f"{path} exists and is not a directory")


def _first_missing(path):
    """The topmost of ``path`` and its parents that does not exist (None when all do)."""
    missing = None
    while not os.path.lexists(path):
        missing, path = path, os.path.dirname(path)
    return missing


@contextlib.contextmanager
def atomic_dir(path, mark="stats.json", inputs=()):
    """Build a directory under ``<path>.partial`` and rename it to ``path`` on success
    (``PartialDir``): an interrupted or failed run leaves no ``path`` that a later step
    would read (a stale ``.partial`` is removed by the next run)."""
    partial = PartialDir(path, mark, inputs)
    with partial as tmp:
        yield tmp
    partial.commit()


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
