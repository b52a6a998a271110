"""Bad configuration stops at start-up with a clear message, not a traceback."""

import os
import shutil

import pytest

from conftest import TINY, run_train


@pytest.fixture
def data_copy(synthetic_data, tmp_path):
    path = tmp_path / "data"
    shutil.copytree(synthetic_data, path)
    return path


def assert_clean_failure(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "xlmk_fairseq: error:" in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr[-3000:]


def test_missing_data_file(data_copy, tmp_path):
    os.remove(data_copy / "oe" / "train.npy")
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "missing data file", "train.npy")


def test_missing_data_directory(tmp_path):
    proc, _ = run_train(tmp_path / "nowhere", tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "does not exist")


def test_dictionary_that_does_not_match_the_data(data_copy, tmp_path):
    with open(data_copy / "dict.txt", "a") as f:
        f.write("extra_symbol 1\n")
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "dict.txt", "not the dictionary")


def test_unknown_language(synthetic_data, tmp_path):
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--langs", "en,xx", "--max-update", "1", check=False)
    assert_clean_failure(proc, "unknown language", "xx")


def test_unknown_knowledge_task(synthetic_data, tmp_path):
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--knowledge-tasks", "mep,nli", "--max-update", "1", check=False)
    assert_clean_failure(proc, "--knowledge-tasks")


def test_architecture_without_knowledge_heads(synthetic_data, tmp_path):
    i = TINY.index("--queue-size")
    base = TINY[:i] + TINY[i + 2:]  # roberta has no --queue-size
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--arch", "roberta_base", "--max-update", "1",
                        check=False, base=base)
    assert_clean_failure(proc, "xlmk_")


def test_relation_vocabulary_larger_than_the_checkpoints_table(synthetic_data, data_copy, tmp_path):
    run_train(synthetic_data, tmp_path / "first", "--max-update", "1")
    with open(data_copy / "relations.tsv", "a") as f:
        f.write("8\tP999\tnew relation\n")
    proc, _ = run_train(
        data_copy, tmp_path / "second", "--max-update", "2",
        "--restore-file", tmp_path / "first" / "checkpoint_last.pt", "--reset-optimizer",
        check=False,
    )
    assert_clean_failure(proc, "relation", "9", "8")


def test_token_ids_beyond_the_dictionary(data_copy, tmp_path):
    # a dict.txt with fewer symbols than the data uses, and a manifest without checksums
    lines = open(data_copy / "dict.txt").read().splitlines()[:50]
    open(data_copy / "dict.txt", "w").write("\n".join(lines) + "\n")
    manifest = (data_copy / "manifest.json").read_text()
    import json
    m = json.loads(manifest)
    del m["dictionary"]
    (data_copy / "manifest.json").write_text(json.dumps(m))
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "another dictionary")
