"""xlmk-index and xlmk-link on the sample checkpoint (5 updates) and its Hugging Face export:
the index format, resuming after a kill (byte-identical), per-entity means and <s> vectors,
the same results from a checkpoint and its export, and bad input refused in one line."""

import filecmp
import json
import os

import numpy as np
import pytest
import torch

from test_linking_mewsli import write_mewsli
from xlmk_fairseq.linking import EntityIndex, EntityLinker, LinkingError, build_index, load_model
from xlmk_fairseq.linking.cli import index_main, link_main


@pytest.fixture(scope="module")
def model(sample_checkpoint, sample_data):
    return load_model(str(sample_checkpoint), str(sample_data))


@pytest.fixture(scope="module")
def index(model, sample_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("linking") / "index"
    build_index(model, str(sample_data), str(out), chunk_rows=100, progress=False)
    return EntityIndex.load(str(out))


def entities_tsv(data):
    return [line.rstrip("\n").split("\t") for line in open(os.path.join(data, "entities.tsv"), encoding="utf-8")]


def test_index_format(index, model, sample_data):
    h = index.header
    manifest = json.load(open(sample_data / "manifest.json"))
    assert (h["format"], h["format_version"], h["vectors"], h["per"], h["dtype"]) == (
        "xlmk-entity-index", 1, "mep_key", "language", "float16")
    assert h["languages"] == manifest["languages"] and h["rows"] == manifest["counts"]["descriptions"] == 364
    assert h["entities"] == 82 and h["model"]["fingerprint"] == model.fingerprint()
    assert index.vectors.shape == (364, 64) and index.vectors.dtype == np.float16
    norms = np.linalg.norm(np.asarray(index.vectors, dtype=np.float32), axis=1)
    assert np.allclose(norms, 1, atol=2e-3)
    assert (np.diff(index.entity) >= 0).all() and set(np.unique(index.lang)) == set(range(7))
    rows = entities_tsv(sample_data)
    assert index.qid(15) == rows[15][1] and index.label(15) == rows[15][2]
    assert index.entities_of_qids([rows[15][1], "Q999999999", "nonsense"]).tolist() == [15, -1, -1]
    germany = next(i for i, r in enumerate(rows) if r[2] == "Germany")
    assert index.label(germany, "xx") == "Germany"  # no labels in that language: the data's
    if (sample_data / "labels" / "entities" / "de.idx").is_file():  # data written with labels per language
        assert "de" in h["label_languages"] and index.label(germany, "de") == "Deutschland"
    # a row is the key head of the entity's description, normalised
    from xlmk_fairseq.data.entity_descriptions import EntityDescriptions
    from xlmk_fairseq.data.knowledge_dir import KnowledgeDir

    descriptions = EntityDescriptions(KnowledgeDir(str(sample_data)), 0, 2, model.vocab_size, 256)
    for r in (0, 100, 363):
        start = int(descriptions.offsets[index.entity[r]])
        langs = list(descriptions.desc_lang[start:int(descriptions.offsets[index.entity[r] + 1])])
        row = int(descriptions.desc_row[start + langs.index(index.lang[r])])
        expected = torch.nn.functional.normalize(model.key_vectors([descriptions.tokens(int(index.lang[r]), row).tolist()]),
                                                 dim=-1)[0]
        assert torch.allclose(torch.from_numpy(np.asarray(index.vectors[r], dtype=np.float32)), expected, atol=2e-3)


def test_a_checkpoint_and_its_export_link_alike(index, model, exported):
    hf = load_model(str(exported))
    assert hf.fingerprint() == model.fingerprint()
    texts = ["Berlin ist die Hauptstadt von [[Deutschland]].", "The [[Nile]] flows through Egypt.",
             "[[巴黎]]是法国的首都。"]
    from xlmk_fairseq.linking.queries import parse_marked

    for text in texts:
        m = parse_marked(text)
        assert model.tokenize_with_span(m.text, m.start, m.end) == hf.tokenize_with_span(m.text, m.start, m.end)
    a = EntityLinker(index, model).link_texts(texts, k=5)
    b = EntityLinker(index, hf).link_texts(texts, k=5)
    assert [[c["qid"] for c in x] for x in a] == [[c["qid"] for c in x] for x in b]
    assert all(abs(c["score"] - d["score"]) < 1e-4 for x, y in zip(a, b) for c, d in zip(x, y))
    assert all(len(x) == 5 and x[0]["score"] >= x[-1]["score"] for x in a)


def test_mentions_map_onto_the_tokens_the_preprocessing_marks(model, sample_data):
    from preprocess.tokenizer import Tokenizer

    tokenizer = Tokenizer(str(sample_data / "sentencepiece.bpe.model"))
    text = "Der Rhein fließt durch Basel, Straßburg und Köln in die Nordsee."
    for surface in ("Rhein", "Basel", "Straßburg", "Köln", "Nordsee", "Rhein fließt"):
        start = text.index(surface)
        ids, spans = tokenizer.ids_and_spans(text, [(start, start + len(surface))])
        assert model.tokenize_with_span(text, start, start + len(surface)) == (ids, spans[0]), surface


def test_resuming_after_a_kill_gives_a_byte_identical_index(model, sample_data, tmp_path):
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    options = dict(chunk_rows=60, batch_tokens=600, progress=False)
    build_index(model, str(sample_data), str(fresh), **options)

    calls = {"n": 0}
    original = model.key_vectors

    def dies_after_a_while(seqs, vectors="mep_key"):
        calls["n"] += 1
        if calls["n"] == 25:  # in the middle of a later chunk
            raise KeyboardInterrupt
        return original(seqs, vectors)

    model.key_vectors = dies_after_a_while
    try:
        with pytest.raises(KeyboardInterrupt):
            build_index(model, str(sample_data), str(resumed), **options)
    finally:
        del model.key_vectors
    partial = tmp_path / "resumed.partial"
    assert not resumed.exists() and json.load(open(partial / "progress.json"))["chunks_done"] >= 1
    with pytest.raises(LinkingError, match="unfinished build with other batch_tokens"):
        build_index(model, str(sample_data), str(resumed), chunk_rows=60, batch_tokens=700, progress=False)
    build_index(model, str(sample_data), str(resumed), **options)
    assert not partial.exists()
    names = files_under(fresh)
    assert names == files_under(resumed) and "vectors.npy" in names
    match, mismatch, errors = filecmp.cmpfiles(fresh, resumed, names, shallow=False)
    assert not mismatch and not errors, mismatch


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_per_entity_means_and_cls_vectors(model, index, sample_data, tmp_path):
    labels = tmp_path / "labels.tsv"
    berlin = next(r for r in entities_tsv(sample_data) if r[2] == "Berlin")
    labels.write_text(f"qid\tlang\tlabel\n{berlin[1]}\tfr\tBerlin (capitale)\nQ999999999\tfr\tnowhere\n")
    means = EntityIndex.load(build_index(model, str(sample_data), str(tmp_path / "mean"), per="entity",
                                         labels=str(labels), progress=False))
    assert means.num_rows == means.num_entities == 82 and (np.asarray(means.lang) == -1).all()
    assert "fr" in means.header["label_languages"] and means.label(int(berlin[0]), "fr") == "Berlin (capitale)"
    assert means.label(0, "fr") == entities_tsv(sample_data)[0][2]
    rows = np.asarray(index.vectors, dtype=np.float32)
    for e in (0, 40, 81):
        mean = rows[np.asarray(index.entity) == e].mean(axis=0)
        assert np.allclose(np.asarray(means.vectors[e], dtype=np.float32), mean / np.linalg.norm(mean), atol=3e-3)
    cls = EntityIndex.load(build_index(model, str(sample_data), str(tmp_path / "cls"), vectors="cls",
                                       langs=["en", "de"], progress=False))
    assert cls.vectors_kind == "cls" and cls.header["indexed_languages"] == ["en", "de"]
    assert cls.num_rows == 82 + 47 and cls.header["model"]["query"] == "hidden state"
    result = EntityLinker(cls, model).link_texts(["Er lebt in [[Berlin]]."], k=3)
    assert len(result[0]) == 3


def test_a_model_without_knowledge_heads(sample_masked_lm_checkpoint, sample_data, exported, index, tmp_path):
    import shutil

    bare = tmp_path / "hf_without_heads"
    shutil.copytree(exported, bare, ignore=shutil.ignore_patterns("xlmk_knowledge_heads.safetensors"))
    with pytest.raises(LinkingError, match="has no XLM-K MEP heads"):
        build_index(load_model(str(bare)), str(sample_data), str(tmp_path / "bare"), progress=False)
    plain = load_model(str(sample_masked_lm_checkpoint), str(sample_data))
    assert not plain.has_mep_heads
    with pytest.raises(LinkingError, match="has no XLM-K MEP heads.*--vectors cls"):
        build_index(plain, str(sample_data), str(tmp_path / "no"), progress=False)
    with pytest.raises(LinkingError, match="only the MEP query head can search"):
        EntityLinker(index, plain)
    cls = EntityIndex.load(build_index(plain, str(sample_data), str(tmp_path / "cls"), vectors="cls",
                                       progress=False))
    assert cls.header["max_tokens"] == 64  # the model's positions
    assert len(EntityLinker(cls, plain).link_texts(["Er lebt in [[Berlin]]."], k=2)[0]) == 2
    # an index of one model refuses another
    xlmk = load_model(str(index.header["model"]["path"]), str(sample_data))
    with pytest.raises(LinkingError, match="was built from another model"):
        EntityLinker(cls, xlmk)


def run_cli(main, args, capsys):
    """(exit status, stdout, stderr) of an in-process CLI run."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_index_link_and_eval(sample_checkpoint, sample_data, exported, tmp_path, capsys):
    out = tmp_path / "idx"
    status, stdout, err = run_cli(index_main, [sample_checkpoint, "--data", sample_data, "--out", out, "--quiet"],
                                  capsys)
    assert status == 0 and "364 vectors of 64" in stdout and "82 entities" in stdout, err
    status, stdout, err = run_cli(link_main, [out, exported, "Er lebt in [[Berlin]].", "-k", "3"], capsys)
    assert status == 0 and stdout.count("| 1 | Q") == 1 and "[[Berlin]]" in stdout, err
    rows = entities_tsv(sample_data)
    berlin = next(r for r in rows if r[2] == "Berlin")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"text": "Er lebt in Berlin.", "start": 11, "end": 17, "qid": berlin[1]}) + "\n")
    status, stdout, err = run_cli(link_main, [out, sample_checkpoint, "--input", jsonl, "-k", "82",
                                              "--output", tmp_path / "linked.jsonl"], capsys)
    record = json.loads(stdout)
    assert status == 0 and record["mention"] == "Berlin" and len(record["candidates"]) == 82
    assert 1 <= record["gold_rank"] <= 82 and json.loads((tmp_path / "linked.jsonl").read_text()) == record
    # eval: the data's held-out MEP sentences and generated Mewsli-9 files, both mention modes
    write_mewsli(tmp_path / "mewsli", "en", {"en-1": "He lives in Berlin. The Nile is long."},
                 [("en-1", "Berlin", berlin[1]), ("en-1", "Nile", "Q999999999")])
    results = tmp_path / "results.json"
    status, stdout, err = run_cli(link_main, ["eval", out, exported, "--mep", "--mewsli", tmp_path / "mewsli",
                                              "--modes", "mask,keep", "--output", results], capsys)
    assert status == 0, err
    r = json.loads(results.read_text())
    assert set(r["sets"]) == {"mep-valid/mask", "mep-valid/keep", "mewsli-9/mask", "mewsli-9/keep"}
    manifest = json.load(open(sample_data / "manifest.json"))
    mep = r["sets"]["mep-valid/mask"]
    assert set(mep["languages"]) == set(manifest["languages"])
    assert mep["all"]["n"] >= sum(manifest["counts"][f"mep/{lang}/valid/sentences"] for lang in manifest["languages"])
    mewsli = r["sets"]["mewsli-9/mask"]["languages"]["en"]
    assert mewsli["n"] == 2 and mewsli["not_in_index"] == 1 and mewsli["acc@10"] <= 0.5
    assert r["chance"]["acc@1"] == pytest.approx(1 / 82) and "| mep-valid/keep |" in stdout
    # the results file is ours: a second run may replace it; another file may not be replaced
    assert run_cli(link_main, ["eval", out, exported, "--output", results], capsys)[0] == 0
    other = tmp_path / "other.json"
    other.write_text("{}")
    status, _, err = run_cli(link_main, ["eval", out, exported, "--output", other], capsys)
    assert status == 1 and "was not written by xlmk-link" in err and other.read_text() == "{}"


@pytest.mark.parametrize("case", ["no_marker", "two_markers", "not_an_index", "other_data", "out_not_ours",
                                  "out_exists", "not_a_model", "partial_not_ours"])
def test_cli_refuses_bad_input_in_one_line(case, sample_checkpoint, sample_data, synthetic_data, exported, index,
                                           tmp_path, capsys):
    main, args, expected = {
        "no_marker": (link_main, [index.path, exported, "Er lebt in Berlin."], "no mention marked"),
        "two_markers": (link_main, [index.path, exported, "[[Er]] lebt in [[Berlin]]."], "mark exactly one"),
        "not_an_index": (link_main, [tmp_path, exported, "[[Berlin]]"], "not an entity index"),
        "other_data": (link_main, ["eval", index.path, exported, "--data", synthetic_data],
                       "was built from other data"),
        "out_not_ours": (index_main, [sample_checkpoint, "--data", sample_data, "--out", tmp_path],
                         "is not an entity index written by xlmk-index"),
        "out_exists": (index_main, [sample_checkpoint, "--data", sample_data, "--out", index.path],
                       "exists: pass --overwrite"),
        "not_a_model": (link_main, [index.path, tmp_path, "[[Berlin]]"], "not a Hugging Face model directory"),
        "partial_not_ours": (index_main, [sample_checkpoint, "--data", sample_data, "--out", tmp_path / "x"],
                             "was not left by xlmk-index"),
    }[case]
    (tmp_path / "stray.txt").write_text("mine")
    if case == "partial_not_ours":
        (tmp_path / "x.partial").mkdir()
        (tmp_path / "x.partial" / "stray.txt").write_text("mine")
    status, stdout, err = run_cli(main, args, capsys)
    errors = [line for line in err.splitlines() if "error:" in line]
    assert status == 1 and len(errors) == 1 and expected in errors[0], err
    assert errors[0].startswith(("xlmk-index: error: ", "xlmk-link: error: ", "xlmk-link eval: error: "))
    assert "Traceback" not in err
    assert (tmp_path / "stray.txt").read_text() == "mine"
