"""The embedded multilingual sample goes end to end into a data directory the task trains on."""

import json

from conftest import records, run_train


def test_sample_is_multilingual_and_big_enough(sample_data):
    manifest = json.load(open(sample_data / "manifest.json"))
    assert len(manifest["languages"]) >= 6
    counts = manifest["counts"]
    assert counts["entities"] >= 60
    assert counts["oe/train/triples"] + counts["oe/valid/triples"] >= 200
    for lang in manifest["languages"]:
        assert manifest["per_language"][lang]["sentences"] > 0
        assert manifest["per_language"][lang]["descriptions"] > 0
    # the edge cases of the sample are counted, not lost
    skipped = manifest["skipped"]
    assert skipped["wikidata/claim_deprecated"] >= 1 and skipped["wikidata/no_sitelink_in_languages"] >= 2
    assert skipped["wikipedia/en/non_main_namespace"] >= 1 and skipped["wikipedia/en/empty_text"] >= 1


def test_task_trains_on_the_sample(sample_data, tmp_path):
    _, logs = run_train(sample_data, tmp_path / "ck", "--max-update", "2")
    assert records(logs, "train_inner")
