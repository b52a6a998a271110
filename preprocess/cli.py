"""xlmk-preprocess: Wikipedia and Wikidata dumps -> the knowledge data directory.

One subcommand per step (LUKE-style), each reading and writing under a work directory:

    xlmk-preprocess wikidata  --dump latest-all.json.gz --langs en,de,zh --out WORK [--workers N]
    xlmk-preprocess wikidata  --truthy latest-truthy.nt.bz2 --langs en,de,zh --out WORK \
                              --sitelinks-sql wikidatawiki-latest-wb_items_per_site.sql.gz
    xlmk-preprocess wikipedia --dump enwiki-latest-pages-articles.xml.bz2 --lang en --out WORK [--workers N]
                              [--parser scanner|mwparserfromhell]
    xlmk-preprocess spm       --out WORK [--spm-model xlmr/sentencepiece.bpe.model --dict xlmr/dict.txt | --train-vocab-size 8000]
    xlmk-preprocess binarize  --work WORK --out DATA [--workers N]
    xlmk-preprocess all       --config recipes/preprocess_sample.yaml      (the whole chain)
"""

import argparse
import json
import os
import re
import sqlite3
import sys

from .dump_io import DumpError
from .sites import WIKIPEDIA_LANGUAGES
from .wikitext import PARSERS


def _languages(text, known=True):
    """'EN, de zh,de' -> ['en', 'de', 'zh']; None when nothing is named (every language).
    With ``known``, a code that is not a Wikipedia's is refused (it would keep nothing)."""
    langs = list(dict.fromkeys(x.lower() for x in re.split(r"[,\s]+", text or "") if x)) or None
    unknown = [lang for lang in langs or () if lang not in WIKIPEDIA_LANGUAGES] if known else []
    if unknown:
        raise DumpError(f"not a Wikipedia language code: {', '.join(unknown)} "
                        f"(known: {' '.join(sorted(WIKIPEDIA_LANGUAGES))})")
    return langs


def _language(text):
    """The one code of --lang, checked as --langs' codes are (it names a directory)."""
    langs = _languages(text)
    if langs is None or len(langs) != 1:
        raise DumpError(f"--lang {text!r}: expected one language code, e.g. en")
    return langs[0]


def _wikidata(args):
    from . import wikidata
    from .shards import parse_shard

    if args.merge_shards:
        stats = wikidata.merge(args.out, args.merge_shards)
    else:
        if not (args.dump or args.truthy or args.sitelinks_sql) or not args.langs:
            raise DumpError("wikidata needs --langs and --dump (or --truthy with --sitelinks-sql), "
                            "or --merge-shards N")
        langs = _languages(args.langs)
        if not langs:
            raise DumpError("--langs names no language")
        shard = parse_shard(args.shard)
        stats = wikidata.run(args.dump, langs, args.out, workers=args.workers, shard=shard,
                             truthy=args.truthy, sitelinks_sql_dumps=args.sitelinks_sql or ())
        if shard[1] > 1:
            print(f"shard {args.shard} -> {wikidata.shard_dir(args.out, *shard)}; "
                  f"when all are done: xlmk-preprocess wikidata --out {args.out} --merge-shards {shard[1]}")
            return
    counts = stats["counts"]
    print(f"kept {counts.get('items_kept', 0)} items, {counts.get('triples', 0)} triples, "
          f"{counts.get('sitelinks', 0)} sitelinks -> {os.path.join(args.out, 'wikidata')}")


def _wikipedia(args):
    from . import wikipedia
    from .shards import parse_shard

    args.lang = _language(args.lang)
    if args.merge_shards:
        stats = wikipedia.merge(args.out, args.lang, args.merge_shards)
    else:
        if not args.dump:
            raise DumpError("wikipedia needs --dump (or --merge-shards N)")
        shard = parse_shard(args.shard)
        stats = wikipedia.run(args.dump, args.lang, args.out, workers=args.workers, shard=shard, index=args.index,
                              parser=args.parser)
        if shard[1] > 1:
            print(f"shard {args.shard} -> {wikipedia.shard_dir(args.out, args.lang, *shard)}; when all are done: "
                  f"xlmk-preprocess wikipedia --lang {args.lang} --out {args.out} --merge-shards {shard[1]}")
            return
    c = stats["counts"]
    print(f"{args.lang}: {c.get('pages', 0)} pages ({c.get('pages_with_qid', 0)} with a QID), "
          f"{c.get('redirects', 0)} redirects, mentions resolved {c.get('mentions_resolved', 0)} / "
          f"unresolved {c.get('mentions_unresolved', 0)} -> {os.path.join(args.out, 'wikipedia', args.lang)}")


def _spm(args):
    from . import tokenizer

    out = os.path.join(args.out, "spm")
    if args.spm_model or args.dict:
        if not (args.spm_model and args.dict):
            raise DumpError("--spm-model and --dict go together")
        tokenizer.use_existing(args.spm_model, args.dict, out)
    else:
        if args.train_vocab_size < 4:
            raise DumpError(f"--train-vocab-size {args.train_vocab_size}: expected at least 4 "
                            f"(<unk>, <s>, </s> and the text's characters)")
        tokenizer.train(_corpus_lines(args.out), args.train_vocab_size, out)
    print(f"sentencepiece model and dict.txt -> {out}")


