"""A mistaken command is refused and destroys nothing; a hostile record is counted, never fatal.

Every case here is a row of docs/robustness.md.
"""

import errno
import json
import os
import sqlite3
import subprocess

import pytest
import yaml

from dump_fixtures import (item, page, small_wikidata, truthy_dump_text, wb_items_per_site_text, wikidata_dump_text,
                           wikipedia_dump_text, write)
from preprocess import parallel, wikipedia
from preprocess.cli import main

EN = [page("Germany", "'''Germany''' is a country. Its capital is [[Berlin]].", page_id=1),
      page("Berlin", "'''Berlin''' is the capital of [[Germany]].", page_id=2)]


def tree(root):
    """{relative path: bytes} of every file under ``root``: what a refused command must leave as it was."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            files[os.path.relpath(path, root)] = open(path, "rb").read()
    return files


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.rstrip("\n").rsplit("\n", 1)[-1]  # after any progress bar
    assert err.startswith("xlmk-preprocess: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("dumps")
    return {"wikidata": write(root / "latest-all.json", wikidata_dump_text(small_wikidata())),
            "en": write(root / "enwiki.xml", wikipedia_dump_text("en", EN))}


@pytest.fixture(scope="module")
def work(tmp_path_factory, dumps):
    """A work directory holding finished wikidata, wikipedia (en) and spm steps."""
    work = str(tmp_path_factory.mktemp("w") / "work")
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", "en,de", "--out", work]) == 0
    assert main(["wikipedia", "--dump", dumps["en"], "--lang", "en", "--out", work]) == 0
    assert main(["spm", "--out", work, "--train-vocab-size", "60"]) == 0
    return work


def wikidata_only(work, copy):
    """A work directory holding only the sitelinks of ``work``'s wikidata step, for a wikipedia step."""
    os.makedirs(copy / "wikidata")
    os.symlink(os.path.join(work, "wikidata", "sitelinks.sqlite"), copy / "wikidata" / "sitelinks.sqlite")
    return copy


# -- data loss ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["binarize"], ["probe-set"]], ids=["binarize", "probe-set"])
def test_an_output_that_is_the_work_directory_is_refused(work, command, capsys):
    before = tree(work)
    assert main([*command, "--work", work, "--out", work]) == 2
    one_line_error(capsys, "must not be, contain or lie inside the input")
    assert tree(work) == before


def test_an_output_inside_an_input_is_refused(work, capsys):
    before = tree(work)
    assert main(["binarize", "--work", work, "--out", os.path.join(work, "wikidata", "data")]) == 2
    one_line_error(capsys, "lie inside the input")
    assert tree(work) == before


def test_a_dump_inside_the_output_is_refused(tmp_path, dumps, capsys):
    work = tmp_path / "work"
    (work / "wikidata").mkdir(parents=True)
    dump = write(work / "wikidata" / "latest-all.json", open(dumps["wikidata"], "rb").read())
    (work / "wikidata" / "stats.json").write_text("{}")  # as if written by an earlier run
    before = tree(work)
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(work)]) == 2
    one_line_error(capsys, "lie inside the input")
    assert tree(work) == before


@pytest.mark.parametrize("lang", ["../../victim", "EN/../../victim", "en de", ""])
def test_a_language_code_that_is_a_path_is_refused(work, tmp_path, dumps, lang, capsys):
    victim = os.path.join(os.path.dirname(work), "victim")
    os.makedirs(victim, exist_ok=True)
    open(os.path.join(victim, "precious.txt"), "w").write("keep me")
    before, victim_before = tree(work), tree(victim)
    assert main(["wikipedia", "--dump", dumps["en"], "--lang", lang, "--out", work]) == 2
    one_line_error(capsys)
    assert tree(work) == before and tree(victim) == victim_before


@pytest.mark.parametrize("command", [
    lambda d, out: ["wikidata", "--dump", d["wikidata"], "--langs", "en", "--out", out],
    lambda d, out: ["probe-set", "--work", out + "-work", "--out", out],
], ids=["wikidata", "probe-set"])
def test_a_directory_the_step_did_not_write_is_never_replaced(tmp_path, dumps, work, command, capsys):
    """Its own outputs carry their stats.json (summary.json, manifest.json); anything else stays."""
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, "wikidata"))
    open(os.path.join(out, "wikidata", "notes.txt"), "w").write("mine")
    open(os.path.join(out, "notes.txt"), "w").write("mine")
    os.symlink(work, out + "-work")
    before = tree(out)
    assert main(command(dumps, out)) == 2
    one_line_error(capsys, "was not written by this step")
    assert tree(out) == before


