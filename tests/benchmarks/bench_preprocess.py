"""Preprocessing throughput and memory on synthetic dumps in the real formats.

Wikidata: entities/s of `xlmk-preprocess wikidata` with 1 worker against a bare decompress +
orjson.loads loop over the same file; 2 workers against 1 on the 10 N dump (the longer run is
the nearer to a real dump's hours: start-up and the final merge weigh less), alternating runs;
peak RSS at N and 10 N entities.
Wikipedia: articles/s, MB/s of article wikitext and links/s (1 and 2 workers) against a bare
ElementTree iterparse pass, on pages of realistic size and markup (synthetic_article); the
final link resolution's share; peak RSS at N and 10 N pages.
Decompression: MB/s of each gzip and bzip2 reader (isal, zlib, rapidgzip, indexed_bzip2 when
installed) and the wikidata step's entities/s with each gzip reader, on 2 cores.
Each measurement runs in its own process (peak RSS is that process's, workers included); it
runs on as many CPU cores as it has workers (the baselines on one), so "per worker" means per
core. Ends with an extrapolation to full dumps on 16 cores, from MB/s and the dumps' volumes.
docs/preprocessing-throughput.md has the figures and where the size model comes from.

    python tests/benchmarks/bench_preprocess.py [--entities 10000] [--pages 1000] [--rounds 3]
        [--only wikidata|wikipedia|decompression]
"""

import argparse
import bz2
import gzip
import importlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dump_fixtures import multistream_bz2, page, prop, wikipedia_dump_text  # noqa: E402
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


# --- synthetic Wikipedia pages (docs/preprocessing-throughput.md, "The synthetic pages") ---

# Article wikitext sizes: log-normal with mean ARTICLE_MEAN_BYTES and sigma ARTICLE_SIGMA,
# clipped. The mean is English Wikipedia's article wikitext (~56 GB, estimated from public dump
# sizes) over its 7.0M articles; sigma is the spread published for 2002 (mean 2.0 kB, median
# 1.0 kB, sd 4.1 kB) and the real excerpt's (1.32). The markup rates below are the real
# excerpt's (preprocess/sample/real/enwiki-excerpt-pages-articles.xml.bz2), per kB of wikitext.
ARTICLE_MEAN_BYTES = 8000
ARTICLE_SIGMA = 1.25
ARTICLE_MIN_BYTES, ARTICLE_MAX_BYTES = 200, 400_000
REDIRECT_SHARE = 0.5  # of the main-namespace pages, as in the excerpt (100 of 206)

WORDS = ("the of and in to a was is for as on by with that from at his an were which are it its "
         "be has had also first their this or after one two new other been they but into during "
         "city state world war year years time later most national over between known used may "
         "river government century area south north west east population school university "
         "history early system people such where species film album team season number "
         "including series company part under until three major several while district "
         "member played born family work local main group since based public language water "
         "music church house force power light surface energy record release station line "
         "around however against called form often large small high long").split()


def _words(rng, k):
    return " ".join(rng.choices(WORDS, k=k))


def _title(rng):
    return " ".join(w.capitalize() for w in rng.choices(WORDS, k=rng.randint(1, 3)))


def _date(rng):
    month = rng.choice(["January", "March", "June", "August", "October"])
    return f"{rng.randint(1, 28)} {month} {rng.randint(1990, 2024)}"


def _link(rng, n):
    """[[Entity j]]: piped in 40 %, with a link trail in 5 %."""
    target = f"Entity {rng.randrange(n)}"
    r = rng.random()
    if r < 0.4:
        return f"[[{target}|{_words(rng, rng.randint(1, 3))}]]"
    return f"[[{target}]]s" if r < 0.45 else f"[[{target}]]"


