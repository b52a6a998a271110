"""Entity-level NER scores with conlleval's chunk rules, from CoNLL-style files."""

import pytest

from xlmk_fairseq.evaluation.eval_inputs import EvalInputError
from xlmk_fairseq.evaluation.ner_metrics import chunks, evaluate_ner, parse_tag


def tags(text):
    return [parse_tag(t, ("B", "I", "E", "S"), "test") for t in text.split()]


# "John Smith met Mary Ann Lee Jones in New York" with "Mary Ann Lee" and "Jones" two adjacent people
SENTENCE = "John Smith met Mary Ann Lee Jones in New York".split()
IOB1 = "I-PER I-PER O I-PER I-PER I-PER B-PER O I-LOC I-LOC"
IOB2 = "B-PER I-PER O B-PER I-PER I-PER B-PER O B-LOC I-LOC"
IOBES = "B-PER E-PER O B-PER I-PER E-PER S-PER O B-LOC E-LOC"


@pytest.mark.parametrize("scheme_tags", [IOB1, IOB2, IOBES], ids=["iob1", "iob2", "iobes"])
def test_three_schemes_give_the_same_chunks(scheme_tags):
    assert chunks(tags(scheme_tags)) == [("PER", 0, 1), ("PER", 3, 5), ("PER", 6, 6), ("LOC", 8, 9)]


@pytest.mark.parametrize("sequence, expected", [
    ("O I-PER I-PER O", [("PER", 1, 2)]),                        # I- after O opens a chunk
    ("B-PER I-LOC I-LOC", [("PER", 0, 0), ("LOC", 1, 2)]),        # I- of another type opens a chunk
    ("I-PER B-PER I-PER", [("PER", 0, 0), ("PER", 1, 2)]),
    ("S-PER S-PER", [("PER", 0, 0), ("PER", 1, 1)]),
    ("B-PER E-PER I-PER", [("PER", 0, 1), ("PER", 2, 2)]),        # E- closes; a following I- opens
    ("E-ORG B-ORG E-ORG", [("ORG", 0, 0), ("ORG", 1, 2)]),
    ("B-PER S-LOC I-LOC", [("PER", 0, 0), ("LOC", 1, 1), ("LOC", 2, 2)]),
    ("O O O", []),
    ("B-MISC-X I-MISC-X", [("MISC-X", 0, 1)]),
])
def test_conlleval_boundary_rules(sequence, expected):
    assert chunks(tags(sequence)) == expected


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def conll2003(rows):
    """rows: lists of (token, NER tag) per sentence -> CoNLL 2003 four-column text with -DOCSTART-."""
    sentences = ["\n".join(f"{tok} NNP B-NP {tag}" for tok, tag in s) for s in rows]
    return "-DOCSTART- -X- -X- O\n\n" + "\n\n".join(sentences) + "\n"


GOLD_ROWS = [
    list(zip(SENTENCE, IOB2.split())),
    [("It", "O"), ("rained", "O"), (".", "O")],
    [("EU", "B-ORG"), ("rejects", "O"), ("German", "B-MISC"), ("call", "O")],
]
PRED_ROWS = [
    list(zip(SENTENCE, "B-PER I-PER O B-PER I-PER I-PER I-PER O B-LOC I-LOC".split())),  # Mary..Jones merged
    [("It", "O"), ("rained", "B-MISC"), (".", "O")],
    [("EU", "B-ORG"), ("rejects", "O"), ("German", "B-LOC"), ("call", "O")],              # type mismatch
]


