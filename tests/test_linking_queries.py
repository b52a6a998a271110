"""Mentions -> MEP queries: the [[mention]] marker, JSONL records, and the query built exactly
as training builds it (MaskedEntityDataset), windowing included."""

import json
import re

import pytest

from xlmk_fairseq.linking.errors import LinkingError
from xlmk_fairseq.linking.queries import Mention, build_query, parse_marked, read_jsonl


def test_parse_marked():
    m = parse_marked("Die Hauptstadt ist [[Berlin]].")
    assert (m.text, m.start, m.end, m.surface) == ("Die Hauptstadt ist Berlin.", 19, 25, "Berlin")
    assert parse_marked("[[São Paulo]]").surface == "São Paulo"


@pytest.mark.parametrize("text, message", [
    ("no marker here", "no mention marked"),
    ("[[Berlin]] and [[Paris]]", "mark exactly one mention"),
    ("[[Berlin]]]] x", "mark exactly one mention"),
    ("[[Berlin", "mark exactly one mention"),
    ("]] Berlin [[", "']]' comes before '[['"),
    ("an [[ ]] empty one", "the marked mention is empty"),
])
def test_bad_markers_are_refused(text, message):
    with pytest.raises(LinkingError, match=re.escape(message)):
        parse_marked(text)


def test_read_jsonl(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join([
        json.dumps({"text": "Er lebt in Berlin.", "start": 11, "end": 17, "qid": "Q64", "lang": "de", "id": 7}),
        "",
        json.dumps({"text": "The [[Nile]] flows north."}),
    ]) + "\n", encoding="utf-8")
    a, b = read_jsonl(str(path))
    assert (a.surface, a.qid, a.lang, a.id) == ("Berlin", "Q64", "de", "7")
    assert (b.surface, b.qid) == ("Nile", None)


@pytest.mark.parametrize("record, message", [
    ("{not json", "line 1: not valid JSON"),
    (json.dumps({"start": 0, "end": 1}), 'expected an object with a "text" string'),
    (json.dumps({"text": "abc", "start": 0}), '"start" and "end" must both be'),
    (json.dumps({"text": "abc", "start": 2, "end": 9}), r"span \[2, 9\) is not inside"),
    (json.dumps({"text": "a  b", "start": 1, "end": 3}), "is blank"),
    (json.dumps({"text": "no marker"}), "no mention marked"),
])
def test_bad_jsonl_records_name_the_line(tmp_path, record, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(record + "\n", encoding="utf-8")
    with pytest.raises(LinkingError, match=message):
        read_jsonl(str(path))
    with pytest.raises(LinkingError, match="no such file"):
        read_jsonl(str(tmp_path / "missing.jsonl"))


class Symbols:
    bos, eos = 0, 2

    def __init__(self, mask):
        self.mask = mask


@pytest.mark.parametrize("max_tokens", [4, 5, 7, 10, 64])
def test_queries_are_built_as_masked_entity_prediction_builds_them(synthetic_data, max_tokens):
    from fairseq.data import Dictionary

    from xlmk_fairseq.data.entity_descriptions import EntityDescriptions
    from xlmk_fairseq.data.knowledge_dir import KnowledgeDir
    from xlmk_fairseq.data.masked_entity_dataset import MaskedEntityDataset

    kdir = KnowledgeDir(str(synthetic_data))
    dictionary = Dictionary.load(kdir.path("dict.txt"))
    mask = dictionary.add_symbol("<mask>")
    descriptions = EntityDescriptions(kdir, dictionary.bos(), dictionary.eos(), len(dictionary), 32)
    sentences, mentions = kdir.indexed("mep", "de", "valid"), kdir.indexed("mep", "de", "valid.mentions")
    dataset = MaskedEntityDataset(sentences, mentions, kdir.path("mep", "de", "valid.mentions.bin"), 1,
                                  descriptions, dictionary, mask, max_tokens)
    cut = 0
    for i in range(len(dataset)):
        item = dataset[i]
        start, end, _ = mentions[i].tolist()
        tokens, position = build_query(sentences[i].tolist(), (start, end), Symbols(mask), max_tokens)
        assert tokens == item["query"].tolist() and position == item["pos"], i
        cut += len(sentences[i]) > max_tokens - 2
        kept, kept_position = build_query(sentences[i].tolist(), (start, end), Symbols(mask), max_tokens, "keep")
        assert kept_position == position and mask not in kept
    assert cut or max_tokens == 64  # the short windows were exercised


def test_mention_dataclass():
    assert Mention("ab", 0, 1).surface == "a"
