"""The Mewsli-9 reader on generated files in the release's layout: <lang>/docs.tsv,
<lang>/mentions.tsv (header line, tab-separated, csv quoting) and <lang>/text/<docid>."""

import csv

import pytest

from xlmk_fairseq.linking.errors import LinkingError
from xlmk_fairseq.linking.mewsli import read_mewsli, sentence_around

MENTION_COLUMNS = ["docid", "position", "length", "mention", "url", "lang", "qid", "qid_in_refs", "freq_bin"]


def write_mewsli(root, lang, docs, mentions, columns=MENTION_COLUMNS):
    """docs: {docid: text}; mentions: [(docid, surface, qid)] located by the first occurrence of
    the surface in the text (or (docid, position, length, surface, qid) as given)."""
    d = root / lang
    (d / "text").mkdir(parents=True)
    with open(d / "docs.tsv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["docid", "title", "curid", "revid", "url", "text_md5"])
        for i, docid in enumerate(docs):
            w.writerow([docid, f'"Title" {i}', i, 100 + i, f"https://{lang}.wikinews.org/wiki?curid={i}", "0" * 32])
    for docid, text in docs.items():
        (d / "text" / docid).write_text(text, encoding="utf-8")
    with open(d / "mentions.tsv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(columns)
        for m in mentions:
            if len(m) == 3:
                docid, surface, qid = m
                position, length = docs[docid].index(surface), len(surface)
            else:
                docid, position, length, surface, qid = m
            row = {"docid": docid, "position": position, "length": length, "mention": surface,
                   "url": f"http://{lang}.wikipedia.org/wiki/{surface}", "lang": lang, "qid": qid,
                   "qid_in_refs": "True", "freq_bin": 3}
            w.writerow([row[c] for c in columns])


def test_reads_the_layout_with_sentence_contexts(tmp_path):
    write_mewsli(tmp_path, "de", {
        "de-1": "Titel\nDie Regierung tagte in Berlin. Danach reiste sie nach \"Paris\" weiter.\nEnde.",
        "de-2": "Köln liegt am Rhein.",
    }, [("de-1", "Berlin", "Q64"), ("de-1", '"Paris"', "Q90"), ("de-2", "Rhein", "Q584"),
        ("de-2", 0, 4, "Bonn", "Q586"),          # the text there is not the mention
        ("de-9", 0, 3, "Ulm", "Q3012")])          # no text file
    write_mewsli(tmp_path, "ja", {"ja-1": "東京は日本の首都です。大阪も大きい。"}, [("ja-1", "大阪", "Q35765")])
    mentions, skipped = read_mewsli(str(tmp_path))
    assert list(mentions) == ["de", "ja"]
    berlin, paris, rhein = mentions["de"]
    assert (berlin.text, berlin.surface, berlin.qid, berlin.lang) == ("Die Regierung tagte in Berlin.", "Berlin",
                                                                      "Q64", "de")
    assert paris.text == 'Danach reiste sie nach "Paris" weiter.' and paris.surface == '"Paris"'
    assert rhein.text == "Köln liegt am Rhein." and rhein.id.startswith("de-2:")
    assert skipped == {"de": {"mention_text_differs": 1, "no_text": 1}, "ja": {}}
    (osaka,) = mentions["ja"]
    assert (osaka.text, osaka.surface) == ("大阪も大きい。", "大阪")
    # one language directory, and --langs
    only, _ = read_mewsli(str(tmp_path / "ja"))
    assert list(only) == ["ja"]
    assert list(read_mewsli(str(tmp_path), ["ja"])[0]) == ["ja"]


def test_sentence_around_keeps_a_mention_across_sentences():
    text = "Erster Satz. Der Dr. Who spielt. Dritter."
    start = text.index("Dr. Who")
    a, b = sentence_around(text, start, start + len("Dr. Who"))
    assert text[a:b] == "Der Dr. Who spielt."


def test_bad_layouts_are_refused(tmp_path):
    with pytest.raises(LinkingError, match="no such Mewsli-9 directory"):
        read_mewsli(str(tmp_path / "missing"))
    with pytest.raises(LinkingError, match="no <lang>/mentions.tsv"):
        read_mewsli(str(tmp_path))
    write_mewsli(tmp_path, "en", {"en-1": "Hi Bob."}, [("en-1", "Bob", "Q1")], columns=["docid", "position", "mention"])
    with pytest.raises(LinkingError, match="no column length, qid"):
        read_mewsli(str(tmp_path))
    with pytest.raises(LinkingError, match="no Mewsli-9 language xx"):
        read_mewsli(str(tmp_path), ["xx"])
