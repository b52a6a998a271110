"""xlmk-preprocess: Wikipedia and Wikidata dumps -> the knowledge data directory.

One subcommand per step (LUKE-style), each reading and writing under a work directory:

    xlmk-preprocess wikidata  --dump latest-all.json.gz --langs en,de,zh --out WORK [--workers N]
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


def build_parser():
    parser = argparse.ArgumentParser(prog="xlmk-preprocess", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wikidata", help="Wikidata JSON dump -> items, sitelinks, triples")
    p.add_argument("--dump", required=True, help="latest-all.json, .json.gz or .json.bz2")
    p.add_argument("--langs", required=True, help="comma-separated Wikipedia languages, e.g. en,de,zh")
    p.add_argument("--out", required=True, help="work directory")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_wikidata)
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
