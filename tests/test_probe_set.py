"""The probe-set builder: WORK/wikidata -> an mLAMA-layout probe set that xlmk-probe reads."""

import json
import os

import pytest

from dump_fixtures import item, prop, wikidata_dump_text, write
from preprocess import wikidata
from preprocess.cli import main as preprocess_main
from preprocess.probe_set import title_label
from preprocess.probe_templates import RELATION_NAMES, TEMPLATES
from xlmk_fairseq.evaluation.probe_sets import check_template, read_mlama


def main(argv):
    return preprocess_main(["probe-set", *argv])


def claims(*pairs):
    return [(pid, target, "normal", "value") for pid, target in pairs]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe_work")
    entities = [
        item("Q183", labels={"en": "Germany", "de": "Deutschland"},
             sitelinks=[("enwiki", "Germany"), ("dewiki", "Deutschland")],
             claims=claims(("P36", "Q64"), ("P47", "Q142"), ("P47", "Q39"), ("P6", "Q64"))),
        # no English label: named by its English title, without the disambiguation
        item("Q64", labels={"de": "Berlin"}, sitelinks=[("enwiki", "Berlin (city)"), ("dewiki", "Berlin")],
             claims=claims(("P17", "Q183"), ("P1376", "Q183"))),
        item("Q142", labels={"en": "France"}, sitelinks=[("enwiki", "France"), ("frwiki", "France")],
             claims=claims(("P47", "Q183"))),
        item("Q39", sitelinks=[("enwiki", "Switzerland (country)")]),
        # only French: its facts have no English or German name for it
        item("Q90", labels={"fr": "Paris"}, sitelinks=[("frwiki", "Paris")], claims=claims(("P17", "Q142"))),
        prop("P36", "capital"),
    ]
    dump = write(root / "latest-all.json", wikidata_dump_text(entities))
    wikidata.run(dump, ["en", "de", "fr"], str(root / "work"))
    return root / "work"


def read_facts(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_builder_writes_facts_candidates_and_templates(work, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["--work", str(work), "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["de", "en", "summary.json"]
    en = read_facts(out / "en" / "P47.jsonl")
    assert [(f["sub_label"], f["obj_label"]) for f in en] == [
        ("Germany", "France"), ("Germany", "Switzerland"), ("France", "Germany")]
    assert en[0] == {"sub_uri": "Q183", "obj_uri": "Q142", "sub_label": "Germany", "obj_label": "France"}
    assert json.load(open(out / "en" / "P47.candidates.json")) == ["France", "Germany", "Switzerland"]
    assert [(f["sub_label"], f["obj_label"]) for f in read_facts(out / "en" / "P36.jsonl")] == [("Germany", "Berlin")]
    assert [(f["sub_label"], f["obj_label"]) for f in read_facts(out / "de" / "P17.jsonl")] == [("Berlin", "Deutschland")]
    assert not (out / "de" / "P47.jsonl").exists()  # France and Switzerland have no German name
    summary = json.load(open(out / "summary.json"))
    assert summary["languages"]["en"]["facts"] == {"P47": 3, "P17": 1, "P36": 1, "P1376": 1}
    assert summary["languages"]["en"]["no_label"] == 1  # Paris -> France
    assert summary["languages"]["de"]["no_label"] == 4
    assert summary["skipped_languages"] == {"fr": "no templates for this language"}
    printed = capsys.readouterr().out
    assert "en: 6 facts in 4 relations" in printed and "fr: skipped" in printed
    # xlmk-probe reads it: templates only for relations with facts
    sets = read_mlama(str(out))
    assert list(sets["en"]) == ["P47", "P17", "P36", "P1376"]
    relation = sets["de"]["P36"]
    assert relation.query(relation.facts[0]) == ("Die Hauptstadt von Deutschland ist", ".")
    assert not os.path.exists(str(out) + ".partial")


def test_builder_language_choice_and_errors(work, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["--work", str(work), "--out", str(out), "--langs", "de"]) == 0
    assert sorted(os.listdir(out)) == ["de", "summary.json"]
    assert main(["--work", str(work), "--out", str(out), "--langs", "de,xx"]) == 2
    assert "has no labels for xx" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["de", "summary.json"]  # the earlier output is left as it was
    assert main(["--work", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "triples.npy: no such file" in capsys.readouterr().err


def test_title_label_strips_a_trailing_disambiguation():
    assert title_label("Paris (Texas)") == "Paris"
    assert title_label("Georgia (country) (disambiguation)") == "Georgia (country)"
    assert title_label("(Untitled)") == "(Untitled)"
    assert title_label("C (programming language) tutorial") == "C (programming language) tutorial"


def test_every_language_has_a_valid_template_for_every_relation():
    assert set(TEMPLATES) == {"en", "de", "es", "ar", "hi", "vi", "zh"}
    for lang, templates in TEMPLATES.items():
        assert set(templates) == set(RELATION_NAMES), lang
        for relation, template in templates.items():
            check_template(template, f"{lang}/{relation}")


def test_builder_on_the_embedded_sample(sample_data, tmp_path):
    out = tmp_path / "probe"
    assert main(["--work", str(sample_data.parent / "work"), "--out", str(out)]) == 0
    summary = json.load(open(out / "summary.json"))
    assert set(summary["languages"]) == {"en", "de", "es", "ar", "hi", "vi", "zh"}
    assert set(summary["languages"]["en"]["facts"]) == set(RELATION_NAMES)
    for lang, counts in summary["languages"].items():
        sets = read_mlama(str(out), [lang])[lang]
        assert {r: len(rel.facts) for r, rel in sets.items()} == counts["facts"]
        assert sum(counts["facts"].values()) >= 100
    capitals = {(f["sub_uri"], f["obj_uri"]) for f in read_facts(out / "zh" / "P36.jsonl")}
    assert ("Q183", "Q64") in capitals
