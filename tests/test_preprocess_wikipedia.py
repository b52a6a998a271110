"""xlmk-preprocess wikipedia on generated XML dumps in the real export format."""

import json
import os

import pytest

from dump_fixtures import page, small_wikidata, wikidata_dump_text, wikipedia_dump_text, write
from preprocess.cli import main
from preprocess.wikitext import PARSERS, WikitextConverter

GERMANY = ("'''Germany''' is a country. Its capital is [[Berlin]]. It borders [[france]], "
           "[[FRG|West Germany]] and [[United_States]] and [[Nowhere]] and [[Loop A]]."
           "{{Infobox country|capital=[[Berlin]]}}<ref>See [[France]]</ref> "
           "[[Category:Countries]] [[de:Deutschland]] [[File:Flag.png|thumb|Flag of [[Germany]]]]\n"
           "== History ==\nThe [[Berlin#History|capital]]s &amp; more&nbsp;text.")


def en_pages():
    return [
        page("Germany", GERMANY, page_id=10),
        page("Berlin", "'''Berlin''' is the capital of [[Germany]].", page_id=11),
        page("France", "France borders [[Germany]].", page_id=12),
        page("FRG", "#REDIRECT [[Germany]]", redirect="Germany", page_id=13),
        page("Loop A", "#REDIRECT [[Loop B]]", redirect="Loop B", page_id=14),
        page("Loop B", "#REDIRECT [[Loop A]]", redirect="Loop A", page_id=15),
        page("Template:Infobox country", "{{{capital}}}", ns=10, page_id=16),
        page("Empty page", "", page_id=17),
    ]


@pytest.fixture
def work(tmp_path):
    dump = write(tmp_path / "wd.json", wikidata_dump_text(small_wikidata()))
    work = tmp_path / "work"
    assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(work)]) == 0
    return work


def read_pages(work, lang):
    path = os.path.join(work, "wikipedia", lang)
    pages = [json.loads(line) for line in open(os.path.join(path, "pages.jsonl"), encoding="utf-8")]
    return {p["title"]: p for p in pages}, json.load(open(os.path.join(path, "stats.json")))


@pytest.mark.parametrize("encoding,compression,version", [
    ("utf-8", None, "0.11"), ("utf-8", "bz2", "0.10"), ("utf-8-sig", "gz", "0.8"), ("utf-16", None, "0.11"),
])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("parser", PARSERS)
def test_pages_text_links_and_redirects(work, tmp_path, encoding, compression, version, workers, parser):
    text = wikipedia_dump_text("en", en_pages(), version=version).encode(encoding)
    dump = write(tmp_path / "enwiki.xml", text, compression)
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--workers", str(workers),
                 "--parser", parser]) == 0
    pages, stats = read_pages(work, "en")
    assert stats["parser"] == parser
    assert sorted(pages) == ["Berlin", "France", "Germany"]
    germany = pages["Germany"]
    assert germany["qid"] == 183 and pages["Berlin"]["qid"] == 64
    text = germany["text"]
    assert "Infobox" not in text and "See France" not in text and "Flag of" not in text
    assert "Countries" not in text and "Deutschland" not in text
    assert "History" in text and "& more text." in text
    mentions = [(text[s:e], qid) for s, e, qid in germany["links"]]
    assert mentions == [("Berlin", 64), ("france", 142), ("West Germany", 183), ("capitals", 64)]
    c = stats["counts"]
    assert c["pages"] == 3 and c["redirects"] == 3 and c["redirect_loops"] == 1
    # unresolved: United_States and Nowhere (no such items), Loop A (a loop)
    assert c["mentions_unresolved"] == 3 and c["mentions_resolved"] == 6
    assert stats["skipped"] == {"empty_text": 1, "non_main_namespace": 1}


@pytest.mark.parametrize("parser", PARSERS)
def test_localised_namespaces(work, tmp_path, parser):
    text = ("[[Berlin]] ist die Hauptstadt. [[Datei:Karte.png|mini|Karte von [[Berlin]]]] "
            "[[Kategorie:Staat]] [[:Kategorie:Staaten|Staaten]] {{Vorlage|x=[[Berlin]]}}")
    dump = write(tmp_path / "dewiki.xml", wikipedia_dump_text("de", [page("Deutschland", text)]))
    assert main(["wikipedia", "--dump", dump, "--lang", "de", "--out", str(work), "--parser", parser]) == 0
    pages, _ = read_pages(work, "de")
    p = pages["Deutschland"]
    assert p["qid"] == 183
    assert p["text"] == "Berlin ist die Hauptstadt. Staaten"
    assert [(p["text"][s:e], q) for s, e, q in p["links"]] == [("Berlin", 64)]


