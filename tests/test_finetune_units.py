"""xlmk-finetune without training: QA post-processing on hand-made logits, model selection, bad input."""

import argparse
import json

import numpy as np
import pytest

from xlmk_fairseq.finetune.cli import main
from xlmk_fairseq.finetune.sample_data import write_ner, write_nli_train, write_squad, write_xnli
from xlmk_fairseq.finetune.qa_postprocess import Window, best_answer
from xlmk_fairseq.finetune.qa_task import QaTask, token_span
from xlmk_fairseq.finetune.selection import select_best

CONTEXT = "t0 t1 t2 t3 t4 t5 t6 t7"
TOKENS = [(3 * i, 3 * i + 2) for i in range(8)]  # character offsets of t0 .. t7


def window(first: int, last: int, logits: dict) -> Window:
    """A window of <s> plus tokens first..last; logits: {token: (start logit, end logit)}."""
    offsets = [None] + TOKENS[first:last + 1]
    start, end = np.full(len(offsets), -10.0), np.full(len(offsets), -10.0)
    for token, (s, e) in logits.items():
        start[token - first + 1], end[token - first + 1] = s, e
    return Window(start, end, offsets)


def test_the_window_that_holds_the_answer_wins():
    windows = [window(0, 4, {1: (2, 2)}), window(3, 7, {6: (6, 6)})]
    assert best_answer(CONTEXT, windows, n_best=5, max_answer_length=5) == "t6"


def test_a_span_at_a_windows_cut_edge_loses_to_the_window_that_owns_the_token():
    # t4 is the last token of window 1 (no right context) and the second of window 2, which owns it
    windows = [window(0, 4, {4: (9, 9)}), window(3, 7, {6: (3, 3)})]
    assert best_answer(CONTEXT, windows, n_best=5, max_answer_length=5) == "t6"
    assert best_answer(CONTEXT, windows[:1], n_best=5, max_answer_length=5) == "t4"


def test_an_answer_longer_than_the_maximum_is_refused():
    w = window(0, 7, {1: (9, 0), 5: (0, 9), 2: (0, 4)})
    assert best_answer(CONTEXT, [w], n_best=5, max_answer_length=5) == "t1 t2 t3 t4 t5"
    assert best_answer(CONTEXT, [w], n_best=5, max_answer_length=4) == "t1 t2"
    # an end before the start, or outside the context (<s>), is never an answer
    w = window(0, 7, {})
    w.start_logits[5], w.end_logits[2], w.end_logits[0], w.end_logits[5] = 9, 9, 20, 1
    assert best_answer(CONTEXT, [w], n_best=3, max_answer_length=5) == "t4"


@pytest.mark.parametrize("context, answer", [
    ("东京是日本的首都。北京是中国的首都。", "中国"),
    ("الرباط هي عاصمة المغرب والقاهرة هي عاصمة مصر", "عاصمة مصر"),
    ("Paris ist die Hauptstadt von Frankreich, Madrid die Hauptstadt von Spanien.", "Spanien"),
])
def test_offsets_map_back_to_the_original_text(exported, context, answer):
    """Through the real tokenizer and several windows: the training label's tokens slice out the answer,
    and logits on those tokens give back exactly the answer's characters."""
    from transformers import AutoTokenizer

    task = QaTask.__new__(QaTask)
    task.tokenizer, task.max_length = AutoTokenizer.from_pretrained(exported), 16
    task.args = argparse.Namespace(doc_stride=4, max_query_length=4)
    start = context.rindex(answer)
    features, windows = task._windows([{"question": "wo?", "context": context}], [(start, start + len(answer))])
    assert len(windows) > 1
    found = []
    for feature, (_, offsets) in zip(features, windows):
        s, e = token_span(offsets, start, start + len(answer))
        assert (s, e) == (feature["start_positions"], feature["end_positions"])
        if s:
            assert context[offsets[s][0]:offsets[e][1]] == answer
            logits = np.full((2, len(offsets)), -5.0)
            logits[0, s], logits[1, e] = 5, 5
            found.append(Window(logits[0], logits[1], offsets))
    assert found and best_answer(context, found, n_best=3, max_answer_length=10) == answer


