"""Small data sets in the official layouts, learnable by construction, for the tests and for the smoke
run of recipes/downstream.sh: words that the tiny export's sentencepiece model keeps whole, and a
DATA_ROOT laid out as docs/finetuning.md describes.

    python -m xlmk_fairseq.finetune.sample_data DATA_ROOT
"""

import json
import pathlib
import random
import sys

# the official XNLI dev/test header (XNLI-1.0)
XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
               "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
               "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]

FILLER = "the city is in Berlin Paris Madrid country".split()

# QA: the answer is the two words after the marker word "north"
QA_MARKER = "north"
QA_ANSWERS = "Germany France Spain Europe Africa Asia".split()  # never filler: the span is findable


def qa_example(rng, qid: str) -> dict:
    before = [rng.choice(FILLER) for _ in range(rng.randint(4, 30))]
    answer = " ".join(rng.choice(QA_ANSWERS) for _ in range(2))
    after = [rng.choice(FILLER) for _ in range(rng.randint(2, 20))]
    prefix = " ".join(before + [QA_MARKER]) + " "
    context = prefix + answer + " " + " ".join(after)
    return {"title": qid, "paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": "where is the north", "answers": [{"text": answer, "answer_start": len(prefix)}]}]}]}


def write_squad(path, n: int, seed: int, prefix: str = "q"):
    rng = random.Random(seed)
    data = {"version": "1.1", "data": [qa_example(rng, f"{prefix}{i}") for i in range(n)]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def write_mlqa(directory, split: str, langs, n: int, seed: int, diagonal_only: bool = False):
    """<split>-context-<c>-question-<q>.json for every language pair (or c = q only)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(langs):
        for j, q in enumerate(langs):
            if c == q or not diagonal_only:
                write_squad(directory / f"{split}-context-{c}-question-{q}.json", n, seed + 10 * i + j, f"{c}{q}-")
    return str(directory)


# XNLI: the label is named by a keyword in the hypothesis
NLI_KEYWORDS = {"entailment": "north", "neutral": "river", "contradiction": "capital"}


def nli_pair(rng, label: str) -> tuple[str, str]:
    hypothesis = [rng.choice(FILLER) for _ in range(4)]
    hypothesis.insert(rng.randrange(5), NLI_KEYWORDS[label])
    return " ".join(rng.choice(FILLER) for _ in range(6)), " ".join(hypothesis)


def write_nli_train(path, n: int, seed: int):
    """XNLI-MT's multinli.train.en.tsv layout: premise, hypo, label (spelled "contradictory")."""
    rng = random.Random(seed)
    rows = ["premise\thypo\tlabel"]
    for _ in range(n):
        label = rng.choice(list(NLI_KEYWORDS))
        premise, hypothesis = nli_pair(rng, label)
        rows.append(f"{premise}\t{hypothesis}\t{'contradictory' if label == 'contradiction' else label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def write_xnli(path, langs, n: int, seed: int):
    """The official XNLI dev/test layout, the same pairIDs in every language."""
    rng = random.Random(seed)
    lines = ["\t".join(XNLI_HEADER)]
    for lang in langs:
        for i in range(n):
            label = rng.choice(list(NLI_KEYWORDS))
            premise, hypothesis = nli_pair(rng, label)
            values = dict.fromkeys(XNLI_HEADER, "")
            values.update(language=lang, gold_label=label, sentence1=premise, sentence2=hypothesis, pairID=str(i))
            lines.append("\t".join(values[c] for c in XNLI_HEADER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# NER: the entity type, and B- or I-, come from type-specific words; 1-2 word entities between filler words
NER_TYPES = {"LOC": (["Berlin", "Paris", "Madrid"], ["Germany", "France"]),
             "ORG": (["river", "capital"], ["Europe", "Africa"])}
NER_FILLER = "the city is in north country".split()


def ner_sentence(rng) -> list[tuple[str, str]]:
    words = []
    for _ in range(rng.randint(2, 4)):
        words += [(w, "O") for w in rng.sample(NER_FILLER, rng.randint(1, 2))]
        kind = rng.choice(list(NER_TYPES))
        first, later = NER_TYPES[kind]
        words.append((rng.choice(first), "B-" + kind))
        words += [(rng.choice(later), "I-" + kind)] * rng.randint(0, 1)
    return words


def write_ner(path, n: int, seed: int, layout: str, lang: str = "en"):
    """layout: conll (CoNLL 2003, four columns, -DOCSTART-), xglue (token<TAB>tag), panx (lang:token<TAB>tag)."""
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O", ""] if layout == "conll" else []
    for _ in range(n):
        for word, tag in ner_sentence(rng):
            lines.append({"conll": f"{word} NNP B-NP {tag}", "xglue": f"{word}\t{tag}",
                          "panx": f"{lang}:{word}\t{tag}"}[layout])
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)



def write_data_root(root, langs=("en", "de", "es")) -> str:
    """squad/, mlqa/MLQA_V1/{dev,test}/, xnli/, ner/ under root, the layout recipes/downstream.sh reads."""
    root = pathlib.Path(root)
    for sub in ("squad", "xnli", "ner"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    write_squad(root / "squad" / "train-v1.1.json", 300, 1)
    write_mlqa(root / "mlqa" / "MLQA_V1" / "dev", "dev", langs, 20, 100, diagonal_only=True)
    write_mlqa(root / "mlqa" / "MLQA_V1" / "test", "test", langs, 20, 200)
    write_nli_train(root / "xnli" / "multinli.train.en.tsv", 300, 1)
    write_xnli(root / "xnli" / "xnli.dev.tsv", langs, 20, 2)
    write_xnli(root / "xnli" / "xnli.test.tsv", langs, 30, 3)
    write_ner(root / "ner" / "en.train", 300, 1, "xglue")
    for i, lang in enumerate(langs):
        write_ner(root / "ner" / f"{lang}.dev", 20, 10 + i, "xglue")
        write_ner(root / "ner" / f"{lang}.test", 30, 20 + i, "xglue")
    return str(root)


if __name__ == "__main__":
    print(write_data_root(sys.argv[1]))
