"""Wikitext conversion speed on real Wikipedia pages, per core.

The pages are the real English excerpt that ships with the repository
(preprocess/sample/real/enwiki-excerpt-pages-articles.xml.bz2: 106 articles, 5.7 MB of
wikitext), optionally repeated. One process pinned to one core (OMP_NUM_THREADS=1) measures,
in rounds that alternate them so that machine noise hits all alike:

  iterparse         a bare ElementTree iterparse of the (decompressed) XML
  mwparserfromhell  a bare pass: parse, filter_wikilinks(), strip_code()
  convert: P        preprocess.wikitext's converter for each parser P (PARSERS)
  step: P           the whole `xlmk-preprocess wikipedia` step, 1 worker (--step)
  synthetic: P      the converter on bench_preprocess's synthetic pages (--synthetic N), and
                    their sizes and markup per kB beside the real pages'

Rates are in MB of article wikitext (UTF-8) and articles per second, median over rounds
with min-max; "vs bare" is each round's time of the bare mwparserfromhell pass divided by the
row's, median over rounds. Prints a markdown table.

    python tests/benchmarks/bench_wikitext.py [--rounds 5] [--repeat 1] [--step] [--synthetic 600]
"""

import argparse
import contextlib
import inspect
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO, os.path.join(REPO, "tests"), HERE]

import mwparserfromhell  # noqa: E402

from bench_preprocess import EXCERPT, real_excerpt_xml, write_wikipedia  # noqa: E402
from dump_fixtures import item, wikidata_dump_text, write  # noqa: E402
from preprocess import wikidata, wikipedia, wikitext  # noqa: E402


def real_pages(path):
    """(namespace names, article texts) of a dump: main namespace, no redirects."""
    namespaces, texts = [], []
    for kind, page in wikipedia.iter_dump(path):
        if kind == "siteinfo":
            namespaces = [name for key, name in page["namespaces"].items() if key != 0]
        elif page["ns"] == "0" and page["redirect"] is None and (page["text"] or "").strip():
            texts.append(page["text"])
    return namespaces, texts


def converters(namespaces):
    """{parser name: converter}: every parser the Wikipedia step offers (wikitext.PARSERS),
    or the one WikitextConverter where that API is not there yet."""
    if hasattr(wikitext, "make_converter") and hasattr(wikitext, "PARSERS"):
        return {p: wikitext.make_converter(p, namespaces) for p in wikitext.PARSERS}
    return {"mwparserfromhell": wikitext.WikitextConverter(namespaces)}


@contextlib.contextmanager
def quiet():
    """No tqdm bars on stderr (they would interleave with the rounds' lines)."""
    with open(os.devnull, "w") as devnull:
        stderr, sys.stderr = sys.stderr, devnull
        try:
            yield
        finally:
            sys.stderr = stderr


def sitelinks_work(work, titles):
    """A work dir whose wikidata step knows an enwiki title for every page title and link
    target of the pages (what the wikipedia step needs before it runs)."""
    entities = [item(f"Q{i + 1}", labels={"en": t}, sitelinks=[("enwiki", t)]) for i, t in enumerate(sorted(titles))]
    dump = write(os.path.join(os.path.dirname(work), "items.json.gz"), wikidata_dump_text(entities), "gz")
    with quiet():
        wikidata.run(dump, ["en"], work)


MARKUP = {"links [[": r"\[\[", "templates {{": r"\{\{", "refs <ref": r"<ref[ >]", "tables {|": r"\{\|",
          "headings ==": r"(?m)^==", "files [[File:": r"\[\[(?:File|Image):", "categories": r"\[\[Category:",
          "italic/bold ''": r"''"}


def markup_rates(texts, converter):
    """Sizes and markup per kB of wikitext, and wikitext bytes per byte of converted text:
    what the synthetic pages are calibrated on (the real excerpt's)."""
    sizes = sorted(len(t.encode("utf-8")) for t in texts)
    kb = sum(sizes) / 1000
    plain = sum(len(converter.convert(t)[0].encode("utf-8")) for t in texts)
    out = {"articles": len(sizes), "mean kB": sum(sizes) / len(sizes) / 1000,
           "median kB": statistics.median(sizes) / 1000,
           "sd of ln(size)": statistics.stdev(math.log(s) for s in sizes)}
    out.update({f"{name} per kB": len(re.findall(pattern, "\n".join(texts))) / kb for name, pattern in MARKUP.items()})
    out["wikitext / converted text"] = sum(sizes) / plain
    return out


def bare_iterparse(xml_path):
    n = 0
    for _, elem in ET.iterparse(xml_path):
        if elem.tag.endswith("}page"):
            n += 1
            elem.clear()
    return n