def _cite(rng):
    """A {{cite ...}} template of the size real ones have (150-300 B)."""
    r = rng.random()
    if r < 0.4:
        return (f"{{{{cite web |url=http://www.{rng.choice(WORDS)}.org/{rng.getrandbits(40):x}/{rng.choice(WORDS)}.html"
                f" |title={_title(rng)} {_words(rng, 4)} |last={_title(rng)} |first={_title(rng)}"
                f" |publisher={_title(rng)} |date={_date(rng)} |accessdate={_date(rng)}}}}}")
    if r < 0.7:
        return (f"{{{{cite book |last={_title(rng)} |first={_title(rng)} |year={rng.randint(1900, 2024)}"
                f" |title={_title(rng)} {_words(rng, 5)} |publisher={_title(rng)} |location={_title(rng)}"
                f" |isbn=978-{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}"
                f"-{rng.randint(0, 9)}"
                f" |page={rng.randint(1, 900)}}}}}")
    return (f"{{{{cite journal |last1={_title(rng)} |first1={rng.choice('ABCDEFGH')}. |last2={_title(rng)}"
            f" |first2={rng.choice('ABCDEFGH')}. |date={rng.randint(1950, 2024)}"
            f" |title={_title(rng)} {_words(rng, 6)} |journal={_title(rng)} |volume={rng.randint(1, 400)}"
            f" |issue={rng.randint(1, 12)} |pages={rng.randint(1, 500)}\u2013{rng.randint(501, 900)}"
            f" |doi=10.{rng.randint(1000, 9999)}/{rng.getrandbits(32):x} |pmid={rng.randint(10**6, 10**8)}}}}}")


def _ref(rng, names):
    """A <ref>: a named one used again (20 %), plain text (10 %), else a new cite (a third named)."""
    r = rng.random()
    if r < 0.2 and names:
        return f'<ref name="{rng.choice(names)}" />'
    if r < 0.3:
        return f"<ref>{_title(rng)}, {_words(rng, 6)}, {rng.randint(1900, 2024)}, p. {rng.randint(1, 400)}</ref>"
    if rng.random() < 0.33:
        names.append(f"r{len(names)}")
        return f'<ref name="{names[-1]}">{_cite(rng)}</ref>'
    return f"<ref>{_cite(rng)}</ref>"


INLINE_TEMPLATES = ("{{{{convert|{a}|km|mi}}}}", "{{{{citation needed|date={d}}}}}", "{{{{lang|fr|{w}}}}}",
                    "{{{{nowrap|{a} {w}}}}}", "{{{{IPA-en|{w}}}}}")


def _sentence(rng, n, names):
    """8-25 words with links, italics, inline templates, entities and refs."""
    out = []
    for _ in range(rng.randint(8, 30)):
        r = rng.random()
        if r < 0.042:
            out.append(_link(rng, n))
        elif r < 0.055:
            quote = rng.choice(["''", "''", "'''"])
            out.append(f"{quote}{_words(rng, rng.randint(1, 8))}{quote}")
        elif r < 0.062:
            out.append(rng.choice(INLINE_TEMPLATES).format(a=rng.randint(1, 999), d=_date(rng), w=_words(rng, 2)))
        elif r < 0.064:
            out.append(f"{rng.randint(1, 99)}&nbsp;{rng.choice(['km', 'kg', '%'])}")
        else:
            out.append(rng.choice(WORDS))
    text = " ".join(out)
    text = text[0].upper() + text[1:] + "."
    if rng.random() < 0.3:
        text += _ref(rng, names)
    return text


def _paragraph(rng, n, names, sentences=(2, 6)):
    return " ".join(_sentence(rng, n, names) for _ in range(rng.randint(*sentences)))


def _table(rng, n, names):
    """A wikitable of 2-6 kB: a header, rows of cells with links and some refs."""
    rows = ['{| class="wikitable sortable"', f"|+ {_title(rng)}", "|-",
            "! " + " !! ".join(_title(rng) for _ in range(4))]
    for _ in range(rng.randint(20, 60)):
        ref = _ref(rng, names) if rng.random() < 0.2 else ""
        rows += ["|-", f"| {_link(rng, n)} || {rng.randint(1, 9999)} || {_words(rng, 3)} || "
                       f"{rng.randint(1, 99)}.{rng.randint(0, 9)}{ref}"]
    return "\n".join(rows + ["|}"])


def _file(rng, n):
    name = _title(rng).replace(" ", "_")
    option = rng.choice(["", "upright|", "left|"])
    caption = _words(rng, rng.randint(4, 12)).capitalize()
    return f"[[File:{name} {rng.randint(1, 999)}.jpg|thumb|{option}{caption} {_link(rng, n)} {_words(rng, 3)}.]]"


