"""Link prediction data: labels per language from the dumps to the data directory, and the examples."""

import json
import os
import shutil
import sqlite3

import pytest
import torch
import yaml
from fairseq.data import Dictionary

from dump_fixtures import (page, prop, small_wikidata, truthy_dump_text, wb_items_per_site_text,
                           wikidata_dump_text, wikipedia_dump_text, write)
from preprocess.cli import main
from preprocess.knowledge_dir_writer import KnowledgeDirWriter
from preprocess.tokenizer import Tokenizer
from xlmk_fairseq.data.knowledge_dir import KnowledgeDir
from xlmk_fairseq.data.link_prediction_dataset import LinkPredictionDataset, separator_tokens
from xlmk_fairseq.errors import ConfigError

BOS, PAD, EOS = 0, 1, 2
O, S, C = 40, 41, 42  # "(", ",", ")" in the handmade dictionary


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """Three entities, three relations, en/de/zh; zh has no label at all (an empty .bin).

    entity 0: en [4, 5], de [6]; entity 1: en [7], de [8, 9]; entity 2: en [10], de none.
    relation 0: en [11], de [12]; relation 1: en [13], de none; relation 2: en none, de [14].
    Triple 0 (0, 0, 1): en and de; triple 1 (0, 1, 1): en only; triple 2 (2, 2, 0): none.
    """
    out = tmp_path_factory.mktemp("lp") / "data"
    w = KnowledgeDirWriter(out, ["en", "de", "zh"], [(f"w{i}", 1) for i in range(40)])  # ids 4..43
    w.write_knowledge(entities=[("Q1", "a"), ("Q2", "b"), ("Q3", "c")],
                      relations=[("P1", "r"), ("P2", "s"), ("P3", "t")],
                      descriptions={e: {"en": [20 + e]} for e in range(3)},
                      triples_by_split={"train": [[0, 0, 1], [0, 1, 1], [2, 2, 0]], "valid": []})
    w.add_labels("entities", "en", [[4, 5], [7], [10]])
    w.add_labels("entities", "de", [[6], [8, 9], []])
    w.add_labels("entities", "zh", [[], [], []])
    w.add_labels("relations", "en", [[11], [13], []])
    w.add_labels("relations", "de", [[12], [], [14]])
    w.add_labels("relations", "zh", [[], [], []])
    return w.finalize()


def dictionary(data):
    d = Dictionary.load(os.path.join(data, "dict.txt"))
    return d, d.add_symbol("<mask>")


def lp_dataset(data, langs=("en", "de", "zh"), split="train", **kwargs):
    d, mask = dictionary(data)
    kdir = KnowledgeDir(str(data))
    entities, relations = kdir.labels(list(langs), len(d))
    triples = kdir.npy("oe", f"{split}.npy")
    separators = kwargs.pop("separators", ([O], [S], [C]))
    return LinkPredictionDataset(triples, entities, relations, d, mask, separators, **kwargs), mask


def examples(ds, index, epochs=200):
    out = []
    for epoch in range(1, epochs + 1):
        ds.set_epoch(epoch)
        out.append(ds[index])
    return out


def key(x):
    return x["kind"], x["tail"], tuple(map(tuple, x["langs"]))


def test_handmade_labels_load_and_the_triple_without_a_language_is_left_out(handmade):
    manifest = json.load(open(os.path.join(handmade, "manifest.json")))
    assert manifest["counts"]["labels/entities/de"] == 2 and manifest["counts"]["labels/entities/de/missing"] == 1
    assert manifest["counts"]["labels/relations/zh"] == 0 and manifest["counts"]["labels/relations/zh/missing"] == 3
    assert os.path.getsize(os.path.join(handmade, "labels", "entities", "zh.bin")) == 0
    entities, relations = KnowledgeDir(str(handmade)).labels(["en", "de", "zh"], 100)
    assert [entities[1][i].tolist() for i in range(3)] == [[6], [8, 9], []]  # empty items round-trip
    assert len(entities[2]) == 3 and entities[2][0].tolist() == []  # all empty: read from the .idx
    ds, _ = lp_dataset(handmade)
    assert len(ds) == 2 and ds.num_skipped == 1  # triple 2 has no language with all three labels
    assert ds.languages(0).tolist() == [0, 1] and ds.languages(1).tolist() == [0]