def test_wikitext_edge_cases():
    c = WikitextConverter(["File", "Category"])
    text, links = c.convert("[[Berlin (disambiguation)|]] and [[wikt:capital]] and [[bus]]es and "
                            "[[Paris#History|the ''old'' city]]")
    assert text == "Berlin and wikt:capital and buses and the old city"
    assert [(text[l.start:l.end], l.target) for l in links] == [
        ("Berlin", "Berlin (disambiguation)"), ("buses", "bus"), ("the old city", "Paris#History")]


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b'[\n{"id": "Q1"}\n]\n', "not a well-formed"),
    (b"<html><body>hi</body></html>", "not a MediaWiki XML dump"),
])
def test_not_a_dump_is_refused_and_nothing_written(work, tmp_path, capsys, content, message):
    dump = write(tmp_path / "x.xml", content)
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work)]) != 0
    assert message in capsys.readouterr().err
    assert not os.path.exists(work / "wikipedia" / "en")


def test_truncated_compressed_dump_is_refused(work, tmp_path, capsys):
    full = write(tmp_path / "full.xml.bz2", wikipedia_dump_text("en", en_pages() * 30), "bz2")
    data = open(full, "rb").read()
    dump = write(tmp_path / "cut.xml.bz2", data[: len(data) // 2])
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work)]) != 0
    assert "truncated" in capsys.readouterr().err
    assert not os.path.exists(work / "wikipedia" / "en")


def test_needs_the_wikidata_step(tmp_path, capsys):
    dump = write(tmp_path / "en.xml", wikipedia_dump_text("en", en_pages()))
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(tmp_path / "w")]) != 0
    assert "run `xlmk-preprocess wikidata` first" in capsys.readouterr().err


def test_invalid_utf8_is_replaced_and_counted(work, tmp_path):
    text = wikipedia_dump_text("en", [page("Berlin", "Berlin MARK is the capital of [[Germany]].")])
    data = text.encode("utf-8").replace(b"MARK", b"\xff\xfe\xc3")
    dump = write(tmp_path / "en.xml", data)
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work)]) == 0
    pages, stats = read_pages(work, "en")
    assert pages["Berlin"]["text"].startswith("Berlin \ufffd")
    assert stats["skipped"]["invalid_utf8_replaced"] == 3
    assert stats["counts"]["mentions_resolved"] == 1


@pytest.mark.parametrize("layout", ["plain", "multistream"])
@pytest.mark.parametrize("count", [2, 3, 5])
def test_shards_put_together_equal_the_unsharded_run(work, tmp_path, layout, count):
    from dump_fixtures import multistream_bz2

    text = wikipedia_dump_text("en", en_pages() * 3)
    dump = write(tmp_path / "en.xml", text) if layout == "plain" else \
        write(tmp_path / "en-multistream.xml.bz2", multistream_bz2(text))
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work)]) == 0
    whole = open(work / "wikipedia" / "en" / "pages.jsonl", encoding="utf-8").read()
    whole_stats = json.load(open(work / "wikipedia" / "en" / "stats.json"))
    for i in range(count):
        assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--shard", f"{i}/{count}"]) == 0
    assert main(["wikipedia", "--lang", "en", "--out", str(work), "--merge-shards", str(count)]) == 0
    assert open(work / "wikipedia" / "en" / "pages.jsonl", encoding="utf-8").read() == whole
    assert json.load(open(work / "wikipedia" / "en" / "stats.json")) == whole_stats
    assert whole.count("\n") == 9


def test_shards_read_with_different_parsers_are_not_merged(work, tmp_path, capsys):
    dump = write(tmp_path / "en.xml", wikipedia_dump_text("en", en_pages() * 3))
    for i, parser in enumerate(PARSERS):
        assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--shard", f"{i}/2",
                     "--parser", parser]) == 0
    assert main(["wikipedia", "--lang", "en", "--out", str(work), "--merge-shards", "2"]) != 0
    assert "different wikitext parsers" in capsys.readouterr().err
    assert not os.path.exists(work / "wikipedia" / "en")