def test_binarize_never_replaces_a_directory_without_a_manifest(work, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "thesis.tex").write_text("years of work")
    assert main(["binarize", "--work", work, "--out", str(data)]) == 2
    one_line_error(capsys, "has no manifest.json")
    assert tree(data) == {"thesis.tex": b"years of work"}
    (data / "thesis.tex").unlink()  # an empty directory is fine to fill
    assert main(["binarize", "--work", work, "--out", str(data), "--valid-fraction", "0.3"]) == 0
    assert main(["binarize", "--work", work, "--out", str(data)]) == 0  # and its own output to replace
    assert "manifest.json" in os.listdir(data)


def test_a_stale_partial_directory_is_removed_only_when_it_is_ours(tmp_path, dumps, capsys):
    work = tmp_path / "work"
    (work / "wikidata.partial").mkdir(parents=True)
    (work / "wikidata.partial" / "notes.txt").write_text("mine")
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", "en", "--out", str(work)]) == 2
    one_line_error(capsys, "wikidata.partial exists and was not written by this step")
    (work / "wikidata.partial" / "notes.txt").unlink()
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", "en", "--out", str(work)]) == 0
    assert sorted(os.listdir(work)) == ["wikidata"]


# -- silent wrong output, or one record ending a run -----------------------------------------------

@pytest.mark.parametrize("start", ["", "\n"], ids=["at-once", "after-a-newline"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_dump_without_a_byte_order_mark_is_read_as_utf16(work, tmp_path, encoding, start):
    def pages(out):
        return [json.loads(line) for line in open(os.path.join(out, "wikipedia", "en", "pages.jsonl"))]
    dump = write(tmp_path / "enwiki.xml", (start + wikipedia_dump_text("en", EN)).encode(encoding))
    copy = wikidata_only(work, tmp_path / "work")
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(copy)]) == 0
    assert pages(copy) == pages(work)


def test_a_utf16_json_dump_is_refused(tmp_path, capsys):
    dump = write(tmp_path / "wd.json", wikidata_dump_text(small_wikidata()).encode("utf-16-le"))
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "work")]) == 2
    one_line_error(capsys, "UTF-16")
    assert os.listdir(tmp_path) == ["wd.json"]


@pytest.mark.parametrize("flag", ["--truthy", "--sitelinks-sql"])
def test_utf16_truthy_and_sql_dumps_are_refused(tmp_path, flag, capsys):
    good = {"--truthy": truthy_dump_text(small_wikidata()), "--sitelinks-sql": wb_items_per_site_text(small_wikidata())}
    dumps = {name: write(tmp_path / name.strip("-"), text.encode("utf-16-le" if name == flag else "utf-8"))
             for name, text in good.items()}
    assert main(["wikidata", "--truthy", dumps["--truthy"], "--sitelinks-sql", dumps["--sitelinks-sql"],
                 "--langs", "en", "--out", str(tmp_path / "work")]) == 2
    one_line_error(capsys, "not an N-Triples dump" if flag == "--truthy" else "not a MySQL dump")
    assert not os.path.exists(tmp_path / "work")


def wikidata_stats(work):
    return json.load(open(os.path.join(work, "wikidata", "stats.json")))


@pytest.mark.parametrize("field", ["aliases", "claims", "labels"])
def test_a_deeply_nested_line_is_counted_as_malformed(tmp_path, field):
    deep = "[" * 5000 + "]" * 5000
    raw = f'{{"type": "item", "id": "Q7", "sitelinks": {{"enwiki": {{"title": "Seven"}}}}, "{field}": {deep}}}'
    dump = write(tmp_path / "wd.json", wikidata_dump_text(small_wikidata(), [raw]))
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "work")]) == 0
    stats = wikidata_stats(tmp_path / "work")
    assert stats["skipped"]["malformed_json"] == 1 and stats["counts"]["items_kept"] == 3