def test_side_by_side_conll2003_hand_computed(tmp_path):
    gold = write(tmp_path / "gold.txt", conll2003(GOLD_ROWS))
    pred = write(tmp_path / "pred.txt", conll2003(PRED_ROWS))
    r = evaluate_ner(gold, pred)
    # gold: PER x3, LOC, ORG, MISC = 6; predicted: PER x2, LOC, MISC, ORG, LOC = 6; correct: John Smith, New York, EU
    assert r["overall"] == {"precision": 50.0, "recall": 50.0, "f1": 50.0, "gold": 6, "predicted": 6, "correct": 3}
    assert r["types"]["PER"] == {"precision": 50.0, "recall": pytest.approx(100 / 3), "f1": pytest.approx(40.0),
                                 "gold": 3, "predicted": 2, "correct": 1}
    assert r["types"]["LOC"]["precision"] == 50.0 and r["types"]["LOC"]["recall"] == 100.0
    assert r["types"]["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1, "predicted": 1, "correct": 0}
    assert (r["sentences"], r["tokens"], r["scheme"]) == (3, 17, "iob")
    assert r["accuracy"] == pytest.approx(100 * 14 / 17)


def test_single_file_with_gold_and_predicted_columns(tmp_path):
    lines = ["\n".join(f"{tok} NNP B-NP {g} {p}" for (tok, g), (_, p) in zip(gs, ps))
             for gs, ps in zip(GOLD_ROWS, PRED_ROWS)]
    single = write(tmp_path / "both.txt", "\n\n".join(lines) + "\n")
    side = evaluate_ner(write(tmp_path / "g.txt", conll2003(GOLD_ROWS)),
                        write(tmp_path / "p.txt", conll2003(PRED_ROWS)))
    assert evaluate_ner(single)["overall"] == side["overall"]


def test_chunks_do_not_cross_sentence_boundaries(tmp_path):
    text = "A\tI-PER\nB\tI-PER\n\nC\tI-PER\n"  # XGLUE layout: AB and C, not ABC
    r = evaluate_ner(write(tmp_path / "g.tsv", text), write(tmp_path / "p.tsv", text))
    assert (r["overall"]["gold"], r["sentences"]) == (2, 2)
    # a -DOCSTART- line separates sentences too, and is not a token
    r = evaluate_ner(write(tmp_path / "both.txt", "A I-PER I-PER\n-DOCSTART- -X- -X- O O\nB I-PER I-PER\n"))
    assert (r["overall"]["gold"], r["tokens"]) == (2, 2)


def test_panx_layout_and_iobes(tmp_path):
    gold = "en:Paris\tS-LOC\nen:is\tO\nen:in\tO\nen:Île-de-France\tS-LOC\n\nen:Le\tB-ORG\nen:Monde\tE-ORG\n"
    pred = "en:Paris\tS-LOC\nen:is\tO\nen:in\tO\nen:Île-de-France\tB-LOC\n\nen:Le\tB-ORG\nen:Monde\tE-ORG\n"
    r = evaluate_ner(write(tmp_path / "g.tsv", gold), write(tmp_path / "p.tsv", pred), scheme="iobes")
    # B-LOC at a sentence end still closes there: all three chunks match
    assert r["overall"]["correct"] == 3 and r["scheme"] == "iobes"
    assert evaluate_ner(str(tmp_path / "g.tsv"), str(tmp_path / "p.tsv"))["scheme"] == "iobes"


def test_sentence_without_entities_scores_zero_not_an_error(tmp_path):
    text = "It O\nrained O\n"
    r = evaluate_ner(write(tmp_path / "g.txt", text), write(tmp_path / "p.txt", text))
    assert r["overall"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 0, "predicted": 0, "correct": 0}
    assert r["types"] == {} and r["accuracy"] == 100.0


@pytest.mark.parametrize("gold, pred, message", [
    ("A O\nB O\n", "A O\nC O\n", r"p.txt:2: token 'C' differs from .*g.txt:2 token 'B'"),
    ("A O\nB O\n", "A O\n", r"the sentence at .*g.txt:1 has 2 tokens, the one at .*p.txt:1 has 1"),
    ("A O\n\nB O\n", "A O\n", r"g.txt has 2 sentences, .*p.txt has 1"),
    ("A O\nB O\n", "A O\nB PER\n", r"p.txt:2: tag 'PER' is not O or B\|I\|E\|S-TYPE"),
    ("A O\nB O\n", "A O\nB\n", r"p.txt:2: 1 column\(s\), expected token ... tag"),
    ("", "A O\n", r"g.txt: holds no token"),
])
def test_mismatches_and_bad_lines_name_the_line(tmp_path, gold, pred, message):
    with pytest.raises(EvalInputError, match=message):
        evaluate_ner(write(tmp_path / "g.txt", gold), write(tmp_path / "p.txt", pred))


def test_scheme_restricts_prefixes(tmp_path):
    text = "Paris S-LOC S-LOC\n"
    with pytest.raises(EvalInputError, match=r"g.txt:1: tag 'S-LOC' is not O or B\|I-TYPE"):
        evaluate_ner(write(tmp_path / "g.txt", text), scheme="iob2")
    assert evaluate_ner(str(tmp_path / "g.txt"), scheme="iobes")["overall"]["f1"] == 100.0
    with pytest.raises(EvalInputError, match=r"two.txt:1: 2 column\(s\), expected token ... gold-tag predicted-tag"):
        evaluate_ner(write(tmp_path / "two.txt", "Paris B-LOC\n"))