def bare_mwparserfromhell(texts):
    for t in texts:
        code = mwparserfromhell.parse(t)
        code.filter_wikilinks()
        code.strip_code()


def convert_all(converter, texts):
    for t in texts:
        converter.convert(t)


def run_step(xml_path, work, parser):
    kwargs = {"parser": parser} if parser else {}
    with quiet():
        return wikipedia.run(xml_path, "en", work, workers=1, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="the excerpt's pages, this many times per round")
    parser.add_argument("--step", action="store_true", help="also the whole wikipedia step, 1 worker, per parser")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also convert N synthetic pages of bench_preprocess (realism check)")
    args = parser.parse_args()
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    tmp = tempfile.mkdtemp(prefix="xlmk_wikitext_bench_")
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp):
    namespaces, texts = real_pages(EXCERPT)
    texts = texts * args.repeat
    volume = sum(len(t.encode("utf-8")) for t in texts)
    xml_path = real_excerpt_xml(os.path.join(tmp, "excerpt.xml"), args.repeat)
    convs = converters(namespaces)
    # each measured thing: (label, function, MB of article wikitext, articles)
    tasks = [("iterparse", lambda: bare_iterparse(xml_path), volume, len(texts)),
             ("mwparserfromhell (bare)", lambda: bare_mwparserfromhell(texts), volume, len(texts))]
    tasks += [(f"convert: {p}", lambda c=c: convert_all(c, texts), volume, len(texts)) for p, c in convs.items()]
    if args.step:
        work = os.path.join(tmp, "work")
        titles = set()
        for t in texts[:len(texts) // args.repeat]:
            titles.update(link.target for link in next(iter(convs.values())).convert(t)[1])
        titles.update(page["title"] for kind, page in wikipedia.iter_dump(EXCERPT) if kind == "page")
        sitelinks_work(work, {wikipedia.normalize_title(t, True) for t in titles})
        if "parser" in inspect.signature(wikipedia.run).parameters:
            tasks += [(f"step: {p}", lambda p=p: run_step(xml_path, work, p), volume, len(texts)) for p in convs]
        else:  # the step has one parser
            tasks.append(("step (its one parser)", lambda: run_step(xml_path, work, None), volume, len(texts)))
    if args.synthetic:
        syn_xml = os.path.join(tmp, "synthetic.xml")
        write_wikipedia(syn_xml, args.synthetic)
        _, syn = real_pages(syn_xml)
        syn_volume = sum(len(t.encode("utf-8")) for t in syn)
        tasks += [(f"synthetic: {p}", lambda c=c: convert_all(c, syn), syn_volume, len(syn)) for p, c in convs.items()]
    if args.synthetic:
        conv = next(iter(convs.values()))
        real, synthetic = markup_rates(texts[:len(texts) // args.repeat], conv), markup_rates(syn, conv)
        print("| article wikitext | real excerpt | synthetic |")
        print("|---|---|---|")
        for key in real:
            print(f"| {key} | {real[key]:.2f} | {synthetic[key]:.2f} |")
        print()
    times = {label: [] for label, *_ in tasks}
    for r in range(args.rounds):
        order = tasks[r % len(tasks):] + tasks[:r % len(tasks)]  # a different one first each round
        for label, func, *_ in order:
            t = time.perf_counter()
            func()
            times[label].append(time.perf_counter() - t)
        print(f"# round {r + 1}/{args.rounds} done", file=sys.stderr)
    bare = times["mwparserfromhell (bare)"]
    print(f"# {len(texts)} real articles ({volume / 1e6:.2f} MB of wikitext) x {args.rounds} rounds, one core, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| what | MB/s (median, min-max) | articles/s | vs bare mwparserfromhell |")
    print("|---|---|---|---|")
    rates = {label: [mb / 1e6 / t for t in times[label]] for label, _, mb, _ in tasks}
    for label, _, mb, count in tasks:
        if label.startswith("synthetic: "):  # MB/s against the same converter on the real pages
            real = rates["convert: " + label.split(": ", 1)[1]]
            versus = f"MB/s {statistics.median(s / r for s, r in zip(rates[label], real)):.2f}x the real pages'"
        else:
            versus = f"{statistics.median(b / t for b, t in zip(bare, times[label])):.2f}x"
        print(f"| {label} | {statistics.median(rates[label]):.2f} ({min(rates[label]):.2f}-{max(rates[label]):.2f}) "
              f"| {count / statistics.median(times[label]):.1f} | {versus} |")


if __name__ == "__main__":
    main()
