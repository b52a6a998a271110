"""The whole preprocessing chain on generated dumps, into a data directory the task trains on."""

import json
import os

import numpy as np
import pytest
import yaml
from fairseq.data.indexed_dataset import MMapIndexedDataset

from conftest import run_train
from dump_fixtures import page, small_wikidata, wikidata_dump_text, wikipedia_dump_text, write
from preprocess.cli import main
from preprocess.tokenizer import Tokenizer

EN = [
    page("Germany", "'''Germany''' is a country in Europe. Its capital is [[Berlin]]. "
         "It borders [[France]].\n\nGermany has many cities.", page_id=1),
    page("Berlin", "'''Berlin''' is the capital of [[Germany]]. It lies on the Spree.", page_id=2),
    page("France", "'''France''' borders [[Germany]]. [[FRG|West Germany]] was a state.", page_id=3),
    page("FRG", "#REDIRECT [[Germany]]", redirect="Germany", page_id=4),
]
DE = [
    page("Deutschland", "'''Deutschland''' ist ein Staat. Die Hauptstadt ist [[Berlin]].", page_id=1),
    page("Berlin", "'''Berlin''' ist die Hauptstadt von [[Deutschland]].", page_id=2),
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    cfg = {
        "wikidata": write(root / "latest-all.json.bz2", wikidata_dump_text(small_wikidata()), "bz2"),
        "wikipedia": {"en": write(root / "enwiki.xml.bz2", wikipedia_dump_text("en", EN), "bz2"),
                      "de": write(root / "dewiki.xml", wikipedia_dump_text("de", DE))},
        "work": str(root / "work"), "out": str(root / "data"),
        "spm": {"train_vocab_size": 120}, "valid_fraction": 0.3,
    }
    config = root / "preprocess.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["all", "--config", str(config)]) == 0
    return root


def test_data_directory_layout_and_contents(pipeline):
    data = pipeline / "data"
    manifest = json.load(open(data / "manifest.json"))
    assert sorted(manifest["languages"]) == ["de", "en"]
    entities = [line.split("\t") for line in open(data / "entities.tsv").read().splitlines()]
    assert [e[1] for e in entities] == ["Q64", "Q142", "Q183"]  # described items, by QID
    relations = [line.split("\t")[1] for line in open(data / "relations.tsv").read().splitlines()]
    assert set(relations) == {"P36", "P17", "P1376", "P47"}
    offsets = np.load(data / "desc" / "entity_offsets.npy")
    assert offsets.tolist() == [0, 2, 3, 5]  # Berlin en+de, France en, Germany en+de
    tok = Tokenizer(str(data / "sentencepiece.bpe.model"))
    desc_en = MMapIndexedDataset(str(data / "desc" / "en"))
    rows = np.load(data / "desc" / "desc_row.npy")
    langs = np.load(data / "desc" / "desc_lang.npy")
    en = manifest["languages"].index("en")
    (row,) = [rows[i] for i in range(offsets[0], offsets[1]) if langs[i] == en]
    assert desc_en[int(row)].tolist() == tok.ids("Berlin is the capital of Germany. It lies on the Spree.")
    # every MEP mention points at the tokens of its anchor
    found = []
    for lang in ("en", "de"):
        for split in ("train", "valid"):
            if os.path.getsize(data / "mep" / lang / f"{split}.bin") == 0:
                continue
            sents = MMapIndexedDataset(str(data / "mep" / lang / split))
            ments = MMapIndexedDataset(str(data / "mep" / lang / f"{split}.mentions"))
            for i in range(len(sents)):
                ids = sents[i].tolist()
                for s, e, ent in ments[i].view(-1, 3).tolist():
                    found.append((lang, tok.sp.decode([t - 1 for t in ids[s:e]]).strip(), entities[ent][1]))
    assert ("en", "Berlin", "Q64") in found and ("en", "West Germany", "Q183") in found
    assert ("de", "Deutschland", "Q183") in found
    oe = np.concatenate([np.load(data / "oe" / "train.npy"), np.load(data / "oe" / "valid.npy")])
    assert len(oe) == 4
    assert manifest["per_language"]["en"]["redirects"] == 1
    assert manifest["skipped"]["wikidata/no_sitelink_in_languages"] >= 2
    assert len(manifest["inputs"]) == 3 and all("sha256" in x for x in manifest["inputs"])


def test_task_trains_on_the_preprocessed_directory(pipeline, tmp_path):
    _, logs = run_train(pipeline / "data", tmp_path / "ck", "--max-update", "2", "--batch-size", "2",
                        "--required-batch-size-multiple", "1")
    assert any(t == "train_inner" for t, _ in logs)


def test_binarize_is_deterministic_across_workers(pipeline, tmp_path):
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"data{workers}"
        assert main(["binarize", "--work", str(pipeline / "work"), "--out", str(out),
                     "--workers", str(workers), "--valid-fraction", "0.3"]) == 0
        outs.append(out)
    for root, _, files in os.walk(outs[0]):
        for name in files:
            if name == "manifest.json":
                continue
            a = os.path.join(root, name)
            b = os.path.join(outs[1], os.path.relpath(a, outs[0]))
            assert open(a, "rb").read() == open(b, "rb").read(), a


def test_xlmr_dict_that_does_not_match_the_model_is_refused(pipeline, tmp_path, capsys):
    spm_dir = pipeline / "work" / "spm"
    bad = tmp_path / "dict.txt"
    lines = open(spm_dir / "dict.txt", encoding="utf-8").read().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    work = tmp_path / "work"
    assert main(["spm", "--out", str(work), "--spm-model", str(spm_dir / "sentencepiece.bpe.model"),
                 "--dict", str(bad)]) != 0
    assert "does not belong" in capsys.readouterr().err
    assert not os.path.exists(work / "spm" / "dict.txt")
    assert main(["spm", "--out", str(work), "--spm-model", str(spm_dir / "sentencepiece.bpe.model"),
                 "--dict", str(spm_dir / "dict.txt")]) == 0


def test_all_takes_the_truthy_and_sitelinks_sql_sources(pipeline, tmp_path):
    """The `all` configuration with truthy + wb_items_per_site instead of the JSON dump gives
    the same entities, relations and triples as the JSON route."""
    from dump_fixtures import truthy_dump_text, wb_items_per_site_text

    cfg = yaml.safe_load((pipeline / "preprocess.yaml").read_text())
    del cfg["wikidata"]
    cfg["truthy"] = write(tmp_path / "latest-truthy.nt.bz2", truthy_dump_text(small_wikidata(), []), "bz2")
    cfg["sitelinks_sql"] = [write(tmp_path / "wb_items_per_site.sql.gz", wb_items_per_site_text(small_wikidata()), "gz")]
    cfg["work"], cfg["out"] = str(tmp_path / "work"), str(tmp_path / "data")
    config = tmp_path / "truthy.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["all", "--config", str(config)]) == 0
    for name in ("entities.tsv", "relations.tsv"):
        ours = sorted(line.split("\t")[1] for line in open(tmp_path / "data" / name, encoding="utf-8"))
        theirs = sorted(line.split("\t")[1] for line in open(pipeline / "data" / name, encoding="utf-8"))
        assert ours == theirs, name
    counts = [json.load(open(d / "data" / "manifest.json"))["counts"] for d in (tmp_path, pipeline)]
    assert [c["oe/train/triples"] + c["oe/valid/triples"] for c in counts][0] == \
        [c["oe/train/triples"] + c["oe/valid/triples"] for c in counts][1] > 0
