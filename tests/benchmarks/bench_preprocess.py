"""Preprocessing throughput and memory on synthetic dumps in the real formats.

Wikidata: entities/s of `xlmk-preprocess wikidata` with 1 worker against a bare decompress +
orjson.loads loop over the same file; 2 workers against 1 on the 10 N dump (the longer run is
the nearer to a real dump's hours: start-up and the final merge weigh less), alternating runs;
peak RSS at N and 10 N entities.
Wikipedia: pages/s and links/s (1 and 2 workers) against a bare ElementTree iterparse pass;
peak RSS at N and 10 N pages. Each measurement runs in its own process (peak RSS is that
process's, workers included); it runs on as many CPU cores as it has workers (the
baselines on one), so "per worker" means per core. Ends with an extrapolation to full dumps
on 16 cores.

    python tests/benchmarks/bench_preprocess.py [--entities 10000] [--pages 5000] [--rounds 3] [--only wikidata]
"""

import argparse
import bz2
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dump_fixtures import page, prop, wikipedia_dump_text  # noqa: E402
from preprocess import wikidata  # noqa: E402
from preprocess.dump_io import open_dump  # noqa: E402

LANGS = ["en", "de", "es", "ar", "hi", "vi", "zh"]


OTHER_LANGS = ["fr", "it", "ru", "ja", "pt", "pl", "nl", "sv", "uk", "fa", "ko", "tr", "cs", "he", "id", "fi",
               "hu", "ro", "ca", "no", "sr", "bg", "el", "da", "th", "bn", "ms", "ta"]


def _statement(rng, pid, value, datatype, references=1):
    """A statement as real dumps write it: hash, id, rank, qualifiers/references with their own snaks."""
    def snak(p, v, dt):
        kind = {"wikibase-item": "wikibase-entityid", "time": "time"}.get(dt, "string")
        return {"snaktype": "value", "property": p, "hash": f"{rng.getrandbits(160):040x}", "datatype": dt,
                "datavalue": {"value": v, "type": kind}}
    time_value = {"time": "+2024-01-01T00:00:00Z", "timezone": 0, "before": 0, "after": 0, "precision": 11,
                  "calendarmodel": "http://www.wikidata.org/entity/Q1985727"}
    refs = [{"hash": f"{rng.getrandbits(160):040x}",
             "snaks": {"P248": [snak("P248", _item_value(rng.randrange(1, 10**7)), "wikibase-item")],
                       "P813": [snak("P813", time_value, "time")]},
             "snaks-order": ["P248", "P813"]} for _ in range(references)]
    return {"mainsnak": snak(pid, value, datatype), "type": "statement",
            "id": f"Q{rng.randrange(10**8)}${rng.getrandbits(128):032x}", "rank": "normal", "references": refs}


def _item_value(number):
    return {"entity-type": "item", "numeric-id": number, "id": f"Q{number}"}


def synthetic_entity(i, n, rng, kept_share):
    """Entity i of n. A ``kept_share`` of them is shaped like an item with Wikipedia articles
    (labels, descriptions and aliases in ~35 languages, ~15 item-valued and ~20 external-id
    statements with references, sitelinks to ~20 wikis of which 1-5 in the chosen languages);
    the others like the bulk of Wikidata, scholarly articles and the like (a few labels,
    cites-work/author statements, identifiers, no Wikipedia sitelink)."""
    q = f"Q{i + 1}"
    rich = rng.random() < kept_share
    langs = LANGS + OTHER_LANGS if rich else ["en", rng.choice(OTHER_LANGS)]
    entity = {"type": "item", "id": q, "labels": {l: {"language": l, "value": f"Entity {i} {l}"} for l in langs},
              "descriptions": {l: {"language": l, "value": f"description of entity {i} in {l}"} for l in langs},
              "aliases": {l: [{"language": l, "value": f"E{i} alias {l}"}] for l in langs[::3]} if rich else {},
              "claims": {}, "sitelinks": {}, "lastrevid": 2000000000 + i}
    item_claims = 15 if rich else 10
    item_props = [17, 30, 31, 47, 131, 36, 279, 361] if rich else [31, 50, 1433, 2860, 2860, 2860]
    for _ in range(item_claims):
        pid = f"P{rng.choice(item_props)}"
        entity["claims"].setdefault(pid, []).append(
            _statement(rng, pid, _item_value(rng.randrange(1, n + 1)), "wikibase-item"))
    for k in range(20 if rich else 5):
        pid = f"P{1000 + k}"
        entity["claims"][pid] = [_statement(rng, pid, f"ID-{i}-{k}", "external-id")]
    if rich:
        sites = rng.sample(LANGS, rng.randint(1, 5)) + rng.sample(OTHER_LANGS, 15)
        entity["sitelinks"] = {f"{l}wiki": {"site": f"{l}wiki", "title": f"Entity {i}", "badges": []} for l in sites}
        entity["sitelinks"]["commonswiki"] = {"site": "commonswiki", "title": f"Category:E{i}", "badges": []}
    return entity