@pytest.mark.parametrize("langs", ["EN,DE", "en,en,de", "en de", " de , EN "])
def test_language_codes_are_normalised(tmp_path, dumps, langs):
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", langs, "--out", str(tmp_path / "w")]) == 0
    assert sorted(wikidata_stats(tmp_path / "w")["languages"]) == ["de", "en"]


@pytest.mark.parametrize("langs", ["xx", "en,english", "en,../x"])
def test_an_unknown_language_code_is_refused_with_the_known_ones(tmp_path, dumps, langs, capsys):
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", langs, "--out", str(tmp_path / "w")]) == 2
    one_line_error(capsys, "not a Wikipedia language code", "known: aa ab", " zh-min-nan ")
    assert not os.path.exists(tmp_path / "w")


def test_claims_written_as_a_list_are_counted(tmp_path):
    odd = item("Q7", labels={"en": "Seven"}, sitelinks=[("enwiki", "Seven")])
    odd["claims"] = [{"mainsnak": {"snaktype": "value", "property": "P31"}}]
    empty = item("Q8", labels={"en": "Eight"}, sitelinks=[("enwiki", "Eight")])
    empty["claims"] = []  # Wikibase's way of writing an empty map
    dump = write(tmp_path / "wd.json", wikidata_dump_text(small_wikidata() + [odd, empty]))
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "w")]) == 0
    assert wikidata_stats(tmp_path / "w")["skipped"]["claims_not_a_map"] == 1


def test_a_language_the_wikidata_step_did_not_keep_is_refused(work, dumps, capsys):
    before = tree(work)
    assert main(["wikipedia", "--dump", dumps["en"], "--lang", "fr", "--out", work]) == 2
    one_line_error(capsys, "kept no sitelinks to fr", "it has de, en")
    assert tree(work) == before


@pytest.mark.parametrize("fraction", ["1.5", "-0.1", "1"])
def test_a_valid_fraction_outside_zero_to_one_is_refused(work, tmp_path, fraction, capsys):
    assert main(["binarize", "--work", work, "--out", str(tmp_path / "data"), "--valid-fraction", fraction]) == 2
    one_line_error(capsys, "--valid-fraction")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("relations", ["0", "-1"])
def test_a_max_relations_below_one_is_refused(work, tmp_path, relations, capsys):
    assert main(["binarize", "--work", work, "--out", str(tmp_path / "data"), "--max-relations", relations]) == 2
    one_line_error(capsys, "--max-relations")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("step", [["wikidata"], ["wikipedia", "--lang", "en"]], ids=["wikidata", "wikipedia"])
@pytest.mark.parametrize("count", ["0", "-2", "two"])
def test_a_merge_of_no_shards_is_refused(work, step, count, capsys):
    before = tree(work)
    with pytest.raises(SystemExit) as exit:
        main([*step, "--out", work, "--merge-shards", count])
    assert exit.value.code == 2 and "expected a whole number of at least 1" in capsys.readouterr().err
    assert tree(work) == before


@pytest.mark.parametrize("change,words", [
    ({"workers": "two"}, ["workers is 'two', expected int"]),
    ({"worker": 2}, ["unknown key 'worker'"]),
    ({"valid_fraction": "0.1"}, ["valid_fraction"]),
    ({"spm": {"train_vocab_size": 100, "vocab": 3}}, ["spm: unknown key 'vocab'"]),
    ({"wikipedia": {False: "no.xml"}}, ["quote them"]),
    ({"wikipedia": ["en"]}, ["wikipedia is ['en'], expected dict"]),
])
def test_an_all_configuration_with_a_wrong_key_or_type_is_refused(tmp_path, dumps, change, words, capsys):
    cfg = {"wikidata": dumps["wikidata"], "wikipedia": {"en": dumps["en"]}, "work": str(tmp_path / "work"),
           "out": str(tmp_path / "data"), "spm": {"train_vocab_size": 60}, **change}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["all", "--config", str(tmp_path / "cfg.yaml")]) == 2
    one_line_error(capsys, *words)
    assert os.listdir(tmp_path) == ["cfg.yaml"]


# -- one-line errors where a traceback was ----------------------------------------------------------

def test_an_output_that_is_a_file_is_a_one_line_error(tmp_path, dumps, capsys):
    out = tmp_path / "out"
    out.write_text("a file")
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", "en", "--out", str(out)]) == 2
    one_line_error(capsys, "Not a directory")
    assert out.read_text() == "a file"