def _corpus_lines(work):
    import orjson

    root = os.path.join(work, "wikipedia")
    langs = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if not langs:
        raise DumpError(f"{root} holds no language: run the wikipedia step first")
    for lang in langs:
        with open(os.path.join(root, lang, "pages.jsonl"), "rb") as f:
            for line in f:
                for paragraph in orjson.loads(line)["text"].split("\n"):
                    if paragraph.strip():
                        yield paragraph


def _binarize(args):
    from . import binarize

    langs = _languages(args.langs)
    out = binarize.run(args.work, args.out, languages=langs, workers=args.workers,
                       valid_fraction=args.valid_fraction, max_relations=args.max_relations)
    print(f"data directory -> {out}")


def _probe_set(args):
    from . import probe_set

    langs = _languages(args.langs, known=False)  # build names the languages the work directory has
    probe_set.print_summary(probe_set.build(args.work, args.out, langs), args.out)


# an `all` configuration's keys and their types (None: the key may be left empty): anything
# else is refused, so a typo is seen
NONE = type(None)
CONFIG_KEYS = {"work": str, "out": str, "wikidata": (str, NONE), "truthy": (str, NONE),
               "sitelinks_sql": (list, NONE), "wikipedia": dict, "spm": (dict, NONE), "workers": int,
               "valid_fraction": (float, int), "max_relations": (int, NONE), "parser": str}
SPM_KEYS = {"model": (str, NONE), "dict": (str, NONE), "train_vocab_size": int}


def _check_keys(cfg, types, where):
    if not isinstance(cfg, dict):
        raise DumpError(f"{where}: expected a mapping of keys, found {type(cfg).__name__}")
    for key, value in cfg.items():
        if key not in types:
            raise DumpError(f"{where}: unknown key {key!r} (known: {', '.join(types)})")
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise DumpError(f"{where}: {key} is {value!r}, expected {_type_name(types[key])}")


def _type_name(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("empty" if t is NONE else t.__name__ for t in types)


def _load_config(path):
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DumpError(f"{path}: {e}") from None
    _check_keys(cfg, CONFIG_KEYS, path)
    _check_keys(cfg.get("spm") or {}, SPM_KEYS, f"{path}: spm")
    wikipedia = cfg.get("wikipedia") or {}
    for lang, dump in wikipedia.items():
        if not isinstance(lang, str) or not isinstance(dump, str):
            raise DumpError(f"{path}: wikipedia: {lang!r}: {dump!r} is not a language code and a path "
                            f"(YAML reads no, on, yes as booleans: quote them)")
    if not all(isinstance(p, str) for p in cfg.get("sitelinks_sql") or []):
        raise DumpError(f"{path}: sitelinks_sql is a list of paths")
    if cfg.get("parser", PARSERS[0]) not in PARSERS:
        raise DumpError(f"{path}: parser is {cfg['parser']!r}, expected one of {', '.join(PARSERS)}")
    return cfg


def _read_with(work, lang):
    """The wikitext parser of the finished wikipedia step of ``lang``, or None: not finished."""
    from .wikipedia import parser_of

    try:
        with open(os.path.join(work, "wikipedia", lang, "stats.json"), encoding="utf-8") as f:
            return parser_of(json.load(f))
    except FileNotFoundError:
        return None


def _all(args):
    cfg = _load_config(args.config)
    base = os.path.dirname(os.path.abspath(args.config))
    path = lambda p: p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))  # noqa: E731
    try:
        work = args.work or path(cfg["work"])
        out = args.out or path(cfg["out"])
        langs = list(cfg["wikipedia"])
        wikidata_dump = cfg.get("wikidata") and path(cfg["wikidata"])
        truthy = cfg.get("truthy") and path(cfg["truthy"])
        sitelinks_sql = [path(p) for p in cfg.get("sitelinks_sql") or []]
    except (KeyError, TypeError) as e:
        raise DumpError(f"{args.config}: needs keys work, out, wikipedia and wikidata (or truthy with "
                        f"sitelinks_sql) ({e})") from None
    workers = cfg.get("workers", args.workers)
    parser = args.parser or cfg.get("parser", PARSERS[0])
    if not os.path.exists(os.path.join(work, "wikidata", "stats.json")):
        _wikidata(argparse.Namespace(dump=wikidata_dump, langs=",".join(langs), out=work, workers=workers,
                                     shard="0/1", merge_shards=None, truthy=truthy, sitelinks_sql=sitelinks_sql))
    for lang in langs:  # a language read with another parser is read again: no mixed output
        if _read_with(work, lang) != parser:
            _wikipedia(argparse.Namespace(dump=path(cfg["wikipedia"][lang]), lang=lang, out=work, workers=workers,
                                          shard="0/1", merge_shards=None, index=None, parser=parser))
    spm_cfg = cfg.get("spm") or {}
    if not os.path.exists(os.path.join(work, "spm", "dict.txt")):
        _spm(argparse.Namespace(out=work, spm_model=spm_cfg.get("model") and path(spm_cfg["model"]),
                                dict=spm_cfg.get("dict") and path(spm_cfg["dict"]),
                                train_vocab_size=spm_cfg.get("train_vocab_size", 8000)))
    _binarize(argparse.Namespace(work=work, out=out, langs=",".join(langs), workers=workers,
                                 valid_fraction=cfg.get("valid_fraction", 0.01),
                                 max_relations=cfg.get("max_relations")))


