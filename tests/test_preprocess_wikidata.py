"""xlmk-preprocess wikidata on generated dumps in the real format."""

import hashlib
import json
import os
import sqlite3

import numpy as np
import pytest

from dump_fixtures import MALFORMED_LINES, item, small_wikidata, wikidata_dump_text, write
from preprocess import parallel, shards
from preprocess.sites import wikipedia_language
from preprocess.cli import main


@pytest.fixture(params=[None, "gz", "bz2"])
def dump(tmp_path, request):
    return write(tmp_path / "latest-all.json", wikidata_dump_text(small_wikidata(), MALFORMED_LINES), request.param)


def read_outputs(work):
    out = os.path.join(work, "wikidata")
    items = [line.rstrip("\n").split("\t") for line in open(os.path.join(out, "items.tsv"), encoding="utf-8")]
    db = sqlite3.connect(os.path.join(out, "sitelinks.sqlite"))
    sitelinks = sorted(db.execute("SELECT lang, title, qid FROM sitelinks"))
    labels = sorted(db.execute("SELECT lang, qid, label FROM labels"))
    triples = np.load(os.path.join(out, "triples.npy")).tolist()
    props = [line.rstrip("\n").split("\t") for line in open(os.path.join(out, "properties.tsv"), encoding="utf-8")]
    stats = json.load(open(os.path.join(out, "stats.json")))
    return items, (sitelinks, labels), triples, props, stats


@pytest.mark.parametrize("workers", [1, 2])
def test_items_sitelinks_and_triples(dump, tmp_path, workers):
    work = tmp_path / "work"
    assert main(["wikidata", "--dump", dump, "--langs", "en,de,zh-min-nan", "--out", str(work),
                 "--workers", str(workers)]) == 0
    items, (sitelinks, labels), triples, props, stats = read_outputs(work)
    assert items == [["Q183", "Germany"], ["Q64", "Berlin"], ["Q142", "France"], ["Q36236", "Bân-lâm-gú"]]
    # labels in the chosen languages only (Q36236's is "nan", not "zh-min-nan")
    assert labels == [("de", 64, "Berlin"), ("de", 183, "Deutschland"), ("en", 142, "France"), ("en", 183, "Germany")]
    assert sitelinks == sorted([("en", "Germany", 183), ("de", "Deutschland", 183), ("de", "Berlin", 64),
                                ("en", "Berlin", 64), ("en", "France", 142), ("zh-min-nan", "Bân-lâm-gú", 36236)])
    # deprecated, somevalue, novalue and non-item claims are skipped; Q46/Q90 are not kept
    assert sorted(triples) == sorted([[183, 36, 64], [64, 17, 183], [64, 1376, 183], [142, 47, 183]])
    assert props[0][0] in ("P36", "P17", "P47", "P1376") and ["P36", "1", "capital"] in props
    assert stats["skipped"]["malformed_json"] == 1 and stats["skipped"]["missing_id"] == 1
    assert stats["skipped"]["no_sitelink_in_languages"] == 2
    assert stats["skipped"]["not_an_item"] == 1
    assert stats["skipped"]["claim_deprecated"] == 1
    assert stats["skipped"]["claim_somevalue"] == 1 and stats["skipped"]["claim_novalue"] == 1
    assert stats["counts"]["claims_to_items_not_kept"] == 2  # Q183->Q46, Q142->Q90


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    dump = write(tmp_path / "d.json", wikidata_dump_text(small_wikidata() * 1, MALFORMED_LINES))
    outs = []
    for workers in (1, 2):
        work = tmp_path / f"w{workers}"
        main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(work), "--workers", str(workers)])
        outs.append(read_outputs(work)[:4])
    assert outs[0] == outs[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_lines_cut_by_the_reads_and_the_buffers(tmp_path, monkeypatch, workers):
    """Reads of 7 bytes and buffers shorter than some entity lines (those go through the
    pipe): the same outputs as whole-file reads, and the input's checksum in the stats."""
    dump = write(tmp_path / "d.json", wikidata_dump_text(small_wikidata() * 3, MALFORMED_LINES), "bz2")
    main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(tmp_path / "whole")])
    monkeypatch.setattr(shards, "BLOCK_BYTES", 7)
    monkeypatch.setattr(parallel, "BUFFER_BYTES", 700)
    assert max(len(line) for line in wikidata_dump_text(small_wikidata(), ()).splitlines()) > 700
    assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(tmp_path / "cut"),
                 "--workers", str(workers)]) == 0
    whole, cut = read_outputs(tmp_path / "whole"), read_outputs(tmp_path / "cut")
    assert cut[:4] == whole[:4] and cut[4]["skipped"] == whole[4]["skipped"]
    with open(dump, "rb") as f:
        assert cut[4]["input"]["sha256"] == hashlib.sha256(f.read()).hexdigest()


def test_sitelink_site_ids():
    assert wikipedia_language("enwiki") == "en"
    assert wikipedia_language("zh_min_nanwiki") == "zh-min-nan"
    for site in ("commonswiki", "specieswiki", "metawiki", "sourceswiki", "mediawikiwiki", "wikidatawiki",
                 "enwikiquote", "dewikivoyage"):
        assert wikipedia_language(site) is None