def test_multinli_jsonl_and_tsv_read_alike(tmp_path):
    from xlmk_fairseq.finetune.xnli_task import read_pairs

    records = [{"gold_label": "neutral", "sentence1": "A man.", "sentence2": "A \"person\".", "pairID": "1n"},
               {"gold_label": "-", "sentence1": "No majority.", "sentence2": "x", "pairID": "2"},
               {"gold_label": "contradiction", "sentence1": "Sun.", "sentence2": "Rain.", "pairID": "3c"}]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    header = ["gold_label", "sentence1", "sentence2", "pairID"]
    (tmp_path / "train.txt").write_text("\n".join("\t".join(r[c] for c in header) for r in [dict(zip(header, header))]
                                                  + records) + "\n")
    expected = [("A man.", 'A "person".', 1), ("Sun.", "Rain.", 2)]  # the "-" row (no majority) is skipped
    for name in ("train.jsonl", "train.txt"):
        assert [p[:3] for p in read_pairs(str(tmp_path / name))] == expected


def test_model_selection_takes_the_best_average_and_the_earlier_of_ties():
    history = [{"epoch": 1, "average": 50.0}, {"epoch": 2, "average": 71.5},
               {"epoch": 3, "average": 71.5}, {"epoch": 4, "average": 60.0}]
    assert select_best(history)["epoch"] == 2


def bad_input_cases(tmp_path, exported):
    squad = write_squad(tmp_path / "train.json", 2, 1)
    xnli = write_xnli(tmp_path / "xnli.test.tsv", ["en"], 3, 1)
    nli_train = write_nli_train(tmp_path / "train.tsv", 3, 1)
    ner = write_ner(tmp_path / "en.train", 3, 1, "xglue")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    (tmp_path / "one_column.txt").write_text("Paris\nis\n")
    (tmp_path / "de.test").write_text("Goethe\tB-PER\nschrieb\tO\n")
    (tmp_path / "moved.json").write_text(
        '{"data": [{"paragraphs": [{"context": "the city", "qas": [{"id": "q", "question": "?", '
        '"answers": [{"text": "city", "answer_start": 0}]}]}]}]}')
    model = str(exported)
    return [
        (["xnli", "--model", str(tmp_path / "empty"), "--train", nli_train, "--dev", xnli, "--test", xnli],
         "not a Hugging Face model directory (no config.json)"),
        (["xnli", "--model", str(tmp_path / "broken"), "--train", nli_train, "--dev", xnli, "--test", xnli],
         "cannot load the model's config or tokenizer"),
        (["xnli", "--model", str(tmp_path / "absent"), "--train", nli_train, "--dev", xnli, "--test", xnli],
         "no such model directory"),
        (["xnli", "--model", model, "--train", squad, "--dev", xnli, "--test", xnli], "train.json: not an NLI file"),
        (["qa", "--model", model, "--train", nli_train, "--dev", squad, "--test", squad], "train.tsv: malformed JSON"),
        (["qa", "--model", model, "--train", str(tmp_path / "moved.json"), "--dev", squad, "--test", squad],
         "answer_start 0 does not point at its answer 'city'"),
        (["ner", "--model", model, "--train", str(tmp_path / "one_column.txt"), "--dev", ner, "--test", ner],
         "one_column.txt:1: 1 column(s), expected token ... tag"),
        (["ner", "--model", model, "--train", ner, "--dev", ner, "--test", str(tmp_path / "de.test")],
         "de.test: tag(s) B-PER do not occur in the training file"),
        (["ner", "--model", model, "--train", ner, "--dev", ner, "--test", str(tmp_path / "nowhere")],
         "nowhere: no such file or directory"),
        (["xnli", "--model", model, "--train", nli_train, "--dev", xnli, "--test", xnli, "--seeds", "1,x"],
         "--seeds '1,x': expected comma-separated integers"),
    ]


def test_bad_input_is_one_line_and_exit_status_2(exported, tmp_path, capsys):
    for argv, message in bad_input_cases(tmp_path, exported):
        assert main([*argv, "--output-dir", str(tmp_path / "out"), "--cpu"]) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("xlmk-finetune: error: ") and err.count("\n") == 1, err
        assert message in err