def _count(text):
    """argparse type of a number of things: an integer of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return int(text)


def build_parser():
    parser = argparse.ArgumentParser(prog="xlmk-preprocess", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wikidata", help="Wikidata dumps -> items, sitelinks, labels, triples")
    p.add_argument("--dump", help="latest-all.json, .json.gz or .json.bz2")
    p.add_argument("--truthy", metavar="NT", help="latest-truthy.nt[.gz|.bz2]: take the triples (best-rank "
                   "statements) and property labels from it; with --sitelinks-sql also the items' labels")
    p.add_argument("--sitelinks-sql", nargs="+", metavar="SQL", help="wikidatawiki-latest-wb_items_per_site.sql"
                   "[.gz]: take the sitelinks from it instead of --dump (needs --truthy)")
    p.add_argument("--langs", help="comma-separated Wikipedia languages, e.g. en,de,zh")
    p.add_argument("--out", required=True, help="work directory")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--shard", default="0/1", help="I/N: read only the I-th of N byte ranges (SLURM arrays)")
    p.add_argument("--merge-shards", type=_count, metavar="N", help="put N finished shards together")
    p.set_defaults(func=_wikidata)
    p = sub.add_parser("wikipedia", help="Wikipedia XML dump -> plain text with links resolved to QIDs")
    p.add_argument("--dump", help="*-pages-articles[-multistream].xml, .xml.bz2 or .xml.gz")
    p.add_argument("--lang", required=True, help="the wiki's language code, as in --langs of the wikidata step")
    p.add_argument("--out", required=True, help="work directory (holding the wikidata step's output)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--shard", default="0/1", help="I/N: read only the I-th of N parts (plain or multistream .bz2)")
    p.add_argument("--index", help="*-multistream-index.txt.bz2: cut --shard parts at its stream offsets "
                   "(default: the index next to the dump under its standard name, if there)")
    p.add_argument("--merge-shards", type=_count, metavar="N", help="put N finished shards together")
    p.add_argument("--parser", choices=PARSERS, default=PARSERS[0],
                   help="wikitext parser: scanner (fast) or mwparserfromhell (the reference); same output "
                   "but for the differences in docs/dump-sources.md")
    p.set_defaults(func=_wikipedia)
    p = sub.add_parser("spm", help="use XLM-R's sentencepiece model and dict, or train one on the text")
    p.add_argument("--out", required=True, help="work directory (holding the wikipedia steps' output)")
    p.add_argument("--spm-model", help="an existing sentencepiece model (e.g. XLM-R's sentencepiece.bpe.model)")
    p.add_argument("--dict", help="its fairseq dict.txt (checked against the model)")
    p.add_argument("--train-vocab-size", type=int, default=8000, help="vocabulary size when training")
    p.set_defaults(func=_spm)
    p = sub.add_parser("binarize", help="work directory -> the knowledge data directory")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True, help="the data directory to write")
    p.add_argument("--langs", help="languages to include (default: every finished wikipedia step)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--valid-fraction", type=float, default=0.01)
    p.add_argument("--max-relations", type=int, default=None, help="keep the K most frequent relations")
    p.set_defaults(func=_binarize)
    p = sub.add_parser("probe-set", help="an mLAMA-layout probe set from WORK/wikidata, for xlmk-probe --mlama")
    p.add_argument("--work", required=True, help="the work directory (reads WORK/wikidata)")
    p.add_argument("--out", required=True, help="the probe set directory to write (replaced if it exists)")
    p.add_argument("--langs", help="comma-separated languages (default: every language with labels)")
    p.set_defaults(func=_probe_set)
    p = sub.add_parser("all", help="every step, as configured in a YAML file; finished steps are reused")
    p.add_argument("--config", required=True)
    p.add_argument("--work", help="override the configuration's work directory")
    p.add_argument("--out", help="override the configuration's data directory")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--parser", choices=PARSERS, help="override the configuration's wikitext parser "
                   "(default: scanner)")
    p.set_defaults(func=_all)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DumpError as e:
        print(f"xlmk-preprocess: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only or missing directory: the system's own words
        print(f"xlmk-preprocess: error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except sqlite3.OperationalError as e:  # sqlite's words for the same ("unable to open database file")
        print(f"xlmk-preprocess: error: sqlite: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