def _infobox(rng, n):
    fields = [f"| name = {_title(rng)}", f"| image = {_title(rng)}.jpg"]
    for _ in range(rng.randint(6, 22)):
        value = _link(rng, n) if rng.random() < 0.4 else _words(rng, rng.randint(1, 4))
        fields.append(f"| {rng.choice(WORDS)}_{rng.choice(WORDS)} = {value}")
    return "{{Infobox " + rng.choice(WORDS) + "\n" + "\n".join(fields) + "\n}}"


def synthetic_article(rng, size, n):
    """Wikitext of about ``size`` bytes shaped like a real article: hatnote templates and an
    infobox, a bold lead, sections of paragraphs with links, refs and inline templates,
    files, lists, tables in long articles, the odd comment, references, external links, a
    navbox and categories. Link targets are "Entity j" (j < n), the synthetic items' titles."""
    names = []
    head = [f"{{{{Short description|{_words(rng, 4)}}}}}"]
    if size > 6000:
        head.append(f"{{{{Use dmy dates|date={_date(rng).split(' ', 1)[1]}}}}}")
    if size > 1500 and rng.random() < 0.7:
        head.append(_infobox(rng, n))
    foot = ["== References ==", "{{Reflist}}"]
    if size > 20000:
        foot += ["", "== Further reading =="] + [f"* {_cite(rng)}" for _ in range(size // 15000)]
    if size > 3000:
        foot += ["", "== External links =="]
        foot += [f"* [http://www.{rng.choice(WORDS)}.org/{rng.getrandbits(32):x} {_title(rng)} {_words(rng, 3)}]"
                 for _ in range(max(1, size // 12000))]
        foot += ["", "{{" + _title(rng) + " navbox}}"]
    foot.append("")
    foot += [f"[[Category:{_title(rng)}]]" for _ in range(rng.randint(2, 4 + size // 10000))]
    body = ["'''" + _title(rng) + "''' " + _paragraph(rng, n, names, (1, 2) if size < 1500 else (2, 6))]
    budget = size - sum(len(x) + 1 for x in head + foot)
    length = len(body[0])
    while length < budget:
        r = rng.random()
        if r < 0.17:
            level = "=" * rng.choice([2, 2, 3])
            part = f"{level} {_title(rng)} {level}"
            if rng.random() < 0.25:
                part += f"\n{{{{Main|Entity {rng.randrange(n)}}}}}"
        elif r < 0.28:
            part = _file(rng, n)
        elif r < 0.33:
            part = "\n".join(f"* {_link(rng, n)} {_words(rng, rng.randint(2, 10))}" for _ in range(rng.randint(3, 8)))
        elif r < 0.34 and length > 10000:
            part = _table(rng, n, names)
        elif r < 0.99:
            part = _paragraph(rng, n, names)
        else:
            part = f"<!-- {_words(rng, rng.randint(10, 30))} -->"
        if length + len(part) > budget and length + len(part) / 2 > budget:
            break  # closer to the size without it
        body.append(part)
        length += len(part) + 2
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n\n" + "\n".join(foot)


def article_size(rng):
    """One draw of an article's wikitext size in bytes (ARTICLE_MEAN_BYTES, ARTICLE_SIGMA)."""
    mu = math.log(ARTICLE_MEAN_BYTES) - ARTICLE_SIGMA ** 2 / 2
    return int(min(max(rng.lognormvariate(mu, ARTICLE_SIGMA), ARTICLE_MIN_BYTES), ARTICLE_MAX_BYTES))


def write_wikipedia(path, n, seed=0):
    """n main-namespace pages, articles of realistic size and markup (synthetic_article) and
    redirects (REDIRECT_SHARE). Returns the articles' wikitext bytes."""
    rng = random.Random(seed)
    pages, volume = [], 0
    for i in range(n):
        if rng.random() < REDIRECT_SHARE:
            target = f"Entity {rng.randrange(n)}"
            pages.append(page(f"Alias {i}", f"#REDIRECT [[{target}]]", redirect=target, page_id=i + 1))
            continue
        text = synthetic_article(rng, article_size(rng), n)
        volume += len(text.encode("utf-8"))
        pages.append(page(f"Entity {i}", text, page_id=i + 1))
    with open(path, "w", encoding="utf-8") as f:
        f.write(wikipedia_dump_text("en", pages))
    return volume


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


def reader_seconds(path, reader="shards.dump_chunks"):
    """Seconds of the reader process's part alone (``reader``: decompressing; for the
    wikipedia step also the XML parse): what one process delivers at most, whatever its
    number of workers."""
    result, _ = measure(f"""
from preprocess import shards, wikipedia
t = time.perf_counter()
for _ in {reader}({path!r}):
    pass
result = time.perf_counter() - t""")
    return result


def recompress_bz2(path, out):
    """The same dump as a .bz2 file of one stream."""
    with open_dump(path) as src, bz2.open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    return out


EXCERPT = os.path.join(REPO, "preprocess", "sample", "real", "enwiki-excerpt-pages-articles.xml.bz2")


def real_excerpt_xml(out, repeat=1):
    """The real English excerpt decompressed, its pages repeated ``repeat`` times (same ids
    and titles): real text, which compresses as real dumps do (the synthetic pages' small
    vocabulary compresses about twice as well)."""
    text = bz2.open(EXCERPT, "rb").read()
    start, end = text.index(b"<page>"), text.rindex(b"</mediawiki>")
    start = text.rindex(b"\n", 0, start) + 1
    with open(out, "wb") as f:
        f.write(text[:start])
        for _ in range(repeat):
            f.write(text[start:end])
        f.write(text[end:])
    return out


def multistream_bz2_file(xml_path, out, pages_per_stream=100):
    """The dump as Wikimedia's *-multistream.xml.bz2 writes it: 100 pages per bz2 stream."""
    with open(xml_path, encoding="utf-8") as f:
        data = multistream_bz2(f.read(), pages_per_stream)
    with open(out, "wb") as f:
        f.write(data)
    return out


def bare_wikipedia(path):
    """Seconds of a bare ElementTree iterparse of the dump."""
    return measure(f"""
import xml.etree.ElementTree as ET
t = time.perf_counter()
for ev, el in ET.iterparse({path!r}):
    if el.tag.endswith('}}page'):
        el.clear()
result = time.perf_counter() - t""")


def ours_wikipedia(path, work, workers, parser=None):
    """[articles, links, seconds] of the wikipedia step with ``workers`` (and ``parser``,
    else the step's default); peak RSS."""
    kwargs = f", parser={parser!r}" if parser else ""
    return measure(f"""
from preprocess import wikipedia
t = time.perf_counter()
stats = wikipedia.run({path!r}, 'en', {work!r}, workers={workers}{kwargs})
c = stats['counts']
result = [c['pages'], c.get('mentions_resolved', 0) + c.get('mentions_unresolved', 0), time.perf_counter() - t]""",
                   cores=workers)


def merge_seconds(path, work, count=2, parser=None):
    """Seconds of ``merge`` after ``count`` shards: resolving every link and title to a QID
    and writing pages.jsonl, in one process (also the end of an unsharded run)."""
    kwargs = f", parser={parser!r}" if parser else ""
    result, _ = measure(f"""
from preprocess import wikipedia
for i in range({count}):
    wikipedia.run({path!r}, 'en', {work!r}, shard=(i, {count}){kwargs})
t = time.perf_counter()
wikipedia.merge({work!r}, 'en', {count})
result = time.perf_counter() - t""")
    return result


# --- decompression: the readers compared (docs/preprocessing-throughput.md, "Decompression") ---

def _module(name):
    return importlib.import_module(name)


GZIP_READERS = {  # name: (the module it needs, a function opening path p)
    "gzip (zlib)": ("gzip", lambda p: gzip.open(p, "rb")),
    "isal igzip (open_dump's)": ("isal", lambda p: _module("isal.igzip").open(p, "rb")),
    "rapidgzip, 1 thread": ("rapidgzip", lambda p: _module("rapidgzip").open(p, parallelization=1)),
    "rapidgzip, 2 threads": ("rapidgzip", lambda p: _module("rapidgzip").open(p, parallelization=2)),
}
BZ2_READERS = {
    "bz2 (open_dump's)": ("bz2", lambda p: bz2.open(p, "rb")),
    "BZ2Decompressor per stream (a shard's)": ("bz2", lambda p: _ShardStreams(p)),
    "indexed_bzip2, 1 thread": ("indexed_bzip2", lambda p: _module("indexed_bzip2").open(p, parallelization=1)),
    "indexed_bzip2, 2 threads": ("indexed_bzip2", lambda p: _module("indexed_bzip2").open(p, parallelization=2)),
    "rapidgzip's bzip2, 1 thread": ("rapidgzip", lambda p: _module("rapidgzip").IndexedBzip2File(p, parallelization=1)),
    "rapidgzip's bzip2, 2 threads": ("rapidgzip",
                                     lambda p: _module("rapidgzip").IndexedBzip2File(p, parallelization=2)),
}


class _ShardStreams:
    """What a shard of a multistream dump runs (shards.decompress_streams over its byte
    range, here the whole file), behind a read() like the others'."""

    def __init__(self, path):
        from preprocess import shards
        self.chunks = shards.decompress_streams(shards.read_range(path, 0, os.path.getsize(path)), path)

    def read(self, size):
        return next(self.chunks, b"")

    def close(self):
        pass


def installed(readers):
    """The readers whose module imports here (rapidgzip and indexed_bzip2 are optional)."""
    out = {}
    for name, (module, open_) in readers.items():
        try:
            _module(module)
        except ImportError:
            continue
        out[name] = open_
    return out


def drain_rates(path, readers, rounds):
    """MB/s of decompressed output of each reader over ``path``, alternating in rounds."""
    rates = {name: [] for name in readers}
    for r in range(rounds):
        for name, open_ in readers.items():
            t, n = time.perf_counter(), 0
            f = open_(path)
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                n += len(block)
            f.close()
            rates[name].append(n / 1e6 / (time.perf_counter() - t))
    return rates


def wikidata_rates(path, work, readers, rounds, worker_counts=(1, 2)):
    """Entities/s of the whole wikidata step with each gzip reader put in open_dump's place,
    1 and 2 workers, alternating in rounds."""
    from preprocess import shards, wikidata as step

    rates = {}
    for r in range(rounds):
        for name, open_ in readers.items():
            for workers in worker_counts:
                shards.open_dump = open_
                shutil.rmtree(work, ignore_errors=True)
                t = time.perf_counter()
                stats = step.run(path, LANGS, work, workers=workers)
                rates.setdefault(f"{name}, {workers} worker{'s' if workers > 1 else ''}", []).append(
                    stats["counts"]["entities"] / (time.perf_counter() - t))
    return rates


def in_bench(call, cores):
    """``call`` (an expression over this module, ``b``) in a fresh interpreter on ``cores`` cores."""
    result, _ = measure(f"sys.path.insert(0, {HERE!r})\nimport bench_preprocess as b\n"
                        f"sys.stderr = open(os.devnull, 'w')\nresult = {call}", cores=cores)
    return result


def print_rates(title, rates, unit, reference):
    print(f"| {title} | {unit}, median (min-max) | vs {reference} |")
    print("|---|---|---|")
    ref = rates[reference]
    for name, values in rates.items():
        ratio = statistics.median(v / r for v, r in zip(values, ref)) if len(ref) == len(values) else float("nan")
        print(f"| {name} | {statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f}) | {ratio:.2f}x |")


def bench_decompression(args, tmp):
    """Decompression MB/s of each reader on 2 cores (a synthetic Wikidata .json.gz; the real
    excerpt, repeated, as a multistream pages-articles .xml.bz2), and the wikidata step's
    entities/s with each gzip reader."""
    gz = os.path.join(tmp, "dec.json.gz")
    write_wikidata(gz, args.entities, 0.08)
    ms = multistream_bz2_file(real_excerpt_xml(os.path.join(tmp, "dec.xml"), 4), os.path.join(tmp, "dec.xml.bz2"))
    print(f"# decompression on 2 cores, {args.rounds} alternating rounds, {time.strftime('%Y-%m-%d')}: "
          f"{os.path.getsize(gz) / 1e6:.1f} MB .json.gz (synthetic), {os.path.getsize(ms) / 1e6:.1f} MB multistream "
          f".xml.bz2 (the real excerpt 4 times, 100 pages per stream)")
    print_rates("gzip reader, Wikidata JSON", in_bench(f"b.drain_rates({gz!r}, b.installed(b.GZIP_READERS), "
                                                       f"{args.rounds})", 2), "MB/s out", "isal igzip (open_dump's)")
    print()
    print_rates("bzip2 reader, multistream XML", in_bench(f"b.drain_rates({ms!r}, b.installed(b.BZ2_READERS), "
                                                          f"{args.rounds})", 2), "MB/s out", "bz2 (open_dump's)")
    print()
    rates = in_bench(f"b.wikidata_rates({gz!r}, {os.path.join(tmp, 'wd')!r}, b.installed(b.GZIP_READERS), "
                     f"{args.rounds})", 2)
    print_rates("wikidata step with this gzip reader", rates, "entities/s", "isal igzip (open_dump's), 1 worker")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=10000)
    parser.add_argument("--pages", type=int, default=1000, help="wikipedia: main-namespace pages (~half articles)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="wikidata: 2-worker runs, each between two 1-worker runs; decompression: rounds")
    parser.add_argument("--only", choices=["wikidata", "wikipedia", "decompression"], help="measure one part only")
    parser.add_argument("--parser", help="wikipedia: the wikitext parser (wikipedia.run's parser=), else its default")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="xlmk_prep_bench_")
    try:
        run_benchmarks(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# English Wikipedia, for the full-dump estimate (docs/preprocessing-throughput.md, "Full dumps"):
ENWIKI_ARTICLES = 7.03e6  # Wikipedia:Size of Wikipedia, 26 July 2025
ENWIKI_ARTICLE_GB = (44, 56, 66)  # article wikitext, low / central / high estimate (not published)
ENWIKI_XML_GB = 109  # the pages-articles XML, decompressed: 24.05 GB of bz2 (Oct 2024) x 4.5 (86 GB / 19 GB)
WIKIDATA_ENTITIES = 110e6


def run_benchmarks(args, tmp):
    """The tables, then hours for full dumps on 16 cores (the model: print_enwiki_estimate)."""
    if args.only in (None, "wikidata"):
        wd = bench_wikidata(args, tmp)
        print(f"# Wikidata, 110M entities (realistic mix), 16 cores: one process on the .gz, 16 workers: "
              f">= {hours(WIKIDATA_ENTITIES, min(16 * wd['one'], wd['reader']))} h (its reader's inflating alone: "
              f"{wd['reader']:.0f} ent/s; the workers alone: {hours(WIKIDATA_ENTITIES, 16 * wd['one'])} h); "
              f"16 shards of the .bz2: {hours(WIKIDATA_ENTITIES, 16 * wd['bz2_shard'])} h "
              f"({wd['bz2_shard']:.0f} ent/s per shard)")
    if args.only in (None, "wikipedia"):
        wp = bench_wikipedia(args, tmp)
        print_enwiki_estimate(wp)
    if args.only in (None, "decompression"):
        bench_decompression(args, tmp)


def print_enwiki_estimate(wp):
    """Hours for English Wikipedia on 16 cores, from MB/s and the dump's volumes.

    parse: article MB/s of one worker without the final link resolution; finish: article MB/s
    of that resolution (one process, after the parallel part, in both modes); reader: MB/s of
    XML that one process decompresses and parses. One process with 16 workers takes
    max(articles / 16 parse, XML / reader) + articles / finish; 16 shards take
    XML / 16 reader + articles / 16 parse (each shard does both in turn) + articles / finish.
    """
    low, mid, high = (gb * 1e3 for gb in ENWIKI_ARTICLE_GB)
    xml = ENWIKI_XML_GB * 1e3

    def one_process(art):
        return (max(art / (16 * wp["parse"]), xml / wp["reader"]) + art / wp["finish"]) / 3600

    def shards(art):
        return (xml / 16 / wp["reader"] + art / 16 / wp["parse"] + art / wp["finish"]) / 3600

    print(f"# English Wikipedia, {ENWIKI_ARTICLES / 1e6:.2f}M articles, {mid / 1e3:.0f} GB of article wikitext "
          f"({low / 1e3:.0f}-{high / 1e3:.0f}), {ENWIKI_XML_GB} GB of XML, 16 cores: "
          f"one process on the .bz2, 16 workers: {one_process(mid):.1f} h "
          f"({one_process(low):.1f}-{one_process(high):.1f}); "
          f"16 shards of the multistream .bz2: {shards(mid):.1f} h ({shards(low):.1f}-{shards(high):.1f}). "
          f"Parse {wp['parse']:.2f} MB/s per worker (16 workers: {mid / 16 / wp['parse'] / 3600:.1f} h), "
          f"reader {wp['reader']:.1f} MB/s of XML ({xml / wp['reader'] / 3600:.1f} h), "
          f"finish {wp['finish']:.2f} MB/s in one process ({mid / wp['finish'] / 3600:.1f} h)")


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
            bz2_dump = recompress_bz2(small, small + ".bz2")
            estimate = {"one": one, "reader": (args.entities + 1) / reader_seconds(small),
                        "bz2_shard": ours_wikidata(bz2_dump, os.path.join(tmp, "wb"), 1)[0]}
    return estimate


def bench_wikipedia(args, tmp):
    """Prints the wikipedia table (articles/s and MB/s of article wikitext per worker);
    returns the MB/s for the 16-core estimate: parse (1 worker, without the final link
    resolution), finish (that resolution), reader (MB/s of XML, the real excerpt as a
    multistream .bz2)."""
    # the wikipedia step resolves links through the wikidata step's sitelinks: items "Entity i",
    # about half with an English article
    items = os.path.join(tmp, "wd_links.json.gz")
    write_wikidata(items, args.pages, kept_share=1.0)
    wikidata.run(items, LANGS, os.path.join(tmp, "p1"))
    for work in ("p2", "p3", "p4"):
        shutil.copytree(os.path.join(tmp, "p1", "wikidata"), os.path.join(tmp, work, "wikidata"))
    small, large = os.path.join(tmp, "en1.xml"), os.path.join(tmp, "en10.xml")
    volume = write_wikipedia(small, args.pages) / 1e6
    write_wikipedia(large, 10 * args.pages, seed=1)
    print(f"# wikipedia: {args.pages} pages, {volume:.1f} MB of article wikitext "
          f"({os.path.getsize(small) / 1e6:.1f} MB of XML), and 10x; parser: {args.parser or 'the default'}; "
          f"{time.strftime('%Y-%m-%d')}")
    bare = bare_wikipedia(small)[0]
    (articles, links, t1), rss1 = ours_wikipedia(small, os.path.join(tmp, "p1"), 1, args.parser)
    (_, _, t2), _ = ours_wikipedia(small, os.path.join(tmp, "p2"), 2, args.parser)
    _, rss10 = ours_wikipedia(large, os.path.join(tmp, "p3"), 1, args.parser)
    finish = merge_seconds(small, os.path.join(tmp, "p4"), parser=args.parser)
    print("| wikipedia step | articles/s | MB/s of article wikitext | links/s | against |")
    print("|---|---|---|---|---|")
    print(f"| bare iterparse | {articles / bare:.0f} | {volume / bare:.1f} | | |")
    print(f"| 1 worker | {articles / t1:.1f} | {volume / t1:.2f} | {links / t1:.0f} | {bare / t1:.3f}x bare |")
    print(f"| 2 workers | {articles / t2:.1f} | {volume / t2:.2f} | {links / t2:.0f} | {t1 / t2:.2f}x one worker |")
    print(f"| of which the final link resolution (merge), one process | {articles / finish:.0f} "
          f"| {volume / finish:.1f} | {links / finish:.0f} | {finish / t1:.2f} of a 1-worker run |")
    print(f"| peak RSS at N / 10N pages | {rss1:.0f} MB / {rss10:.0f} MB ({rss10 / rss1:.2f}x) | | | |")
    real = real_excerpt_xml(os.path.join(tmp, "real.xml"), 4)
    seconds = reader_seconds(multistream_bz2_file(real, real + ".bz2"), "wikipedia.iter_dump")
    reader = os.path.getsize(real) / 1e6 / seconds
    print(f"| reader alone (bz2 + XML) on the real excerpt x4, multistream .bz2 | | {reader:.1f} MB/s of XML | | |")
    return {"parse": volume / max(t1 - finish, 1e-9), "finish": volume / finish, "reader": reader}


if __name__ == "__main__":
    main()