def test_all_reads_a_language_again_when_the_parser_changes(work, tmp_path, monkeypatch):
    """A language read with another parser than the configuration's is read again (an output
    written before the parsers were recorded counts as mwparserfromhell's), not reused."""
    from preprocess import cli

    dump = write(tmp_path / "en.xml", wikipedia_dump_text("en", en_pages()))
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--parser", "mwparserfromhell"]) == 0
    assert cli._read_with(str(work), "en") == "mwparserfromhell" and cli._read_with(str(work), "de") is None
    read = []
    monkeypatch.setattr(cli, "_wikipedia", lambda args: read.append((args.lang, args.parser)))
    monkeypatch.setattr(cli, "_spm", lambda args: None)
    monkeypatch.setattr(cli, "_binarize", lambda args: None)
    config = tmp_path / "cfg.yaml"
    config.write_text(f"work: {work}\nout: {tmp_path / 'data'}\nwikidata: unused.json\nwikipedia: {{en: {dump}}}\n")
    assert main(["all", "--config", str(config)]) == 0
    assert read == [("en", "scanner")]
    read.clear()
    assert main(["all", "--config", str(config), "--parser", "mwparserfromhell"]) == 0
    assert read == []
    config.write_text(config.read_text() + "parser: regex\n")
    assert main(["all", "--config", str(config)]) == 2


@pytest.mark.parametrize("how", ["--index", "next to the dump"])
@pytest.mark.parametrize("count", [2, 3, 5])
def test_shards_cut_at_the_index_offsets(work, tmp_path, monkeypatch, how, count):
    from dump_fixtures import multistream_bz2, multistream_index
    from preprocess import shards

    text = wikipedia_dump_text("en", en_pages() * 3)
    dump = write(tmp_path / "enwiki-20240101-pages-articles-multistream.xml.bz2", multistream_bz2(text))
    index_name = "my-index.txt.bz2" if how == "--index" else "enwiki-20240101-pages-articles-multistream-index.txt.bz2"
    index = write(tmp_path / index_name, multistream_index(text), "bz2")
    offsets = shards.index_stream_offsets(dump, index)
    assert set(shards.cut_points(dump, count, stream_offsets=offsets)) <= set(offsets) | {os.path.getsize(dump)}
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work)]) == 0
    whole = open(work / "wikipedia" / "en" / "pages.jsonl", encoding="utf-8").read()

    def no_scan(*args):
        raise AssertionError("scanned for stream starts although there is an index")
    monkeypatch.setattr(shards, "_next_stream", no_scan)
    extra = ["--index", index] if how == "--index" else []
    for i in range(count):
        assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--shard", f"{i}/{count}",
                     *extra]) == 0
    assert main(["wikipedia", "--lang", "en", "--out", str(work), "--merge-shards", str(count)]) == 0
    assert open(work / "wikipedia" / "en" / "pages.jsonl", encoding="utf-8").read() == whole


@pytest.mark.parametrize("case,message", [
    ("index of another dump", "not the index of"),
    ("not an index", "not a multistream index"),
    ("plain dump", "is not one"),
])
def test_an_index_that_does_not_fit_is_refused(work, tmp_path, capsys, case, message):
    from dump_fixtures import multistream_bz2, multistream_index

    text = wikipedia_dump_text("en", en_pages() * 3)
    other = wikipedia_dump_text("en", en_pages() * 6)
    dump = (write(tmp_path / "en.xml", text) if case == "plain dump" else
            write(tmp_path / "en-multistream.xml.bz2", multistream_bz2(text)))
    index = write(tmp_path / "index.txt.bz2", {"index of another dump": multistream_index(other),
                                              "not an index": '[\n{"id": "Q1"}\n]\n',
                                              "plain dump": multistream_index(text)}[case], "bz2")
    assert main(["wikipedia", "--dump", dump, "--lang", "en", "--out", str(work), "--shard", "0/2",
                 "--index", index]) != 0
    assert message in capsys.readouterr().err
    assert not os.path.exists(work / "wikipedia.shards" / "en" / "0-of-2")