def write_wikidata(path, n, kept_share, seed=0):
    """n entities in the JSON dump layout; see synthetic_entity."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as f:
        f.write("[\n")
        for i in range(n):
            f.write(json.dumps(synthetic_entity(i, n, rng, kept_share), ensure_ascii=False,
                               separators=(",", ":")) + ",\n")
        f.write(json.dumps(prop("P17", "country")) + "\n]\n")


def write_wikipedia(path, n, seed=0):
    """n pages of ~2 KB wikitext with ~15 links each, templates, refs, a few redirects."""
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        if i % 20 == 19:
            pages.append(page(f"Alias {i}", f"#REDIRECT [[Entity {i - 1}]]", redirect=f"Entity {i - 1}", page_id=i + 1))
            continue
        parts = [f"'''Entity {i}''' {{{{Infobox|x=[[Entity {rng.randrange(n)}]]}}}}"]
        for _ in range(15):
            parts.append(f"Some words about the topic and [[Entity {rng.randrange(n)}|its neighbour]] with more "
                         f"words here.<ref>a source</ref> ")
        parts.append("\n== History ==\nMore text &amp;nbsp; [[Category:Things]]")
        pages.append(page(f"Entity {i}", "".join(parts), page_id=i + 1))
    with open(path, "w", encoding="utf-8") as f:
        f.write(wikipedia_dump_text("en", pages))


def measure(code, cores=1):
    """Run ``code`` in a fresh interpreter on ``cores`` CPU cores (its worker processes and
    threads included: "per worker" means per core); return (its result, peak RSS in MB incl.
    children)."""
    script = f"import os, sys, json, time, resource\nsys.path[:0] = {[REPO]!r}\n" \
             f"os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:{cores}])\n{code}\n" \
             "rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, " \
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n" \
             "print(json.dumps({'result': result, 'rss_mb': rss / 1024}))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["result"], data["rss_mb"]


def bare_wikidata(path, gzip_module="gzip"):
    """The bare loop with the standard library's gzip, or with ``isal.igzip`` (the
    decompressor the wikidata step uses)."""
    return measure(f"""
import orjson
import {gzip_module} as gzip
t = time.perf_counter(); n = 0
with gzip.open({path!r}, 'rb') as f:
    for line in f:
        line = line.strip().rstrip(b',')
        if line in (b'[', b']', b''): continue
        orjson.loads(line); n += 1
result = n / (time.perf_counter() - t)""")


def ours_wikidata(path, work, workers):
    return measure(f"""
from preprocess import wikidata
t = time.perf_counter()
stats = wikidata.run({path!r}, {LANGS!r}, {work!r}, workers={workers})
result = stats['counts']['entities'] / (time.perf_counter() - t)""", cores=workers)


def reader_alone(path, count, reader="shards.dump_chunks"):
    """Items/s of the reader process's part alone (``reader``: decompressing; for the
    wikipedia step also the XML parse): what one process delivers at most, whatever its
    number of workers (``count`` items in the file)."""
    result, _ = measure(f"""
