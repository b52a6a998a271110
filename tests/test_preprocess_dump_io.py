"""preprocess.dump_io: the input checksums computed while a step reads."""

import hashlib
import threading

import pytest

from preprocess.dump_io import file_fingerprint, fingerprints_in_background


def test_fingerprints_in_background_equal_the_files_checksums(tmp_path):
    paths = []
    for i, size in enumerate((0, 10, 5 << 20)):
        path = tmp_path / f"f{i}"
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        paths.append(str(path))
    with fingerprints_in_background(paths) as fingerprints:
        got = fingerprints()
    assert [(f["bytes"], f["sha256"]) for f in got] == [
        (len(open(p, "rb").read()), hashlib.sha256(open(p, "rb").read()).hexdigest()) for p in paths]


def test_a_stopped_fingerprint_is_none(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    stop = threading.Event()
    stop.set()
    assert file_fingerprint(str(path), stop) is None


def test_an_error_in_the_thread_reaches_the_caller(tmp_path):
    with fingerprints_in_background([str(tmp_path / "missing")]) as fingerprints:
        with pytest.raises(FileNotFoundError):
            fingerprints()