def test_the_three_kinds_and_both_masked_sides_token_by_token(handmade):
    ds, M = lp_dataset(handmade)
    en, de = 0, 1
    # (kind, tail masked, languages of (head, relation, tail) per half) -> (source, target)
    expected = {
        (1, False, ((en, en, en),)): ([BOS, O, M, M, S, 11, S, 7, C, EOS], [PAD, PAD, 4, 5] + [PAD] * 6),
        (1, True, ((de, de, de),)): ([BOS, O, 6, S, 12, S, M, M, C, EOS], [PAD] * 6 + [8, 9, PAD, PAD]),
        (2, False, ((de, en, en),)): ([BOS, O, M, S, 11, S, 7, C, EOS], [PAD, PAD, 6] + [PAD] * 6),
        (2, True, ((en, en, de),)): ([BOS, O, 4, 5, S, 11, S, M, M, C, EOS], [PAD] * 7 + [8, 9, PAD, PAD]),
        (2, True, ((de, de, en),)): ([BOS, O, 6, S, 12, S, M, C, EOS], [PAD] * 6 + [7, PAD, PAD]),
        (3, True, ((en, en, en), (de, de, de))): (
            [BOS, O, 4, 5, S, 11, S, M, C, O, 6, S, 12, S, M, M, C, EOS],
            [PAD] * 7 + [7, PAD, PAD, PAD, PAD, PAD, PAD, 8, 9, PAD, PAD]),
        (3, False, ((de, de, de), (en, en, en))): (
            [BOS, O, M, S, 12, S, 8, 9, C, O, M, M, S, 11, S, 7, C, EOS],
            [PAD, PAD, 6] + [PAD] * 7 + [4, 5] + [PAD] * 6),
    }
    seen = set()
    for x in examples(ds, 0, epochs=300):
        assert x["source"].shape == x["target"].shape and not x["fell_back"]
        if key(x) in expected:
            assert (x["source"].tolist(), x["target"].tolist()) == expected[key(x)], key(x)
            seen.add(key(x))
        # whatever was drawn: the masked positions hold the masked entity's labels, in every half
        masked = x["target"].ne(PAD)
        assert masked.any() and x["source"][masked].eq(M).all() and x["source"][~masked].ne(M).all()
        halves = len(x["langs"])
        assert halves == (2 if x["kind"] == 3 else 1) and int(x["source"].eq(O).sum()) == halves
    assert seen == set(expected)


def test_kind_3_masks_the_same_entity_in_both_halves(handmade):
    ds, M = lp_dataset(handmade, kind_probs=(0, 0, 1))
    for x in examples(ds, 0, epochs=40):
        assert x["kind"] == 3
        (h1, _, t1), (h2, _, t2) = x["langs"]
        tokens = {0: {"h": [4, 5], "t": [7]}, 1: {"h": [6], "t": [8, 9]}}  # per language index
        side = "t" if x["tail"] else "h"
        first, second = (t1, t2) if x["tail"] else (h1, h2)
        assert x["target"][x["target"].ne(PAD)].tolist() == tokens[first][side] + tokens[second][side]


def test_one_language_falls_back_to_kind_1_and_says_so(handmade):
    ds, M = lp_dataset(handmade, kind_probs=(0, 1, 1))
    items = examples(ds, 1, epochs=30)  # triple 1: only English has the three labels
    assert all(x["kind"] == 1 and x["fell_back"] and x["langs"] == [(0, 0, 0)] for x in items)
    both = examples(ds, 0, epochs=10)  # triple 0: English and German
    assert not any(x["fell_back"] for x in both) and {x["kind"] for x in both} == {2, 3}
    batch = ds.collater([items[0], both[0], both[1]])
    assert batch["fell_back"] == 1 and batch["kinds"].sum() == 3 and batch["kinds"][0] == 1