@pytest.mark.parametrize("content,compression,message", [
    ("", None, "empty"),
    ("<mediawiki>\n</mediawiki>\n", None, "not a Wikidata JSON dump"),
    ("\n\n", None, "no entities"),
    ("truncated", "gz-truncated", "damaged or truncated"),
    ("truncated", "bz2-truncated", "damaged or truncated"),
])
def test_not_a_dump_stops_with_a_message_and_writes_nothing(tmp_path, capsys, content, compression, message):
    if compression and compression.endswith("-truncated"):
        kind = compression.split("-")[0]
        full = tmp_path / "full"
        write(full, wikidata_dump_text(small_wikidata() * 50), kind)
        data = full.read_bytes()
        path = write(tmp_path / "dump", data[: len(data) // 2])
    else:
        path = write(tmp_path / "dump", content)
    work = tmp_path / "work"
    assert main(["wikidata", "--dump", path, "--langs", "en", "--out", str(work)]) != 0
    assert message in capsys.readouterr().err
    assert not os.path.exists(work / "wikidata") and not os.path.exists(str(work / "wikidata") + ".partial")


def test_missing_file(tmp_path, capsys):
    assert main(["wikidata", "--dump", str(tmp_path / "nope.json"), "--langs", "en", "--out", str(tmp_path)]) != 0
    assert "no such file" in capsys.readouterr().err


def test_invalid_utf8_line_is_counted_and_skipped(tmp_path):
    text = wikidata_dump_text(small_wikidata()).encode("utf-8")
    bad = b'{"type": "item", "id": "Q5", "labels": {"en": {"language": "en", "value": "\xff\xfe"}}}'
    data = text.replace(b"[\n", b"[\n" + bad + b",\n", 1)
    dump = write(tmp_path / "d.json", data)
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "w")]) == 0
    stats = json.load(open(tmp_path / "w" / "wikidata" / "stats.json"))
    assert stats["skipped"]["malformed_json"] == 1


@pytest.mark.parametrize("compression", [None, "bz2-multistream"])
@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_put_together_equal_the_unsharded_run(tmp_path, compression, count):
    import bz2

    entities = [e for e in small_wikidata()] * 7
    text = wikidata_dump_text(entities, MALFORMED_LINES)
    if compression:
        # several bz2 streams, cut anywhere (even inside a line), as parallel compressors write them
        data = text.encode()
        step = len(data) // 5 + 1
        dump = write(tmp_path / "d.json.bz2", b"".join(bz2.compress(data[i:i + step]) for i in range(0, len(data), step)))
    else:
        dump = write(tmp_path / "d.json", text)
    whole, sharded = whole_and_sharded(tmp_path, dump, count)
    assert whole == sharded


def test_a_shard_holding_only_the_closing_bracket(tmp_path):
    dump = write(tmp_path / "d.json", wikidata_dump_text(small_wikidata() * 2, MALFORMED_LINES))
    cuts = shards.cut_points(dump, 60)
    data = open(dump, "rb").read()
    assert b"]\n" in [data[a:b] for a, b in zip(cuts, cuts[1:])]
    whole, sharded = whole_and_sharded(tmp_path, dump, 60)
    assert whole == sharded


def whole_and_sharded(tmp_path, dump, count):
    """The outputs of an unsharded run and of ``count`` shards put together."""
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(whole)]) == 0
    for i in range(count):
        assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(sharded),
                     "--shard", f"{i}/{count}"]) == 0
    assert main(["wikidata", "--out", str(sharded), "--merge-shards", str(count)]) == 0
    return read_outputs(whole), read_outputs(sharded)


def test_gzip_dump_cannot_be_sharded(tmp_path, capsys):
    dump = write(tmp_path / "d.json.gz", wikidata_dump_text(small_wikidata()), "gz")
    assert main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "w"), "--shard", "1/2"]) != 0
    assert "cannot be sharded" in capsys.readouterr().err


def test_merge_needs_every_shard(tmp_path, capsys):
    dump = write(tmp_path / "d.json", wikidata_dump_text(small_wikidata()))
    main(["wikidata", "--dump", dump, "--langs", "en", "--out", str(tmp_path / "w"), "--shard", "0/2"])
    assert main(["wikidata", "--out", str(tmp_path / "w"), "--merge-shards", "2"]) != 0
    assert "unfinished wikidata shards" in capsys.readouterr().err


