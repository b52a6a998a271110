"""Preprocessing throughput and memory on synthetic dumps in the real formats.

Wikidata: entities/s of `xlmk-preprocess wikidata` (1 and 2 workers) against a bare
decompress + orjson.loads loop over the same file; peak RSS at N and 10 N entities.
Wikipedia: pages/s and links/s (1 and 2 workers) against a bare ElementTree iterparse pass;
peak RSS at N and 10 N pages. Each measurement runs in its own process (peak RSS is that
process's, workers included). Ends with an extrapolation to full dumps on 16 cores.

    python tests/benchmarks/bench_preprocess.py [--entities 20000] [--pages 5000]
"""

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dump_fixtures import item, page, prop, wikipedia_dump_text  # noqa: E402

LANGS = ["en", "de", "es", "ar", "hi", "vi", "zh"]


def write_wikidata(path, n, seed=0):
    """n items shaped like real ones: labels/descriptions in 7 languages, ~15 item claims,
    a few other claims, 5 sitelinks; ~4 KB per line (real dumps average more)."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write("[\n")
        for i in range(n):
            q = f"Q{i + 1}"
            labels = {l: f"Entity {i} {l}" for l in LANGS}
            sites = [(f"{l}wiki", f"Entity {i}") for l in rng.sample(LANGS, 5)] + [("commonswiki", f"E{i}")]
            claims = [(f"P{rng.choice([17, 30, 31, 47, 131, 36, 279, 361])}", f"Q{rng.randrange(1, n + 1)}",
                       "normal", "value") for _ in range(15)]
            e = item(q, labels=labels, sitelinks=sites, claims=claims, extra_claims={
                "P1082": [{"mainsnak": {"snaktype": "value", "property": "P1082", "datatype": "quantity",
                                        "datavalue": {"type": "quantity", "value": {"amount": f"+{i}", "unit": "1"}}},
                           "type": "statement", "rank": "normal"}] * 3})
            e["descriptions"] = {l: {"language": l, "value": f"description of entity {i} in {l}"} for l in LANGS}
            f.write(json.dumps(e, ensure_ascii=False) + ",\n")
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


def measure(code):
    """Run ``code`` in a fresh interpreter; return (its result, peak RSS in MB incl. children)."""
    script = f"import sys, json, time, resource\nsys.path[:0] = {[REPO]!r}\n{code}\n" \
             "rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, " \
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n" \
             "print(json.dumps({'result': result, 'rss_mb': rss / 1024}))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["result"], data["rss_mb"]


def bare_wikidata(path):
    return measure(f"""
import gzip, orjson
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
n = stats['counts']['items_kept'] + sum(stats['skipped'].get(k, 0) for k in ('no_sitelink_in_languages',)) + stats['counts'].get('properties', 0)
result = n / (time.perf_counter() - t)""")


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
result = [c['pages'] / dt, (c.get('mentions_resolved', 0) + c.get('mentions_unresolved', 0)) / dt]""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=20000)
    parser.add_argument("--pages", type=int, default=5000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="xlmk_prep_bench_")
    small, large = os.path.join(tmp, "wd1.json.gz"), os.path.join(tmp, "wd10.json.gz")
    write_wikidata(small, args.entities)
    write_wikidata(large, 10 * args.entities)
    print(f"# wikidata: {args.entities} entities ({os.path.getsize(small) / 1e6:.1f} MB gz) and 10x")
    bare, _ = bare_wikidata(small)
    one, rss1 = ours_wikidata(small, os.path.join(tmp, "w1"), 1)
    two, _ = ours_wikidata(small, os.path.join(tmp, "w2"), 2)
    _, rss10 = ours_wikidata(large, os.path.join(tmp, "w3"), 1)
    print("| measurement | value |\n|---|---|")
    print(f"| bare gzip + orjson.loads | {bare:.0f} entities/s |")
    print(f"| wikidata step, 1 worker | {one:.0f} entities/s ({one / bare:.2f}x bare) |")
    print(f"| wikidata step, 2 workers | {two:.0f} entities/s ({two / one:.2f}x one worker) |")
    print(f"| peak RSS at N / 10N entities | {rss1:.0f} MB / {rss10:.0f} MB ({rss10 / rss1:.2f}x) |")

    # the wikipedia step resolves links through the wikidata step's sitelinks
    wiki_small, wiki_large = os.path.join(tmp, "en1.xml"), os.path.join(tmp, "en10.xml")
    write_wikipedia(wiki_small, args.pages)
    write_wikipedia(wiki_large, 10 * args.pages)
    print(f"# wikipedia: {args.pages} pages ({os.path.getsize(wiki_small) / 1e6:.1f} MB) and 10x")
    bare_p, _ = bare_wikipedia(wiki_small)
    (p1, l1), rssp1 = ours_wikipedia(wiki_small, os.path.join(tmp, "w1"), 1)
    (p2, l2), _ = ours_wikipedia(wiki_small, os.path.join(tmp, "w2"), 2)
    _, rssp10 = ours_wikipedia(wiki_large, os.path.join(tmp, "w3"), 1)
    print(f"| bare iterparse | {bare_p:.0f} pages/s |")
    print(f"| wikipedia step, 1 worker | {p1:.0f} pages/s, {l1:.0f} links/s ({p1 / bare_p:.3f}x bare) |")
    print(f"| wikipedia step, 2 workers | {p2:.0f} pages/s, {l2:.0f} links/s ({p2 / p1:.2f}x one worker) |")
    print(f"| peak RSS at N / 10N pages | {rssp1:.0f} MB / {rssp10:.0f} MB ({rssp10 / rssp1:.2f}x) |")
    per_core_entities, per_core_pages = one, p1
    print("# extrapolated on 16 cores, from the 1-worker rates (assuming linear scaling):")
    print(f"#   Wikidata, 110M entities: {110e6 / (16 * per_core_entities) / 3600:.1f} h")
    print(f"#   English Wikipedia, 7M articles: {7e6 / (16 * per_core_pages) / 3600:.1f} h")


if __name__ == "__main__":
    main()