from preprocess import shards, wikipedia
t = time.perf_counter()
for _ in {reader}({path!r}):
    pass
result = time.perf_counter() - t""")
    return count / result


def recompress_bz2(path, out):
    """The same dump as a .bz2 file (what sharded runs read)."""
    with open_dump(path) as src, bz2.open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    return out


def bare_wikipedia(path):
    return measure(f"""
import xml.etree.ElementTree as ET
t = time.perf_counter(); n = 0
for ev, el in ET.iterparse({path!r}):
    if el.tag.endswith('}}page'):
        n += 1; el.clear()
result = n / (time.perf_counter() - t)""")


def ours_wikipedia(path, work, workers):
    return measure(f"""
from preprocess import wikipedia
t = time.perf_counter()
stats = wikipedia.run({path!r}, 'en', {work!r}, workers={workers})
dt = time.perf_counter() - t
c = stats['counts']
result = [c['pages'] / dt, (c.get('mentions_resolved', 0) + c.get('mentions_unresolved', 0)) / dt]""", cores=workers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=10000)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="wikidata: 2-worker runs, each between two 1-worker runs")
    parser.add_argument("--only", choices=["wikidata", "wikipedia"], help="measure one step only")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="xlmk_prep_bench_")
    try:
        run_benchmarks(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmarks(args, tmp):
    """The tables, then hours for full dumps on 16 cores: 16 workers in one process cannot go
    faster than its one reader decompresses; 16 shards each decompress their own part, and
    go at the rate of a 1-worker run on the .bz2 dump (or of the parsing, if slower)."""
    if args.only != "wikipedia":
        wd = bench_wikidata(args, tmp)
        print(f"# Wikidata, 110M entities (realistic mix), 16 cores: one process on the .gz, 16 workers: "
              f">= {hours(110e6, min(16 * wd['one'], wd['reader']))} h (its reader's inflating alone: {wd['reader']:.0f} ent/s; "
              f"the workers alone: {hours(110e6, 16 * wd['one'])} h); 16 shards of the .bz2: "
              f"{hours(110e6, 16 * wd['bz2_shard'])} h ({wd['bz2_shard']:.0f} ent/s per shard)")
    if args.only != "wikidata":
        wp = bench_wikipedia(args, tmp)
        print(f"# English Wikipedia, 7M articles, 16 cores: one process on the .bz2, 16 workers: "
              f">= {hours(7e6, min(16 * wp['one'], wp['reader']))} h (its reader's part alone: {wp['reader']:.0f} pages/s); "
              f"16 shards of the .bz2: {hours(7e6, 16 * wp['bz2_shard'])} h ({wp['bz2_shard']:.0f} pages/s per shard)")


def hours(count, rate):
    return f"{count / rate / 3600:.1f}"


def two_workers_against_one(path, work, rounds):
    """Runs with 1, 2, 1, 2, ..., 1 workers; each 2-worker rate against the mean of the
    1-worker rates on either side of it, because this machine's speed drifts (up to 1.5x)
    over times longer than a run. Returns the ratios and the 1-worker runs' peak RSS."""
    ones, twos, rss = [], [], []
    for run in range(2 * rounds + 1):
        workers = 1 + run % 2
        rate, peak = ours_wikidata(path, work, workers)
        if workers == 1:
            ones.append(rate)
            rss.append(peak)
        else:
            twos.append(rate)
    return [two / ((a + b) / 2) for two, a, b in zip(twos, ones, ones[1:])], max(rss)