def test_examples_depend_on_seed_epoch_and_index_only(handmade):
    a, _ = lp_dataset(handmade)
    b, _ = lp_dataset(handmade)
    for epoch in (1, 2, 7):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        for i in range(len(a)):
            x, y = a[i], b[i]
            assert key(x) == key(y) and x["fell_back"] == y["fell_back"]
            assert torch.equal(x["source"], y["source"]) and torch.equal(x["target"], y["target"])
    draws = {str(key(x)) for x in examples(a, 0, epochs=20)}
    assert len(draws) > 3  # the epoch changes the draw
    other, _ = lp_dataset(handmade, seed=2)
    assert [key(x) for x in examples(other, 0, epochs=20)] != [key(x) for x in examples(a, 0, epochs=20)]


def test_collater_pads_and_counts(handmade):
    ds, M = lp_dataset(handmade)
    samples = [ds[0], ds[1]]
    batch = ds.collater(samples)
    src, tgt = batch["net_input"]["src_tokens"], batch["target"]
    assert src.shape == tgt.shape == (2, max(len(s["source"]) for s in samples))
    assert batch["ntokens"] == sum(len(s["source"]) for s in samples)
    assert batch["nmasked"] == int(src.eq(M).sum()) == int(tgt.ne(PAD).sum())
    assert batch["net_input"]["src_lengths"].tolist() == [len(s["source"]) for s in samples]
    assert batch["id"].tolist() == [0, 1] and batch["kinds"].sum() == 2
    assert all(ds.num_tokens(i) >= len(ds[i]["source"]) for i in range(len(ds)))
    assert ds.collater([]) == {}


def test_labels_are_cut_to_max_tokens_but_the_mask_stays(handmade):
    ds, M = lp_dataset(handmade, kind_probs=(0, 0, 1), max_tokens=16)  # 2 + 2 * 4 separators + 6 labels
    for x in examples(ds, 0, epochs=20):
        assert len(x["source"]) == 16 and int(x["source"].eq(M).sum()) == 2
    with pytest.raises(ConfigError, match="cannot hold a triple"):
        lp_dataset(handmade, kind_probs=(0, 0, 1), max_tokens=15)
    short, _ = lp_dataset(handmade, kind_probs=(1, 0, 0), max_tokens=9)  # one half: 2 + 4 + 3
    assert all(len(x["source"]) <= 9 and x["source"].eq(short.mask_idx).any() for x in examples(short, 0, 20))


def test_a_directory_without_labels_loads_but_link_prediction_names_the_files(tmp_path):
    out = tmp_path / "old"
    w = KnowledgeDirWriter(out, ["en"], [(f"w{i}", 1) for i in range(10)])
    w.write_knowledge(entities=[("Q1", "a")], relations=[("P1", "r")], descriptions={0: {"en": [5]}},
                      triples_by_split={"train": [[0, 0, 0]], "valid": []})
    kdir = KnowledgeDir(w.finalize())  # every other task reads it as before
    with pytest.raises(ConfigError) as error:
        kdir.require_labels(["en"])
    message = str(error.value)
    assert "labels/entities/en.bin" in message and "labels/relations/en.idx" in message
    assert "rerun `xlmk-preprocess binarize`" in message and "\n" not in message


def test_synthetic_data_has_labels_with_gaps_and_separators(synthetic_data):
    counts = json.load(open(os.path.join(synthetic_data, "manifest.json")))["counts"]
    for lang in ("en", "de", "zh"):
        assert counts[f"labels/entities/{lang}"] + counts[f"labels/entities/{lang}/missing"] == counts["entities"]
        assert counts[f"labels/entities/{lang}/missing"] > 0
        assert counts[f"labels/relations/{lang}"] + counts[f"labels/relations/{lang}/missing"] == counts["relations"]
    d, _ = dictionary(synthetic_data)
    assert [[d[i] for i in ids] for ids in separator_tokens(str(synthetic_data), d)] == [["▁("], ["▁,"], ["▁)"]]
    ds, _ = lp_dataset(synthetic_data, separators=separator_tokens(str(synthetic_data), d))
    items = [ds[i] for i in range(len(ds))]
    assert len(ds) > 0 and any(x["fell_back"] for x in items) and {x["kind"] for x in items} == {1, 2, 3}


# -- the labels from the dumps to the data directory ----------------------------------------------------

