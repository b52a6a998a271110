"""The task's datasets on generated data: MEP and OE examples, batching, language sampling."""

import numpy as np
import pytest
import torch

from preprocess.knowledge_dir_writer import KnowledgeDirWriter
from xlmk_fairseq.data.xlmk_batch_dataset import _split_for_padding
from xlmk_fairseq.tasks.knowledge_pretraining import (
    KnowledgePretrainingConfig,
    KnowledgePretrainingTask,
    language_size_ratios,
)


def load_task(data, split="train", **overrides):
    cfg = KnowledgePretrainingConfig(data=str(data), tokens_per_sample=64,
                                     knowledge_tokens_per_sample=overrides.pop("knowledge_tokens", 32),
                                     seed=1, **overrides)
    task = KnowledgePretrainingTask.setup_task(cfg)
    task.load_dataset(split)
    return task


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """Two entities, two languages; entity 0 has descriptions in en and de, entity 1 in de."""
    out = tmp_path_factory.mktemp("handmade") / "data"
    symbols = [(f"w{i}", 1) for i in range(40)]  # ids 4..43
    w = KnowledgeDirWriter(out, ["en", "de"], symbols)
    long_sentence = list(range(4, 44)) * 2  # 80 tokens; mention at 70..72
    for split in ("train", "valid"):
        w.add_mlm_document("en", split, [[4, 5, 6], [7, 8]])
        w.add_mlm_document("de", split, [[9, 10, 11]])
        w.add_mep_sentence("en", split, [4, 5, 6, 7, 8], [(1, 3, 0)])
        w.add_mep_sentence("de", split, long_sentence, [(70, 72, 1)])
    w.write_knowledge(
        entities=[("Q1", "one"), ("Q2", "two")], relations=[("P1", "rel")],
        descriptions={0: {"en": [20, 21, 22], "de": [30, 31]}, 1: {"de": [40, 41, 42, 43]}},
        triples_by_split={"train": [[0, 0, 1], [1, 0, 0]], "valid": [[0, 0, 1]]},
    )
    return w.finalize()


def mep_examples(task):
    mep = task.datasets["train"].datasets["mep"]
    return [mep[i] for i in range(len(mep))]


def test_mep_masks_the_whole_mention_and_prefers_a_description_in_another_language(handmade):
    task = load_task(handmade)
    d = task.dictionary
    for ex in mep_examples(task):
        q = ex["query"]
        assert q[0] == d.bos() and q[-1] == d.eos()
        if ex["entity"] == 0:  # the English sentence: mention tokens 1..3 -> positions 2..4
            assert q.tolist() == [d.bos(), 4, task.mask_idx, task.mask_idx, 7, 8, d.eos()]
            assert ex["pos"] == 2
            assert ex["key"].tolist() == [d.bos(), 30, 31, d.eos()]  # de, not en
        else:  # entity 1 has only a German description: same language is the fallback
            assert ex["key"].tolist() == [d.bos(), 40, 41, 42, 43, d.eos()]


def test_long_sentence_is_cut_to_a_window_that_keeps_the_mention(handmade):
    task = load_task(handmade)
    (ex,) = [e for e in mep_examples(task) if e["entity"] == 1]
    q = ex["query"]
    assert len(q) == 32
    assert q[ex["pos"]] == task.mask_idx and q[ex["pos"] + 1] == task.mask_idx
    assert (q == task.mask_idx).sum() == 2


def test_same_language_switch_picks_the_sentence_language(handmade):
    task = load_task(handmade, mep_description_language="same")
    (ex,) = [e for e in mep_examples(task) if e["entity"] == 0]
    assert ex["key"].tolist()[1:-1] == [20, 21, 22]


def test_oe_object_description_is_in_another_language_when_possible(handmade):
    task = load_task(handmade)
    oe = task.datasets["train"].datasets["oe"]
    for epoch in range(1, 6):
        oe.set_epoch(epoch)
        for i in range(len(oe)):
            ex = oe[i]
            if ex["entity"] == 0:  # subject 1 (de only) -> object 0 must be described in en
                assert ex["object"].tolist()[1:-1] == [20, 21, 22]


