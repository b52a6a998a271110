"""Linking learns: after a short MEP run on the synthetic data (learnable by construction: a
sentence and its entity's descriptions share attribute tokens and a fact), xlmk-index +
xlmk-link eval on the held-out MEP sentences rank the right entity far above chance.

One fairseq-train run from scratch (MLM + MEP, in-batch negatives, cosine / 0.1; 250 updates,
about 30 s on one core), the index of its 384 descriptions, and the 553 held-out mentions
ranked against all 128 entities. Chance: acc@1 = 1/128 = 0.8 %, acc@10 = 7.8 %, MRR =
H(128)/128 = 4.2 %. Measured with the mention masked (as trained): acc@1 9.4 %, acc@10
68.7 %, MRR 25.0 %; with the mention kept 6.9 / 59.1 / 21.4 (after 300 updates: masked 9.8 /
80.7 / 27.5, kept 8.9 / 65.3 / 24.6).
"""

import shutil

import pytest

from conftest import run_train
from xlmk_fairseq.linking import EntityIndex, EntityLinker, build_index, load_model
from xlmk_fairseq.linking.evaluate import data_mep_sets, evaluate_set

ENTITIES = 128
CHANCE = {"acc@1": 1 / ENTITIES, "acc@10": 10 / ENTITIES, "mrr": sum(1 / r for r in range(1, ENTITIES + 1)) / ENTITIES}


@pytest.fixture(scope="module")
def trained(synthetic_data, tmp_path_factory):
    from preprocess.tokenizer import train

    root = tmp_path_factory.mktemp("linking_learning")
    data = root / "data"
    shutil.copytree(synthetic_data, data)
    # loading a checkpoint needs a sentencepiece model beside dict.txt; the synthetic data is
    # already token ids, so any model does
    train(["The capital of Germany is Berlin .", "Paris is the capital of France ."] * 30, 60, str(root / "spm"))
    shutil.copy(root / "spm" / "sentencepiece.bpe.model", data / "sentencepiece.bpe.model")
    run_train(data, root / "ck", "--knowledge-tasks", "mep", "--max-update", 250, "--batch-size", 32,
              "--tokens-per-sample", 32, "--lr", "4e-3", "--normalize-keys", "--temperature", "0.1",
              "--queue-warmup-updates", 1000000, "--disable-validation", "--no-save-optimizer-state",
              "--log-interval", 100)
    return data, root / "ck" / "checkpoint_last.pt"


def test_linking_is_far_above_chance_after_training(trained, tmp_path):
    data, checkpoint = trained
    model = load_model(str(checkpoint), str(data))
    index = EntityIndex.load(build_index(model, str(data), str(tmp_path / "index"), progress=False))
    assert index.num_entities == ENTITIES
    _, items = data_mep_sets(str(data))
    per_language = {lang: ([x[:2] for x in its], [x[2] for x in its]) for lang, its in items.items()}
    results = {}
    for mode in ("mask", "keep"):
        linker = EntityLinker(index, model, mention=mode)
        queries = {lang: ([linker.query_of_tokens(t, s) for t, s in q], g) for lang, (q, g) in per_language.items()}
        results[mode] = evaluate_set(linker, queries)["all"]
    print({mode: {k: round(v, 3) for k, v in r.items()} for mode, r in results.items()}, "chance", CHANCE)
    masked = results["mask"]
    assert masked["n"] > 500
    assert masked["acc@1"] >= 6 * CHANCE["acc@1"]
    assert masked["acc@10"] >= 5 * CHANCE["acc@10"]
    assert masked["mrr"] >= 4 * CHANCE["mrr"]