def bench_wikidata(args, tmp):
    """Prints the wikidata table; returns the realistic mix's rates for the 16-core estimate:
    1 worker, the reader alone, 1 worker on the .bz2 dump."""
    print("| wikidata dump | bare gzip + orjson.loads | same with isal.igzip | 1 worker "
          f"| 2 workers vs 1, on the 10N dump (median of {args.rounds}) | peak RSS at N / 10N |")
    print("|---|---|---|---|---|---|")
    for name, kept_share in (("realistic mix, 8 % kept", 0.08), ("worst case, every entity kept", 1.0)):
        small, large = os.path.join(tmp, "wd1.json.gz"), os.path.join(tmp, "wd10.json.gz")
        write_wikidata(small, args.entities, kept_share)
        write_wikidata(large, 10 * args.entities, kept_share)
        bare, _ = bare_wikidata(small)
        bare_isal, _ = bare_wikidata(small, "isal.igzip")
        one, rss1 = ours_wikidata(small, os.path.join(tmp, "w1"), 1)
        ratios, rss10 = two_workers_against_one(large, os.path.join(tmp, "w2"), args.rounds)
        print(f"| {name}: {args.entities} entities, {os.path.getsize(small) / 1e6:.1f} MB gz | {bare:.0f} ent/s "
              f"| {bare_isal:.0f} ent/s | {one:.0f} ent/s ({one / bare:.2f}x bare, {one / bare_isal:.2f}x isal bare) "
              f"| {statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)}) "
              f"| {rss1:.0f} MB / {rss10:.0f} MB ({rss10 / rss1:.2f}x) |")
        if kept_share < 1:
            estimate = {"one": one, "reader": reader_alone(small, args.entities + 1),
                        "bz2_shard": ours_wikidata(recompress_bz2(small, small + ".bz2"), os.path.join(tmp, "wb"), 1)[0]}
    return estimate


def bench_wikipedia(args, tmp):
    """Prints the wikipedia table; returns the rates for the 16-core estimate: 1 worker, the
    reader alone on the .bz2 dump, 1 worker on it."""
    # the wikipedia step resolves links through the wikidata step's sitelinks: items "Entity i",
    # about half with an English article
    items = os.path.join(tmp, "wd_links.json.gz")
    write_wikidata(items, args.pages, kept_share=1.0)
    wikidata.run(items, LANGS, os.path.join(tmp, "p1"))
    for work in ("p2", "p3", "p4"):
        shutil.copytree(os.path.join(tmp, "p1", "wikidata"), os.path.join(tmp, work, "wikidata"))
    wiki_small, wiki_large = os.path.join(tmp, "en1.xml"), os.path.join(tmp, "en10.xml")
    write_wikipedia(wiki_small, args.pages)
    write_wikipedia(wiki_large, 10 * args.pages)
    print(f"# wikipedia: {args.pages} pages ({os.path.getsize(wiki_small) / 1e6:.1f} MB) and 10x")
    bare_p, _ = bare_wikipedia(wiki_small)
    (p1, l1), rssp1 = ours_wikipedia(wiki_small, os.path.join(tmp, "p1"), 1)
    (p2, l2), _ = ours_wikipedia(wiki_small, os.path.join(tmp, "p2"), 2)
    _, rssp10 = ours_wikipedia(wiki_large, os.path.join(tmp, "p3"), 1)
    print(f"| bare iterparse | {bare_p:.0f} pages/s |")
    print(f"| wikipedia step, 1 worker | {p1:.0f} pages/s, {l1:.0f} links/s ({p1 / bare_p:.3f}x bare) |")
    print(f"| wikipedia step, 2 workers | {p2:.0f} pages/s, {l2:.0f} links/s ({p2 / p1:.2f}x one worker) |")
    print(f"| peak RSS at N / 10N pages | {rssp1:.0f} MB / {rssp10:.0f} MB ({rssp10 / rssp1:.2f}x) |")
    wiki_bz2 = recompress_bz2(wiki_small, wiki_small + ".bz2")
    (p1_bz2, _), _ = ours_wikipedia(wiki_bz2, os.path.join(tmp, "p4"), 1)
    return {"one": p1, "reader": reader_alone(wiki_bz2, args.pages, "wikipedia.iter_dump"), "bz2_shard": p1_bz2}


if __name__ == "__main__":
    main()