@pytest.mark.parametrize("block_rows", [1, 2, 1 << 20])
def test_triples_are_filtered_block_by_block(tmp_path, block_rows):
    """Claims are read in blocks (memory: one block); the result does not depend on the size."""
    import collections

    from preprocess.wikidata import _keep_triples_among_items

    claims = np.array([[1, 17, 2], [2, 36, 3], [1, 17, 9], [3, 17, 1], [9, 47, 1]], dtype=np.int64)
    claims.tofile(tmp_path / "claims.bin")
    (tmp_path / "items.tsv").write_text("Q1\ta\nQ2\tb\nQ3\tc\n", encoding="utf-8")
    counts = collections.Counter()
    relations = _keep_triples_among_items(str(tmp_path / "claims.bin"), str(tmp_path / "items.tsv"),
                                          str(tmp_path / "triples.npy"), counts, block_rows=block_rows)
    assert np.load(tmp_path / "triples.npy").tolist() == [[1, 17, 2], [2, 36, 3], [3, 17, 1]]
    assert relations == {17: 2, 36: 1}
    assert counts["triples"] == 3 and counts["claims_to_items_not_kept"] == 2

    (tmp_path / "claims.bin").write_bytes(b"")
    assert _keep_triples_among_items(str(tmp_path / "claims.bin"), str(tmp_path / "items.tsv"),
                                     str(tmp_path / "triples.npy"), counts, block_rows=block_rows) == {}
    assert np.load(tmp_path / "triples.npy").shape == (0, 3)


def test_title_held_by_two_items_goes_to_the_smaller_qid(tmp_path):
    """A dump caught mid-edit can give one title to two items: the smaller QID wins, whatever
    the order of the lines and the number of workers."""
    a = item("Q7", labels={"en": "A"}, sitelinks=[("enwiki", "Same")])
    b = item("Q5", labels={"en": "B"}, sitelinks=[("enwiki", "Same"), ("dewiki", "B")])
    results = []
    for order, workers in (((a, b), 1), ((b, a), 1), ((a, b), 2)):
        dump = write(tmp_path / f"d{len(results)}.json", wikidata_dump_text(list(order) * 300))
        work = tmp_path / f"w{len(results)}"
        assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(work),
                     "--workers", str(workers)]) == 0
        results.append(read_outputs(work)[1])
    assert results[0] == results[1] == results[2]
    assert results[0][0] == [("de", "B", 5), ("en", "Same", 5)]


ENTITY_CASES = [
    # Wikibase writes empty maps as [] in places
    ('{"type":"item","id":"Q1","labels":[],"claims":[],"sitelinks":{"enwiki":{"title":"T"}}}',
     ("item", 1, "", {"en": "T"}, [], {})),
    ('{"type":"item","id":"Q1","sitelinks":[]}', ("skip", "no_sitelink_in_languages")),
    # a field of the wrong type: counted, not a crash
    ('{"type":"item","id":"Q1","sitelinks":{"enwiki":{"title":5}}}', ("skip", "malformed_entity")),
    ('{"type":"item","id":7}', ("skip", "malformed_entity")),
    ('{"type":"item","id":"Q1x","sitelinks":{"enwiki":{"title":"T"}}}', ("skip", "not_an_item")),
    ('{"type":"item","id":"Q\u00b2","sitelinks":{"enwiki":{"title":"T"}}}', ("skip", "not_an_item")),
    ('{"type":"property","id":"P31","labels":{"en":{"value":"instance of"}}}', ("property", 31, "instance of", {"en": "instance of"})),
    ('{"type":"item","id":"Q1","sitelinks":{"enwiki":{"title":"T"}},"labels":{"fr":{"value":"Le T"}}}',
     ("item", 1, "Le T", {"en": "T"}, [], {})),
]


@pytest.mark.parametrize("line,expected", ENTITY_CASES)
def test_entity_lines(line, expected):
    from preprocess.wikidata_entity import EntityParser

    record = EntityParser(["en"]).parse(line.encode() + b",")
    assert (record[:4] + record[4:5] + record[6:] if record[0] == "item" else record) == expected


def test_claims_numeric_id_only_malformed_and_references_ignored():
    from preprocess.wikidata_entity import EntityParser

    def statement(pid, value, **extra):
        return {"mainsnak": {"snaktype": "value", "property": pid, "datatype": "wikibase-item",
                             "datavalue": {"value": value, "type": "wikibase-entityid"}}, "rank": "normal", **extra}
    entity = item("Q1", sitelinks=[("enwiki", "T")])
    reference = {"snaks": {"P248": [{"snaktype": "value", "property": "P248", "datatype": "wikibase-item",
                                     "datavalue": {"value": {"id": "Q99"}}}]}}
    entity["claims"] = {
        "P17": [statement("P17", {"entity-type": "item", "numeric-id": 42}),  # no "id"
                statement("P17", {"id": "Q43"}, references=[reference], qualifiers={"P580": []}),
                statement("P17", "not an item")],
        "P18": [statement("Pxyz", {"id": "Q44"})],
        # an external id whose reference names an item: not a claim of the item
        "P214": [{"mainsnak": {"snaktype": "value", "property": "P214", "datatype": "external-id",
                               "datavalue": {"value": "113230702", "type": "string"}},
                  "rank": "normal", "references": [reference]}],
        "P36": [{"mainsnak": "wikibase-item"}],  # not a snak
    }
    record = EntityParser(["en"]).parse(json.dumps(entity).encode())
    assert record[4] == [(17, 42), (17, 43)]
    assert record[5] == {"claim_malformed": 3}
