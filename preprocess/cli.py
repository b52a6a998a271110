"""xlmk-preprocess: Wikipedia and Wikidata dumps -> the knowledge data directory.

One subcommand per step (LUKE-style), each reading and writing under a work directory:

    xlmk-preprocess wikidata  --dump latest-all.json.gz --langs en,de,zh --out WORK [--workers N]
    xlmk-preprocess wikipedia --dump enwiki-latest-pages-articles.xml.bz2 --lang en --out WORK [--workers N]
"""

import argparse
import os
import sys

from .dump_io import DumpError


def _wikidata(args):
    from . import wikidata

    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    if not langs:
        raise DumpError("--langs names no language")
    stats = wikidata.run(args.dump, langs, os.path.join(args.out, "wikidata"), workers=args.workers)
    counts = stats["counts"]
    print(f"kept {counts.get('items_kept', 0)} items, {counts.get('triples', 0)} triples, "
          f"{counts.get('sitelinks', 0)} sitelinks -> {os.path.join(args.out, 'wikidata')}")


def _wikipedia(args):
    from . import wikipedia

    stats = wikipedia.run(args.dump, args.lang, args.out, workers=args.workers)
    c = stats["counts"]
    print(f"{args.lang}: {c.get('pages', 0)} pages ({c.get('pages_with_qid', 0)} with a QID), "
          f"{c.get('redirects', 0)} redirects, mentions resolved {c.get('mentions_resolved', 0)} / "
          f"unresolved {c.get('mentions_unresolved', 0)} -> {os.path.join(args.out, 'wikipedia', args.lang)}")


def build_parser():
    parser = argparse.ArgumentParser(prog="xlmk-preprocess", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wikidata", help="Wikidata JSON dump -> items, sitelinks, triples")
    p.add_argument("--dump", required=True, help="latest-all.json, .json.gz or .json.bz2")
    p.add_argument("--langs", required=True, help="comma-separated Wikipedia languages, e.g. en,de,zh")
    p.add_argument("--out", required=True, help="work directory")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_wikidata)
    p = sub.add_parser("wikipedia", help="Wikipedia XML dump -> plain text with links resolved to QIDs")
    p.add_argument("--dump", required=True, help="*-pages-articles.xml, .xml.bz2 or .xml.gz")
    p.add_argument("--lang", required=True, help="the wiki's language code, as in --langs of the wikidata step")
    p.add_argument("--out", required=True, help="work directory (holding the wikidata step's output)")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_wikipedia)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DumpError as e:
        print(f"xlmk-preprocess: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