def test_an_unwritable_output_is_a_one_line_error(tmp_path, dumps, monkeypatch, capsys):
    """A read-only directory, as root cannot make one: the error os.makedirs raises there."""
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", path)
    monkeypatch.setattr(os, "makedirs", refuse)
    assert main(["wikidata", "--dump", dumps["wikidata"], "--langs", "en", "--out", str(tmp_path / "w")]) == 2
    one_line_error(capsys, "Permission denied")


@pytest.mark.parametrize("size,words", [("0", "expected at least 4"), ("-5", "expected at least 4"),
                                        ("5", "Vocabulary size is smaller than required_chars")])
def test_a_vocabulary_size_sentencepiece_cannot_train_is_a_one_line_error(work, size, words, capsys):
    before = tree(work)
    assert main(["spm", "--out", work, "--train-vocab-size", size]) == 2
    one_line_error(capsys, words)
    assert tree(work) == before


def test_a_failed_step_leaves_no_directory_behind(tmp_path, capsys):
    bad = write(tmp_path / "wd.json", "not a dump\n")
    assert main(["wikidata", "--dump", bad, "--langs", "en", "--out", str(tmp_path / "new" / "work")]) == 2
    one_line_error(capsys, "not a Wikidata JSON dump")
    assert os.listdir(tmp_path) == ["wd.json"]


def test_a_full_disk_is_a_clear_error_and_a_rerun_completes_identically(work, tmp_path, dumps, monkeypatch, capsys):
    """ENOSPC while the wikipedia step writes: nothing is left where binarize would read it,
    and the rerun after space is freed writes what an undisturbed run writes."""
    copy = wikidata_only(work, tmp_path / "work")
    real = wikipedia.write_json

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    monkeypatch.setattr(wikipedia, "write_json", full)
    assert main(["wikipedia", "--dump", dumps["en"], "--lang", "en", "--out", str(copy)]) == 2
    one_line_error(capsys, "No space left on device")
    assert os.listdir(copy) == ["wikidata"]
    monkeypatch.setattr(wikipedia, "write_json", real)
    assert main(["wikipedia", "--dump", dumps["en"], "--lang", "en", "--out", str(copy)]) == 0
    done = os.path.join(work, "wikipedia", "en")
    assert tree(copy / "wikipedia" / "en") == tree(done)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB tmpfs: a real full disk (mounting needs root, as in the test container)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)  # lazy: a failed test may hold a file open


def many_items(n):
    return small_wikidata() + [item(f"Q{1000 + i}", labels={"en": f"Item {i}", "de": f"Ding {i}"},
                                    sitelinks=[("enwiki", f"Item {i}"), ("dewiki", f"Ding {i}")])
                               for i in range(n)]


def test_a_real_full_disk_leaves_nothing_and_a_rerun_completes_identically(tmp_path, small_disk, capsys):
    dump = write(tmp_path / "wd.json", wikidata_dump_text(many_items(2000)))
    command = ["wikidata", "--dump", dump, "--langs", "en,de", "--workers", "2", "--out"]
    assert main([*command, str(small_disk / "work")]) == 2
    one_line_error(capsys, "the disk is full", "nothing of it was kept")
    assert os.listdir(small_disk) == []
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)  # space freed
    assert main([*command, str(small_disk / "work")]) == 0
    assert main([*command, str(tmp_path / "work")]) == 0
    assert tree(small_disk / "work") == tree(tmp_path / "work")


def test_sitelinks_sqlite_is_byte_identical_across_runs_and_workers(tmp_path, monkeypatch):
    """Many blocks, two workers: which worker reads which block varies, the file must not
    (nor with one worker)."""
    monkeypatch.setattr(parallel, "BUFFER_BYTES", 1 << 12)
    dump = write(tmp_path / "wd.json", wikidata_dump_text(many_items(400)))
    files = []
    for run, workers in enumerate(["2", "2", "1"]):
        out = tmp_path / f"w{run}"
        assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(out), "--workers", workers]) == 0
        files.append(open(out / "wikidata" / "sitelinks.sqlite", "rb").read())
        assert sqlite3.connect(out / "wikidata" / "sitelinks.sqlite").execute(
            "SELECT count(*) FROM sitelinks").fetchone() == (805,)
    assert files[0] == files[1] == files[2]
