"""xlmk-index and xlmk-link: entity linking with the XLM-K knowledge heads (docs/entity-linking.md).

    xlmk-index MODEL --data DATA --out INDEX [--vectors mep_key|cls] [--per language|entity]
    xlmk-link INDEX MODEL "Die Hauptstadt ist [[Berlin]]." [-k 10] [--label-lang de]
    xlmk-link INDEX MODEL --input mentions.jsonl [--output linked.jsonl]
    xlmk-link eval INDEX MODEL [--mep] [--mewsli DIR] [--jsonl FILE] [--output results.json]
"""

import argparse
import json
import os
import sys
import time

from ..evaluation.masked_lm_scorers import ModelLoadError
from .errors import LinkingError

INDEX_PROG, LINK_PROG = "xlmk-index", "xlmk-link"
TOOL = "xlmk-link eval"


# ---- xlmk-index -----------------------------------------------------------------------------------

def index_parser():
    p = argparse.ArgumentParser(prog=INDEX_PROG, description="Encode every entity description of DATA through "
                                "the MEP key head into an entity index for xlmk-link (docs/entity-linking.md).")
    p.add_argument("model", metavar="MODEL", help="a fairseq checkpoint of this plugin or its Hugging Face export "
                                                  "(a directory with xlmk_knowledge_heads.safetensors)")
    p.add_argument("--data", required=True, metavar="DATA", help="the knowledge data directory (desc/, entities.tsv)")
    p.add_argument("--out", required=True, metavar="INDEX", help="the index directory to write")
    p.add_argument("--vectors", choices=("mep_key", "cls"), default="mep_key",
                   help="mep_key: the MEP key head on <s> (default); cls: the <s> state itself, for comparison "
                        "(and for models without knowledge heads)")
    p.add_argument("--per", choices=("language", "entity"), default="language",
                   help="one vector per (entity, language) (default; an entity scores its best language), or "
                        "the normalised mean of its languages' vectors")
    p.add_argument("--langs", help="comma-separated description languages (default: all of the data)")
    p.add_argument("--max-tokens", type=int, default=256, metavar="N",
                   help="descriptions are cut to N tokens with <s> and </s> (default 256, the paper's; at most the "
                        "model's positions)")
    p.add_argument("--batch-tokens", type=int, default=16384, metavar="N", help="tokens per batch with padding")
    p.add_argument("--chunk-rows", type=int, default=4096, metavar="N",
                   help="descriptions per resumable chunk (default 4096)")
    p.add_argument("--labels", metavar="FILE", help="labels per language: xlmk-preprocess's "
                   "work/wikidata/sitelinks.sqlite, or a TSV of QID, language, label")
    p.add_argument("--approximate-nlist", type=int, metavar="N",
                   help="also train faiss's inverted file with N cells (pip install -e .[faiss]) and keep it in INDEX")
    p.add_argument("--overwrite", action="store_true", help="replace INDEX when it is an index written by xlmk-index")
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def index_main(argv=None):
    parser = index_parser()
    args = parser.parse_args(argv)
    from .build import build_index
    from .encoder import load_model

    langs = _langs(args.langs)
    started = time.time()
    try:
        model = load_model(args.model, args.data, args.device)
        out = build_index(model, args.data, args.out, args.vectors, args.per, langs, args.max_tokens,
                          args.batch_tokens, args.chunk_rows, args.labels, args.overwrite, not args.quiet)
        from .index_file import EntityIndex

        index = EntityIndex.load(out)
        if args.approximate_nlist:
            from .approximate import ApproximateSearch

            ApproximateSearch(index, nlist=args.approximate_nlist)
    except (LinkingError, ModelLoadError, OSError) as e:
        parser.exit(1, f"{INDEX_PROG}: error: {e}\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    h = index.header
    print(f"{INDEX_PROG}: {out}: {h['rows']} vectors of {h['dim']} ({h['vectors']}, per {h['per']}) for "
          f"{h['entities']} entities from {h['descriptions']} descriptions in {', '.join(h['indexed_languages'])}; "
          f"{size / 2**20:.1f} MiB; {time.time() - started:.1f} s")
    return 0


# ---- xlmk-link ------------------------------------------------------------------------------------

def _common(p):
    p.add_argument("index", metavar="INDEX", help="an index written by xlmk-index")
    p.add_argument("model", metavar="MODEL", help="the model the index was built with: its fairseq checkpoint or "
                                                  "its Hugging Face export")
    p.add_argument("--data", metavar="DATA", help="a fairseq checkpoint's data directory (dict.txt, sentencepiece "
                   "model; default: the one the index was built from)")
    p.add_argument("--mention", choices=("mask", "keep"), default="mask",
                   help="mask: the mention's tokens become <mask>, as MEP trains (default); keep: left as written")
    p.add_argument("--max-tokens", type=int, metavar="N", help="query window in tokens (default: the index's)")
    p.add_argument("--approximate", action="store_true", help="faiss's inverted file instead of the exact search "
                                                              "(pip install -e .[faiss])")
    p.add_argument("--nlist", type=int, metavar="N", help="--approximate: cells (default about sqrt(rows))")
    p.add_argument("--nprobe", type=int, default=16, metavar="N", help="--approximate: cells scanned per query (16)")
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    p.add_argument("--output", metavar="FILE", help="write the results here (never over a file this command did "
                                                    "not write)")


def link_parser():
    p = argparse.ArgumentParser(prog=LINK_PROG, description="Link marked mentions to the entities of an index "
                                "(xlmk-index) with the MEP query head; 'xlmk-link eval ...' measures accuracy.",
                                epilog="xlmk-link eval INDEX MODEL --help: the evaluation's options.")
    _common(p)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="a text with one mention marked as [[mention]]")
    p.add_argument("--input", metavar="FILE", help="JSONL mentions ('-': stdin): {\"text\", \"start\", \"end\"} or a "
                                                   "text with [[mention]]; optional \"qid\", \"lang\", \"id\"")
    p.add_argument("-k", type=int, default=10, help="candidates per mention (default 10)")
    p.add_argument("--label-lang", metavar="LANG", help="labels in this language where the index has them "
                                                         "(xlmk-index --labels); else the data's label")
    p.add_argument("--format", choices=("table", "jsonl"), help="stdout: a table per mention (default for TEXT) or "
                                                                 "JSONL (default for --input)")
    return p


