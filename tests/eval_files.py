"""Writers of tiny evaluation inputs in the official layouts, shared by the xlmk-eval tests."""

import json


def squad_json(questions):
    """SQuAD v1.1 layout; questions: {id: [answer texts]}."""
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in answers]}
           for qid, answers in questions.items()]
    return {"version": "1.0", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return str(path)


XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
               "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
               "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]
# the same pairIDs in both languages, as in XNLI
GOLD = [("en", "entailment", "1"), ("en", "neutral", "2"), ("en", "contradiction", "3"),
        ("de", "entailment", "1"), ("de", "contradiction", "2"), ("de", "contradiction", "3")]


def write_xnli_gold(path, rows=GOLD):
    lines = ["\t".join(XNLI_HEADER)]
    for lang, label, pair_id in rows:
        values = dict.fromkeys(XNLI_HEADER, "")
        values.update(language=lang, gold_label=label, pairID=pair_id, sentence1=f"A \"quoted\" {lang} premise.",
                      sentence2="Ein\u2028Satz.", promptID="9", genre="fiction", match="True")
        lines.append("\t".join(values[c] for c in XNLI_HEADER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def write_tsv(path, header, rows):
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return str(path)
