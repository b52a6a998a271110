"""Cross-lingual entity retrieval: the metrics by hand, and the evaluation on a generated data
directory with stub embeddings whose outcome is known. (The CLI runs it on a real checkpoint
in tests/test_probing.py.)"""

import pytest
import torch
import torch.nn.functional as F

from xlmk_fairseq.evaluation.retrieval import NO_MEP_KEY, RetrievalError, evaluate_retrieval, rank_metrics


def test_rank_metrics_by_hand():
    similarity = [[0.9, 0.1, 0.3],   # right (0.9) is first: rank 1
                  [0.8, 0.5, 0.2],   # 0.8 beats the right 0.5: rank 2
                  [0.6, 0.7, 0.6]]   # 0.7 beats it and 0.6 ties with it: rank 3
    m = rank_metrics(similarity, [0, 1, 2])
    assert m["acc@1"] == pytest.approx(1 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m["n"] == 3
    m = rank_metrics(similarity, [2, 0, 1])  # ranks 2, 1, 1
    assert (m["acc@1"], m["mrr"]) == (pytest.approx(2 / 3), pytest.approx((1 / 2 + 1 + 1) / 3))


class StubEncoder:
    """<s> state = one-hot of the description's first token (the entity's first name token in
    the synthetic data, the same in every language); MEP keys are constant."""

    bos, eos, max_positions = 0, 2, 512

    def __init__(self, dim, knowledge_heads=True):
        self.dim, self.has_knowledge_heads, self.lengths = dim, knowledge_heads, []
        self.vocab_size = dim  # the synthetic data's token ids are below its dictionary size

    def cls_features(self, sequences):
        self.lengths += [len(s) for s in sequences]
        assert all(s[0] == self.bos and s[-1] == self.eos for s in sequences)
        return F.one_hot(torch.tensor([s[1] for s in sequences]), self.dim).float()

    def mep_keys(self, cls):
        return torch.ones(len(cls), 4)


def test_retrieval_on_generated_descriptions(synthetic_data):
    encoder = StubEncoder(4096)
    results = evaluate_retrieval(encoder, synthetic_data, ["en", "zh"], max_tokens=9, batch_size=7)
    assert max(encoder.lengths) == 9 and results["max_tokens"] == 9
    encoder.max_positions, encoder.lengths = 8, []  # the model's limit wins when it is shorter
    assert evaluate_retrieval(encoder, synthetic_data, ["en"], max_tokens=9)["max_tokens"] == 8
    assert max(encoder.lengths) == 8
    cls = results["cls"]
    assert set(cls["pairs"]) == {"en-zh", "zh-en"}
    for m in cls["pairs"].values():
        assert (m["acc@1"], m["mrr"], m["n"], m["candidates"]) == (1.0, 1.0, 128, 128)
    assert cls["average"] == {"acc@1": 1.0, "mrr": 1.0}
    # constant keys tie everywhere: every right description ranks last of 128
    for m in results["mep_key"]["pairs"].values():
        assert (m["acc@1"], m["mrr"]) == (0.0, pytest.approx(1 / 128))


def test_retrieval_without_knowledge_heads_and_with_all_languages(synthetic_data):
    results = evaluate_retrieval(StubEncoder(4096, knowledge_heads=False), synthetic_data)
    assert results["mep_key"] == {"skipped": NO_MEP_KEY}
    assert len(results["cls"]["pairs"]) == 6  # en, de, zh: ordered pairs


def test_retrieval_errors(synthetic_data, tmp_path):
    with pytest.raises(RetrievalError, match="unknown language"):
        evaluate_retrieval(StubEncoder(4096), synthetic_data, ["en", "xx"])
    with pytest.raises(RetrievalError, match="does not exist"):
        evaluate_retrieval(StubEncoder(4096), str(tmp_path / "missing"))