def eval_parser():
    p = argparse.ArgumentParser(prog=f"{LINK_PROG} eval", description="Accuracy@1, accuracy@10 and MRR of linking "
                                "against all entities of the index, per language.")
    _common(p)
    p.add_argument("--mep", action="store_true", help="the data's held-out MEP sentences (mep/<lang>/<split>), every "
                                                      "mention a query (the default when no other set is given)")
    p.add_argument("--split", default="valid", help="--mep: the split (default valid)")
    p.add_argument("--mewsli", metavar="DIR", help="Mewsli-9 files: DIR/<lang>/mentions.tsv and text/<docid>")
    p.add_argument("--jsonl", metavar="FILE", help="JSONL mentions with a \"qid\" (and \"lang\") each")
    p.add_argument("--langs", help="comma-separated languages of the queries (default: all)")
    p.add_argument("--modes", default=None, help="evaluate these mention modes, e.g. mask,keep (default: --mention)")
    return p


def link_main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        return eval_main(argv[1:])
    parser = link_parser()
    args = parser.parse_args(argv)
    if bool(args.texts) == bool(args.input):
        parser.error("give TEXT with a [[mention]] or --input FILE (one of them)")
    if args.k < 1:
        parser.error("-k must be at least 1")
    from .queries import parse_marked, read_jsonl

    try:
        mentions = ([parse_marked(t, f"TEXT {i + 1}") for i, t in enumerate(args.texts)] if args.texts
                    else read_jsonl(args.input))
        _check_output(args.output, "jsonl")
        linker = _linker(args)
        candidates = linker.link(mentions, args.k, args.label_lang) if mentions else []
    except (LinkingError, ModelLoadError, OSError) as e:
        parser.exit(1, f"{LINK_PROG}: error: {e}\n")
    records = []
    for m, cands in zip(mentions, candidates):
        record = {"id": m.id, "text": m.text, "start": m.start, "end": m.end, "mention": m.surface,
                  "candidates": [{k: c[k] for k in ("qid", "label", "score")} for c in cands]}
        if m.qid:
            ranks = [i + 1 for i, c in enumerate(cands) if c["qid"] == m.qid]
            record.update(gold=m.qid, gold_rank=ranks[0] if ranks else None)
        records.append({k: v for k, v in record.items() if v is not None or k == "gold_rank"})
    if args.output:
        _write_atomic(args.output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    fmt = args.format or ("table" if args.texts else "jsonl")
    if fmt == "jsonl":
        for r in records:
            print(json.dumps(r, ensure_ascii=False))
    else:
        for r in records:
            print(f"\n{r['text'][:r['start']]}[[{r['mention']}]]{r['text'][r['end']:]}\n")
            print("| # | QID | label | score |\n|---|---|---|---|")
            for i, c in enumerate(r["candidates"], 1):
                print(f"| {i} | {c['qid']} | {c['label']} | {c['score']:.4f} |")
    return 0


def eval_main(argv):
    parser = eval_parser()
    args = parser.parse_args(argv)
    modes = _langs(args.modes) or [args.mention]
    if any(m not in ("mask", "keep") for m in modes):
        parser.error("--modes takes mask and/or keep")
    from . import evaluate
    from .mewsli import read_mewsli
    from .queries import read_jsonl

    langs = _langs(args.langs)
    try:
        _check_output(args.output, "json")
        linker = _linker(args)
        index = linker.index
        sets = {}
        if args.mep or not (args.mewsli or args.jsonl):
            data = args.data or index.header["data"]["path"]
            kdir, items = evaluate.data_mep_sets(data, langs, args.split)
            evaluate.check_index_data(index, kdir)
            sets[f"mep-{args.split}"] = ({lang: [(x[0], x[1]) for x in its] for lang, its in items.items()},
                                         {lang: [x[2] for x in its] for lang, its in items.items()}, None)
        mention_sets = []
        if args.mewsli:
            mention_sets.append(("mewsli-9", *read_mewsli(args.mewsli, langs)))
        if args.jsonl:
            by_lang = {}
            for m in read_jsonl(args.jsonl):
                if not langs or (m.lang or "all") in langs:
                    by_lang.setdefault(m.lang or "all", []).append(m)
            mention_sets.append(("jsonl", by_lang, {}))
        results = {"tool": TOOL, "index": index.path, "model": linker.model.name, "entities": index.num_entities,
                   "chance": {"acc@1": 1 / index.num_entities, "acc@10": min(1.0, 10 / index.num_entities)},
                   "search": _search_name(linker), "sets": {}}
        for mode in modes:
            linker.mention = mode
            suffix = f"/{mode}" if len(modes) > 1 else ""
            for name, spans, gold, _ in ((n, *v) for n, v in sets.items()):
                queries = {lang: [linker.query_of_tokens(t, s) for t, s in its] for lang, its in spans.items()}
                part = evaluate.evaluate_set(linker, {lang: (queries[lang], gold[lang]) for lang in queries})
                results["sets"][name + suffix] = {**part, "mention": mode}
            for name, mentions, skipped in mention_sets:
                per_language, skipped_all = evaluate.mention_set(linker, mentions, skipped)
                part = evaluate.evaluate_set(linker, per_language)
                results["sets"][name + suffix] = {**part, "mention": mode, "skipped": skipped_all}
        if args.output:
            _write_atomic(args.output, json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    except (LinkingError, ModelLoadError, OSError) as e:
        parser.exit(1, f"{LINK_PROG} eval: error: {e}\n")
    print(evaluate.markdown(results))
    return 0


# ---- shared ---------------------------------------------------------------------------------------

def _linker(args):
    from .encoder import load_model
    from .index_file import EntityIndex
    from .linker import EntityLinker

    index = EntityIndex.load(args.index)
    data = args.data
    if not os.path.isdir(args.model):
        data = data or index.header["data"]["path"]
        _check_dictionary(index, data)
    model = load_model(args.model, data, args.device)
    approximate = None
    if args.approximate:
        from .approximate import ApproximateSearch

        approximate = ApproximateSearch(index, nlist=args.nlist, nprobe=args.nprobe)
    if args.max_tokens is not None and args.max_tokens < 3:
        raise LinkingError("--max-tokens must be at least 3")
    return EntityLinker(index, model, args.mention, args.max_tokens, approximate)


def _check_dictionary(index, data):
    """A checkpoint is tokenised with DATA's dict.txt: it must be the index's."""
    from ..data.knowledge_dir import file_sha256

    path = os.path.join(data, "dict.txt")
    if not os.path.isfile(path):
        raise LinkingError(f"{path}: no such file (give the checkpoint's data directory with --data)")
    if file_sha256(path) != index.header["data"]["dict_sha256"]:
        raise LinkingError(f"{path} is not the dictionary of the data {index.path} was built from")


def _search_name(linker):
    a = linker.approximate
    return "exact" if a is None else f"approximate (faiss IVF, nlist {a.nlist}, nprobe {a.nprobe})"


def _check_output(path, kind):
    """--output may replace only a file that this command wrote."""
    if not path or not os.path.lexists(path):
        return
    ours = False
    try:
        with open(path, encoding="utf-8") as f:
            if kind == "json":
                ours = json.load(f).get("tool") == TOOL
            else:
                first = f.readline()
                ours = first == "" or "candidates" in json.loads(first)
    except (OSError, ValueError, AttributeError, TypeError):
        ours = False
    if not ours or not os.path.isfile(path):
        raise LinkingError(f"--output {path} exists and was not written by {LINK_PROG}: choose another file")


def _write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _langs(text):
    return [x.strip() for x in (text or "").split(",") if x.strip()] or None


if __name__ == "__main__":
    sys.exit(link_main())