def entities_with_property_labels():
    """small_wikidata with German property labels for P36 and P17 (P47 English only, P1376 none)."""
    out = []
    for e in small_wikidata():
        if e["type"] == "property" and e["id"] in ("P36", "P17"):
            e["labels"]["de"] = {"language": "de", "value": {"P36": "Hauptstadt", "P17": "Staat"}[e["id"]]}
        out.append(e)
    # a property no kept triple uses: read, then dropped
    return out + [dict(prop("P999", "unused"), labels={"en": {"language": "en", "value": "unused"},
                                                        "de": {"language": "de", "value": "unbenutzt"}})]


EXPECTED_PROPERTY_LABELS = [("de", 17, "Staat"), ("de", 36, "Hauptstadt"),
                            ("en", 17, "country"), ("en", 36, "capital"), ("en", 47, "shares border with")]


def property_labels(work):
    db = sqlite3.connect(os.path.join(work, "wikidata", "sitelinks.sqlite"))
    return sorted(db.execute("SELECT lang, pid, label FROM property_labels"))


def test_property_labels_per_language_from_the_json_dump(tmp_path):
    dump = write(tmp_path / "latest-all.json", wikidata_dump_text(entities_with_property_labels()))
    files = []
    for workers in (1, 2):
        work = tmp_path / f"w{workers}"
        assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(work),
                     "--workers", str(workers)]) == 0
        assert property_labels(work) == EXPECTED_PROPERTY_LABELS
        files.append(open(work / "wikidata" / "sitelinks.sqlite", "rb").read())
    assert files[0] == files[1]
    work = tmp_path / "de"  # only the chosen languages, as the items' labels
    assert main(["wikidata", "--dump", dump, "--langs", "de", "--out", str(work)]) == 0
    assert {lang for lang, _, _ in property_labels(work)} == {"de"}
    sharded = tmp_path / "sharded"
    for i in range(3):
        assert main(["wikidata", "--dump", dump, "--langs", "en,de", "--out", str(sharded), "--shard", f"{i}/3"]) == 0
    assert main(["wikidata", "--out", str(sharded), "--merge-shards", "3"]) == 0
    assert property_labels(sharded) == EXPECTED_PROPERTY_LABELS


def test_property_labels_per_language_from_the_truthy_dump(tmp_path):
    ents = entities_with_property_labels()
    truthy = write(tmp_path / "latest-truthy.nt.gz", truthy_dump_text(ents, escape_non_ascii=True), "gz")
    sql = write(tmp_path / "ips.sql.gz", wb_items_per_site_text(ents), "gz")
    for workers in (1, 2):
        work = tmp_path / f"sql{workers}"
        assert main(["wikidata", "--truthy", truthy, "--sitelinks-sql", sql, "--langs", "en,de", "--out", str(work),
                     "--workers", str(workers)]) == 0
        assert property_labels(work) == EXPECTED_PROPERTY_LABELS
    dump = write(tmp_path / "latest-all.json", wikidata_dump_text(ents))
    work = tmp_path / "json_truthy"
    assert main(["wikidata", "--dump", dump, "--truthy", truthy, "--langs", "en,de", "--out", str(work)]) == 0
    assert property_labels(work) == EXPECTED_PROPERTY_LABELS


# brackets and commas in the text, so that the trained sentencepiece model has the separators
EN = [page("Germany", "'''Germany''' (a country) is in Europe. Its capital is [[Berlin]] (a city), "
           "it borders [[France]] (west).", page_id=1),
      page("Berlin", "'''Berlin''' (the city) is the capital of [[Germany]], a country.", page_id=2),
      page("France", "'''France''' (the country) borders [[Germany]], (east).", page_id=3)]
DE = [page("Deutschland", "'''Deutschland''' (ein Staat) ist ein Staat, die Hauptstadt ist [[Berlin]].", page_id=1),
      page("Berlin", "'''Berlin''' (Stadt) ist die Hauptstadt von [[Deutschland]], (Staat).", page_id=2)]


