"""xlmk-preprocess wikidata from the truthy N-Triples dump and the wb_items_per_site SQL dump,
against the JSON route on the same generated entities."""

import bz2
import gzip
import os

import pytest

from dump_fixtures import (MALFORMED_LINES, NT_ODD_LINES, WB_ITEMS_PER_SITE_COLUMNS, escaped_wikidata, item,
                           mysql_dump_text, small_wikidata, truthy_dump_text, wb_items_per_site_text,
                           wikidata_dump_text, write)
from preprocess import mysql_dump, ntriples, parallel, shards, sitelinks_sql
from preprocess.cli import main
from test_preprocess_wikidata import read_outputs

LANGS = "en,de,zh-min-nan"


def entities():
    return small_wikidata() + escaped_wikidata()


def json_route(tmp_path, ents=None, langs=LANGS):
    dump = write(tmp_path / "latest-all.json", wikidata_dump_text(ents or entities(), MALFORMED_LINES))
    work = tmp_path / "json"
    assert main(["wikidata", "--dump", dump, "--langs", langs, "--out", str(work)]) == 0
    return read_outputs(work)


def sql_route(tmp_path, ents=None, langs=LANGS, truthy_compression="bz2", workers=1, extra=()):
    ents = ents or entities()
    tmp_path.mkdir(exist_ok=True)
    truthy = write(tmp_path / "latest-truthy.nt", truthy_dump_text(ents, NT_ODD_LINES, escape_non_ascii=True),
                   truthy_compression)
    sql = write(tmp_path / "wikidatawiki-latest-wb_items_per_site.sql.gz", wb_items_per_site_text(ents), "gz")
    work = tmp_path / "sql"
    assert main(["wikidata", "--truthy", truthy, "--sitelinks-sql", sql, "--langs", langs, "--out", str(work),
                 "--workers", str(workers), *extra]) == 0
    return read_outputs(work)


def as_dict(items):
    return {qid: label for qid, label in items}


@pytest.mark.parametrize("truthy_compression", [None, "gz", "bz2"])
@pytest.mark.parametrize("workers", [1, 2])
def test_truthy_and_sql_route_equals_the_json_route(tmp_path, truthy_compression, workers):
    j_items, j_tables, j_triples, j_props, j_stats = json_route(tmp_path)
    s_items, s_tables, s_triples, s_props, s_stats = sql_route(tmp_path, truthy_compression=truthy_compression,
                                                               workers=workers)
    assert s_tables == j_tables  # sitelinks and labels, exactly
    assert ("de", 'Back\\slash "quoted"', 500) in s_tables[0] and ("en", "Rock 'n' roll", 500) in s_tables[0]
    assert ("de", 501, "Ünïcödé – 北京") in s_tables[1] and ("en", 500, 'Rock "n" roll') in s_tables[1]
    assert sorted(s_triples) == sorted(j_triples) and len(s_triples) == 7
    assert s_props == j_props and ["P495", "2", 'country of "origin"'] in s_props
    # items: the same set, in QID order; the one documented label difference: Q36236 has a
    # label only in "nan", which the JSON route takes as "any label" and this route does not read
    assert [int(q[1:]) for q, _ in s_items] == sorted(int(q[1:]) for q, _ in j_items)
    expected = as_dict(j_items) | {"Q36236": ""}
    assert as_dict(s_items) == expected
    assert s_stats["sources"] == {"items": "wb_items_per_site", "triples": "truthy"}
    assert s_stats["skipped"] == {"malformed_line": 1, "claim_somevalue": 2}
    for key in ("items_kept", "sitelinks", "item_claims", "triples", "claims_to_items_not_kept"):
        assert s_stats["counts"][key] == j_stats["counts"][key], key
    assert len(s_stats["inputs"]) == 2 and s_stats["input"] == s_stats["inputs"][0]


def test_json_items_with_truthy_triples(tmp_path):
    json_out = json_route(tmp_path)
    dump = str(tmp_path / "latest-all.json")
    truthy = write(tmp_path / "t.nt.gz", truthy_dump_text(entities(), NT_ODD_LINES), "gz")
    work = tmp_path / "jt"
    assert main(["wikidata", "--dump", dump, "--truthy", truthy, "--langs", LANGS, "--out", str(work),
                 "--workers", "2"]) == 0
    items, tables, triples, props, stats = read_outputs(work)
    assert (items, tables, props) == tuple(json_out[i] for i in (0, 1, 3))
    assert sorted(triples) == sorted(json_out[2])
    assert stats["sources"] == {"items": "json", "triples": "truthy"}
    assert stats["skipped"]["malformed_line"] == 1 and stats["skipped"]["malformed_json"] == 1