def test_batch_collates_every_role_and_restores_its_order(synthetic_data):
    task = load_task(synthetic_data)
    ds = task.datasets["train"]
    samples = [ds[int(i)] for i in ds.ordered_indices()[:6]]
    k = ds.collater(samples)["knowledge"]
    rows = [(t[r][t[r].ne(task.dictionary.pad())], int(p[r])) for t, p in k["buckets"] for r in range(t.size(0))]
    ordered = [rows[i] for i in k["order"].tolist()]
    n = len(samples)
    for i, s in enumerate(samples):
        assert torch.equal(ordered[i][0], s["mep"]["query"]) and ordered[i][1] == s["mep"]["pos"]
        assert torch.equal(ordered[n + i][0], s["mep"]["key"]) and ordered[n + i][1] == 0
        assert torch.equal(ordered[2 * n + i][0], s["oe"]["subject"])
        assert torch.equal(ordered[3 * n + i][0], s["oe"]["object"])
    assert k["mep_entities"].tolist() == [s["mep"]["entity"] for s in samples]
    assert k["relations"].tolist() == [s["oe"]["relation"] for s in samples]


def test_padding_buckets_cut_where_they_save_most():
    lengths = np.array([3, 3, 3, 10, 10])
    assert _split_for_padding(lengths, 1) == [slice(0, 5)]
    assert _split_for_padding(lengths, 2) == [slice(0, 3), slice(3, 5)]
    assert _split_for_padding(np.array([5, 5, 5]), 3) == [slice(0, 3)]  # no saving, no cut


def test_language_sampling_follows_n_to_the_alpha():
    sizes = np.array([1000, 10])
    ratios = language_size_ratios(sizes, alpha=0.3)
    sampled = sizes * ratios
    assert np.isclose(sampled.sum(), sizes.sum())
    p = sizes / sizes.sum()
    assert np.allclose(sampled / sampled.sum(), p ** 0.3 / (p ** 0.3).sum())
    assert np.allclose(language_size_ratios(sizes, alpha=1.0), 1.0)


def test_nothing_is_enqueued_in_evaluation(synthetic_data):
    from tests_support import build_xlmk_tiny_model

    task, model = build_xlmk_tiny_model(synthetic_data)
    ds = task.datasets["valid"]
    batch = ds.collater([ds[i] for i in range(4)])
    model.eval()
    with torch.no_grad():
        model(xlmk_batch=batch)
    model.enqueue_pending_keys()
    assert int(model.mep_queue.num_enqueued) == 0 and int(model.oe_queue.num_enqueued) == 0
    model.train()
    model(xlmk_batch=batch)
    model.enqueue_pending_keys(skip=True)  # a dummy batch
    assert int(model.mep_queue.num_enqueued) == 0
    model(xlmk_batch=batch)
    model.enqueue_pending_keys()
    assert int(model.mep_queue.num_enqueued) == 4 and int(model.oe_queue.num_enqueued) == 4


def test_a_mention_longer_than_the_window_is_read_at_its_first_token(tmp_path):
    """A 50-token mention in a 32-token window (30 between <s> and </s>): the window starts
    at the mention, so the query position is the mention's first token, never a token
    outside it (before: a negative position, read from the end of the row)."""
    w = KnowledgeDirWriter(tmp_path / "data", ["en"], [(f"w{i}", 1) for i in range(100)])
    sentence = list(range(4, 104))
    for split in ("train", "valid"):
        w.add_mlm_document("en", split, [[4, 5, 6]])
        w.add_mep_sentence("en", split, sentence, [(30, 80, 0)])
    w.write_knowledge(entities=[("Q1", "one")], relations=[("P1", "rel")],
                      descriptions={0: {"en": [20, 21]}}, triples_by_split={"train": [[0, 0, 0]], "valid": []})
    task = load_task(w.finalize())
    (ex,) = mep_examples(task)
    assert ex["pos"] == 1
    assert ex["query"][1:-1].tolist() == [task.mask_idx] * 30