@pytest.fixture(scope="module")
def binarized(tmp_path_factory):
    root = tmp_path_factory.mktemp("lp_pipeline")
    cfg = {"wikidata": write(root / "latest-all.json", wikidata_dump_text(entities_with_property_labels())),
           "wikipedia": {"en": write(root / "enwiki.xml", wikipedia_dump_text("en", EN)),
                         "de": write(root / "dewiki.xml", wikipedia_dump_text("de", DE))},
           "work": str(root / "work"), "out": str(root / "data"), "spm": {"train_vocab_size": 100},
           "valid_fraction": 0.0}
    (root / "preprocess.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["all", "--config", str(root / "preprocess.yaml")]) == 0
    return root


def test_binarize_writes_tokenised_labels_with_empty_items(binarized):
    data = binarized / "data"
    manifest = json.load(open(data / "manifest.json"))
    entities = [line.split("\t")[1] for line in open(data / "entities.tsv").read().splitlines()]
    relations = [line.split("\t")[1] for line in open(data / "relations.tsv").read().splitlines()]
    assert entities == ["Q64", "Q142", "Q183"]
    tok = Tokenizer(str(data / "sentencepiece.bpe.model"))
    d, _ = dictionary(data)
    kdir = KnowledgeDir(str(data))
    (en_e, de_e), (en_r, de_r) = kdir.labels(["en", "de"], len(d))
    # Q64 has only a German label, Q142 only an English one
    assert [en_e[i].tolist() for i in range(3)] == [[], tok.ids("France"), tok.ids("Germany")]
    assert [de_e[i].tolist() for i in range(3)] == [tok.ids("Berlin"), [], tok.ids("Deutschland")]
    en_names = {"P36": "capital", "P17": "country", "P47": "shares border with", "P1376": None}
    de_names = {"P36": "Hauptstadt", "P17": "Staat", "P47": None, "P1376": None}
    for names, labels in ((en_names, en_r), (de_names, de_r)):
        assert [labels[r].tolist() for r in range(len(relations))] == \
            [tok.ids(names[p]) if names[p] else [] for p in relations]
    c = manifest["counts"]
    assert (c["labels/entities/en"], c["labels/entities/en/missing"]) == (2, 1)
    assert (c["labels/entities/de"], c["labels/entities/de/missing"]) == (2, 1)
    assert (c["labels/relations/en"], c["labels/relations/en/missing"]) == (3, 1)
    assert (c["labels/relations/de"], c["labels/relations/de/missing"]) == (2, 2)
    assert manifest["label_tokens"] == 32
    separators = separator_tokens(str(data), d)
    assert all(ids and d.unk() not in ids for ids in separators)
    ds = LinkPredictionDataset(kdir.npy("oe", "train.npy"), [en_e, de_e], [en_r, de_r], d, d.add_symbol("<mask>"),
                               separators)
    assert len(ds) + ds.num_skipped == len(kdir.npy("oe", "train.npy")) == 4
    assert ds.num_skipped == 1  # Berlin -capital of (P1376)-> Germany: the relation has no label


def test_binarize_refuses_a_work_directory_without_property_labels(binarized, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(binarized / "work", work)
    db = sqlite3.connect(work / "wikidata" / "sitelinks.sqlite")
    db.execute("DROP TABLE property_labels")
    db.commit()
    db.close()
    assert main(["binarize", "--work", str(work), "--out", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("xlmk-preprocess: error: ") and "property_labels" in err and "wikidata step again" in err
    assert not os.path.exists(tmp_path / "data")


def test_the_embedded_sample_gets_labels_in_its_languages(sample_data):
    counts = json.load(open(sample_data / "manifest.json"))["counts"]
    kdir = KnowledgeDir(str(sample_data))
    for lang in kdir.languages:
        assert counts[f"labels/entities/{lang}"] > 0 and counts[f"labels/relations/{lang}"] > 0
    assert counts["labels/relations/en/missing"] == 0 and counts["labels/relations/hi/missing"] > 0
    d, mask = dictionary(sample_data)
    entities, relations = kdir.labels(kdir.languages, len(d))
    ds = LinkPredictionDataset(kdir.npy("oe", "train.npy"), entities, relations, d, mask,
                               separator_tokens(str(sample_data), d))
    items = [ds[i] for i in range(len(ds))]
    assert {x["kind"] for x in items} == {1, 2, 3} and any(x["fell_back"] for x in items)