def test_truthy_holds_only_best_rank_statements(tmp_path):
    """Documented difference: with a preferred statement, a property's normal ones are not truthy."""
    ents = small_wikidata() + [
        item("Q7", labels={"en": "Seven"}, sitelinks=[("enwiki", "Seven")],
             claims=[("P47", "Q64", "preferred", "value"), ("P47", "Q142", "normal", "value"),
                     ("P17", "Q183", "normal", "value")])]
    json_triples = set(map(tuple, json_route(tmp_path, ents)[2]))
    truthy_triples = set(map(tuple, sql_route(tmp_path, ents)[2]))
    assert json_triples - truthy_triples == {(7, 47, 142)}
    assert truthy_triples <= json_triples and (7, 47, 64) in truthy_triples and (7, 17, 183) in truthy_triples


def test_english_labels_pick_the_item_label_but_stay_out_of_the_labels_table(tmp_path):
    items, (sitelinks, labels), *_ = sql_route(tmp_path, langs="de")
    assert as_dict(items)["Q183"] == "Germany"  # English first, as in the JSON route
    assert as_dict(items)["Q501"] == "Ünïcödé – 北京"
    assert {lang for lang, _, _ in labels} == {"de"} and {lang for lang, _, _ in sitelinks} == {"de"}


def test_sql_rows_cut_by_the_read_chunks(tmp_path, monkeypatch):
    whole = sql_route(tmp_path / "whole")
    monkeypatch.setattr(sitelinks_sql, "CHUNK_BYTES", 5)  # every row and statement crosses chunks
    assert sql_route(tmp_path / "small")[:4] == whole[:4]


@pytest.mark.parametrize("workers", [1, 2])
def test_triples_cut_by_the_reads_and_the_buffers(tmp_path, monkeypatch, workers):
    """Reads of 5 bytes (the format check sees its first triple in pieces) and buffers of a
    few lines: the same outputs as whole-file reads."""
    whole = sql_route(tmp_path / "whole")
    monkeypatch.setattr(shards, "BLOCK_BYTES", 5)
    monkeypatch.setattr(parallel, "BUFFER_BYTES", 300)
    assert sql_route(tmp_path / "cut", workers=workers)[:4] == whole[:4]


@pytest.mark.parametrize("compression", [None, "bz2-multistream"])
@pytest.mark.parametrize("count", [2, 3])
def test_shards_put_together_equal_the_unsharded_run(tmp_path, compression, count):
    ents = entities() * 5
    text = truthy_dump_text(ents, NT_ODD_LINES)
    if compression:
        data = text.encode()
        step = len(data) // 4 + 1  # streams cut inside lines, as parallel compressors write them
        streams = [bz2.compress(data[i:i + step]) for i in range(0, len(data), step)]
        truthy = write(tmp_path / "t.nt.bz2", b"".join(streams))
    else:
        truthy = write(tmp_path / "t.nt", text)
    sql = write(tmp_path / "ips.sql.gz", wb_items_per_site_text(entities()), "gz")
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    args = ["wikidata", "--truthy", truthy, "--sitelinks-sql", sql, "--langs", LANGS]
    assert main([*args, "--out", str(whole)]) == 0
    for i in range(count):
        assert main([*args, "--out", str(sharded), "--shard", f"{i}/{count}"]) == 0
    assert main(["wikidata", "--out", str(sharded), "--merge-shards", str(count)]) == 0
    assert read_outputs(whole) == read_outputs(sharded)


def other_table_sql():
    columns = [("page_id", "int(8) unsigned NOT NULL"), ("page_namespace", "int(11) NOT NULL"),
               ("page_title", "varbinary(255) NOT NULL"), ("page_touched", "binary(14) NOT NULL")]
    return mysql_dump_text("page", columns, [(1, 0, "Berlin", "20240101000000")])


def swapped_columns_sql():
    columns = [WB_ITEMS_PER_SITE_COLUMNS[i] for i in (0, 2, 1, 3)]
    return mysql_dump_text("wb_items_per_site", columns, [(1, "enwiki", 64, "Berlin")])


