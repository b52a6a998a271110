"""Bad configuration stops at start-up with a clear message, not a traceback."""

import os
import shutil

import numpy as np
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


@pytest.mark.parametrize("flag", ["--tokens-per-sample", "--knowledge-tokens-per-sample"])
def test_a_length_beyond_the_position_table_is_refused_at_start_up(synthetic_data, tmp_path, flag):
    proc, _ = run_train(synthetic_data, tmp_path / "ck", flag, "5000", "--max-update", "1", check=False)
    assert_clean_failure(proc, f"{flag} 5000", "512 positions")


def test_a_bad_token_id_in_the_last_item_is_found_before_training(data_copy, tmp_path):
    """The whole file is checked, not a sample of its first items."""
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    prefix = str(data_copy / "mlm" / "en" / "train")
    dataset = MMapIndexedDataset(prefix)
    last = len(dataset) - 1
    tokens = np.memmap(prefix + ".bin", dtype=dataset._index.dtype, mode="r+")
    tokens[int(dataset.sizes[:last].sum())] = 60000  # the last item's first token
    tokens.flush()
    del tokens
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "mlm/en/train.bin", f"item {last}", "token id 60000")


def test_offsets_that_decrease_are_found_before_training(data_copy, tmp_path):
    path = data_copy / "desc" / "entity_offsets.npy"
    offsets = np.load(path)
    offsets[10], offsets[11] = offsets[11] + 1, offsets[10]
    np.save(path, offsets)
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "entity_offsets.npy", "entry 11")


def test_a_description_row_out_of_range_is_found_before_training(data_copy, tmp_path):
    path = data_copy / "desc" / "desc_row.npy"
    rows = np.load(path)
    rows[7] = 10 ** 6
    np.save(path, rows)
    proc, _ = run_train(data_copy, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, "desc_row.npy", "entry 7", "points at item 1000000")


@pytest.mark.parametrize("flag", ["--batch-size", "--max-tokens"])
def test_a_batch_size_that_is_not_positive_is_refused(synthetic_data, tmp_path, flag):
    proc, _ = run_train(synthetic_data, tmp_path / "ck", flag, "-4", "--max-update", "1", check=False)
    assert_clean_failure(proc, f"{flag} -4: use a positive number")


def test_a_save_dir_that_is_a_file_is_refused(synthetic_data, tmp_path):
    (tmp_path / "ck").write_text("not a directory")
    proc, _ = run_train(synthetic_data, tmp_path / "ck", "--max-update", "1", check=False)
    assert_clean_failure(proc, f"--save-dir {tmp_path / 'ck'}: cannot write checkpoints there")