def truncated(text, compression):
    data = {"gz": gzip.compress, "bz2": bz2.compress}[compression](text.encode())
    return data[: len(data) // 2]


@pytest.mark.parametrize("case,message", [
    ("sql_of_another_table", "a dump of table `page`"),
    ("sql_with_other_columns", "has columns"),
    ("json_as_sql", "not a MySQL dump of `wb_items_per_site`"),
    ("sql_truncated", "damaged or truncated"),
    ("sql_cut_inside_a_statement", "is cut short"),
    ("truthy_truncated_bz2", "damaged or truncated"),
    ("truthy_truncated_gz", "damaged or truncated"),
    ("json_as_truthy", "not an N-Triples dump"),
    ("empty_truthy", "empty"),
    ("dump_and_sql", "replaces --dump"),
    ("sql_without_truthy", "needs --truthy"),
    ("truthy_alone", "needs --dump, or --truthy with --sitelinks-sql"),
    ("dump_truthy_sharded", "not supported"),
])
def test_wrong_inputs_stop_with_a_message_and_write_nothing(tmp_path, capsys, case, message):
    ents = entities() * 20
    json_dump = write(tmp_path / "all.json", wikidata_dump_text(ents))
    nt_text, sql_text = truthy_dump_text(ents), wb_items_per_site_text(ents)
    truthy, sql = write(tmp_path / "t.nt", nt_text), write(tmp_path / "ips.sql.gz", sql_text, "gz")
    with_sql = lambda path: ["--truthy", truthy, "--sitelinks-sql", path]  # noqa: E731
    with_truthy = lambda path: ["--truthy", path, "--sitelinks-sql", sql]  # noqa: E731
    args = {
        "sql_of_another_table": with_sql(write(tmp_path / "p.sql", other_table_sql())),
        "sql_with_other_columns": with_sql(write(tmp_path / "c.sql", swapped_columns_sql())),
        "json_as_sql": with_sql(json_dump),
        "sql_truncated": with_sql(write(tmp_path / "x.sql.gz", truncated(sql_text, "gz"))),
        "sql_cut_inside_a_statement": with_sql(write(tmp_path / "x.sql", sql_text[: sql_text.index("),(") + 2])),
        "truthy_truncated_bz2": with_truthy(write(tmp_path / "x.nt.bz2", truncated(nt_text, "bz2"))),
        "truthy_truncated_gz": with_truthy(write(tmp_path / "x.nt.gz", truncated(nt_text, "gz"))),
        "json_as_truthy": with_truthy(json_dump),
        "empty_truthy": with_truthy(write(tmp_path / "e.nt", "")),
        "dump_and_sql": ["--dump", json_dump, *with_sql(sql)],
        "sql_without_truthy": ["--sitelinks-sql", sql],
        "truthy_alone": ["--truthy", truthy],
        "dump_truthy_sharded": ["--dump", json_dump, "--truthy", truthy, "--shard", "1/2"],
    }[case]
    work = tmp_path / "work"
    assert main(["wikidata", *args, "--langs", LANGS, "--out", str(work)]) != 0
    err = capsys.readouterr().err
    assert "xlmk-preprocess: error: " in err and message in err and "Traceback" not in err
    assert not os.path.exists(work / "wikidata") and not os.path.exists(str(work / "wikidata") + ".partial")
    assert not os.path.exists(work / "wikidata.shards" / "1-of-2")


def test_ntriples_terms():
    label = ntriples.parse(b'<http://e/Q1> <http://l> "say \\"hi\\" \\\\ \\u00e9\\U0001F600\\n"@DE-ch .')
    assert label[3] == ntriples.LITERAL and label[4] == b"de-ch"
    assert ntriples.literal(label[2]) == 'say "hi" \\ é\U0001F600\n'
    typed = ntriples.parse(b'<http://e/Q1> <http://p> "+5"^^<http://www.w3.org/2001/XMLSchema#decimal> .')
    assert typed[2:] == (b"+5", ntriples.LITERAL, None)
    assert ntriples.parse(b"_:b1 <http://p> _:b2 .")[:4] == (b"_:b1", b"http://p", b"_:b2", ntriples.BNODE)
    assert ntriples.iri(ntriples.parse(b"<http://e/\\u00e9> <http://p> <http://o> .")[0]) == "http://e/é"
    assert ntriples.parse(b"   # comment") is None and ntriples.parse(b"") is None
    for bad in (b'<http://a> <http://b> "open .', b"<http://a> <http://b> <http://c>",
                b"<http://a b> <http://p> <http://c> .",
                b'<http://a> "p" <http://c> .', b'<http://a> <http://b> "x"@ .'):
        with pytest.raises(ntriples.Malformed):
            ntriples.parse(bad)


def test_mysql_tokenizer_escapes_and_values():
    text = mysql_dump_text("t", [("a", "int"), ("b", "varbinary(9)"), ("c", "varbinary(9)")],
                           [(1, "it's \\ \"q\"\n\x00\x1a", None), (-2, "", "x,y),(z")], rows_per_insert=1)
    rows = list(mysql_dump.table_rows([text.encode()], "t.sql", "t", ("a", "b", "c")))
    assert rows == [(1, b"it's \\ \"q\"\n\x00\x1a", None), (-2, b"", b"x,y),(z")]
    assert mysql_dump.unescape(b"50\\% a\\_b \\x") == b"50\\% a\\_b x"
