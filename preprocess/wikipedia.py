"""Wikipedia pages-articles XML dump -> plain text per page with links resolved to QIDs.

Streams the dump (plain, .bz2 or .gz; export schema 0.8 to 0.11; UTF-8 or UTF-16 with a
byte-order mark), keeps namespace 0, takes redirects from the <redirect title=...> element,
converts wikitext in worker processes, and resolves every link target: cut #section,
underscores to spaces, first letter upper-cased on first-letter wikis, follow redirects
(loops guarded), then title -> QID through the Wikidata sitelinks. Outputs, in
``WORK/wikipedia/<lang>/`` (written under a temporary name, renamed when complete):

    pages.jsonl   {"id", "title", "qid" (or null), "text", "links": [[start, end, qid], ...]}
    stats.json    pages, redirects, mentions resolved / unresolved, skipped by reason, input,
                  and the wikitext parser that read the pages (preprocess/wikitext.py PARSERS)

With ``--shard I/N`` the reading part (wikitext conversion, redirects) writes
``WORK/wikipedia.shards/<lang>/I-of-N/``; ``merge`` concatenates the shards in order and
resolves the links with every shard's redirects, exactly as an unsharded run does (shards
read with different parsers are refused). A
multistream dump is cut at stream starts, taken from its index
(``*-multistream-index.txt.bz2``, given or found next to the dump) when there is one.
"""

import codecs
import collections
import contextlib
import json
import os
import sqlite3
import xml.etree.ElementTree as ET

import orjson
from tqdm import tqdm

from .dump_io import DumpError, atomic_dir, fingerprints_in_background, open_dump, read_chunks, write_json
from .parallel import ordered_map
from .shards import (concatenate, decompress_streams, finished_shards, index_stream_offsets, merged_stats,
                     read_range, shard_chunks)
from .shards import kind as shard_kind
from .wikitext import PARSERS, make_converter

MAX_REDIRECT_HOPS = 20
CHUNK_PAGES = 64


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _child(elem, name):
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def iter_dump(path, invalid=None, shard=(0, 1), stream_offsets=None):
    """Yield ("siteinfo", {...}) once, then ("page", {...}) per page.

    The bytes are decoded here, not by the XML parser, so that an invalid UTF-8 sequence
    becomes U+FFFD and is counted in ``invalid[0]`` instead of stopping the whole dump.
    """
    invalid = invalid if invalid is not None else [0]
    parser = ET.XMLPullParser(events=("start", "end"))
    root, depth = None, 0  # only the root's children are pages (a <page> inside one is not)
    try:
        with contextlib.ExitStack() as stack:
            if shard[1] == 1:
                chunks = read_chunks(stack.enter_context(open_dump(path)), path)
            else:
                chunks = _shard_bytes(path, *shard, stream_offsets)
            for text in _decoded(chunks, invalid):
                parser.feed(text)
                for event, elem in parser.read_events():
                    name = _local(elem.tag)
                    if event == "start":
                        depth += 1
                        if root is None:
                            if name != "mediawiki":
                                raise DumpError(f"{path}: not a MediaWiki XML dump (root element <{name}>)")
                            root = elem
                        continue
                    depth -= 1
                    if depth != 1:
                        continue
                    if name == "siteinfo":
                        yield "siteinfo", _siteinfo(elem)
                    elif name == "page":
                        yield "page", _page(elem)
                    root.remove(elem)
            if shard[1] == 1:
                parser.close()  # a shard other than the last one ends inside <mediawiki>
    except ET.ParseError as e:
        raise DumpError(f"{path}: not a well-formed MediaWiki XML dump ({e})") from None
    if root is None:
        raise DumpError(f"{path}: not a MediaWiki XML dump")


def _shard_bytes(path, index, count, stream_offsets):
    """The dump's header (up to the first <page>) and then the pages of shard ``index``."""
    body = shard_chunks(path, index, count, boundary=b"<page>", lines=False, stream_offsets=stream_offsets)
    if index == 0:
        yield from body
        return
    yield _header(path)
    pending = b""
    for chunk in body:  # drop what precedes the shard's first <page>
        pending += chunk
        at = pending.find(b"<page>")
        if at >= 0:
            yield pending[at:]
            break
    yield from body


def _header(path):
    chunks = (read_range(path, 0, os.path.getsize(path)) if shard_kind(path) == "plain" else
              decompress_streams(read_range(path, 0, os.path.getsize(path)), path))
    head = b""
    for chunk in chunks:
        head += chunk
        at = head.find(b"<page>")
        if at >= 0:
            return head[:at]
    return head


def _decoded(chunks, invalid):
    """Bytes -> str: UTF-16 (``_encoding``), else UTF-8 (BOM dropped); an XML
    declaration is dropped since the parser then receives text, not bytes."""
    decoder = None
    head = b""
    for chunk in chunks:
        if decoder is None:
            head += chunk
            if len(head) < 4:
                continue
            chunk, head = head, b""
            encoding = _encoding(chunk[:4])
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            text = decoder.decode(chunk)
            if text.startswith("<?xml"):
                text = text[text.index("?>") + 2:]
        else:
            text = decoder.decode(chunk)
        invalid[0] += text.count("\ufffd")
        yield text
    if decoder is None and head:
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        yield decoder.decode(head, final=True)
    elif decoder is not None:
        yield decoder.decode(b"", final=True)


def _encoding(head):
    """UTF-16 by its byte-order mark, or without one by its byte pattern: the first two
    characters of an XML document are ASCII ('<', white space), so every other byte is NUL;
    else UTF-8. ``head``: the file's first 4 bytes."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if head[1::2] == b"\0\0" and all(head[0::2]):
        return "utf-16-le"
    if head[0::2] == b"\0\0" and all(head[1::2]):
        return "utf-16-be"
    return "utf-8-sig"


def _siteinfo(elem):
    namespaces = {}
    spaces = _child(elem, "namespaces")
    for ns in spaces if spaces is not None else []:
        try:
            namespaces[int(ns.get("key"))] = (ns.text or "").strip()
        except (TypeError, ValueError):
            continue
    case = _child(elem, "case")
    dbname = _child(elem, "dbname")
    return {"namespaces": namespaces, "case": (case.text or "first-letter") if case is not None else "first-letter",
            "dbname": dbname.text if dbname is not None else None}


def _page(elem):
    title, ns, ident, redirect, text = None, None, None, None, None
    for child in elem:
        name = _local(child.tag)
        if name == "title":
            title = child.text
        elif name == "ns":
            ns = child.text
        elif name == "id":
            ident = child.text
        elif name == "redirect":
            redirect = child.get("title")
        elif name == "revision":
            node = _child(child, "text")
            if node is not None:
                text = node.text  # the last <revision> wins, as in a full-history dump
    return {"title": title, "ns": ns, "id": ident, "redirect": redirect, "text": text}


def normalize_title(title, first_letter):
    title = title.split("#", 1)[0].replace("_", " ")
    title = " ".join(title.split())
    if first_letter and title:
        title = title[0].upper() + title[1:]
    return title


_converter = None


def _init_worker(namespaces, parser):
    global _converter
    _converter = make_converter(parser, namespaces)


def _convert_chunk(pages):
    out = []
    for page in pages:
        try:
            text, links = _converter.convert(page["text"])
        except Exception as e:  # a parser failure on one page is counted, not fatal
            out.append((page, None, repr(e)))
            continue
        out.append((page, text, [(l.start, l.end, l.target) for l in links]))
    return out


class _Resolver:
    """Title -> QID through redirects and sitelinks, all in sqlite (no Python dicts)."""

    def __init__(self, sitelinks_db, redirects_db, lang, first_letter):
        self.sitelinks, self.redirects = sitelinks_db, redirects_db
        self.lang, self.first_letter = lang, first_letter
        self.loops = 0

    def qid(self, raw_title):
        title = normalize_title(raw_title, self.first_letter)
        seen = set()
        while title and len(seen) <= MAX_REDIRECT_HOPS:
            row = self.redirects.execute("SELECT target FROM redirects WHERE title = ?", (title,)).fetchone()
            if row is None:
                break
            if title in seen:
                self.loops += 1
                return None
            seen.add(title)
            title = normalize_title(row[0], self.first_letter)
        row = self.sitelinks.execute(
            "SELECT qid FROM sitelinks WHERE lang = ? AND title = ?", (self.lang, title)).fetchone()
        return row[0] if row else None


def run(dump, lang, work, workers=1, shard=(0, 1), index=None, parser=PARSERS[0]):
    """Read ``dump`` (or shard I of N of it) into WORK/wikipedia/<lang> (or its shard dir);
    ``index``: the multistream index, used to cut shards; ``parser``: one of PARSERS."""
    if parser not in PARSERS:
        raise DumpError(f"unknown wikitext parser {parser!r} (known: {', '.join(PARSERS)})")
    sitelinks = _sitelinks_path(work, lang)
    number, count = shard
    inputs = (dump, index, sitelinks)
    if count == 1:
        with atomic_dir(os.path.join(work, "wikipedia", lang), inputs=inputs) as tmp:
            _read(dump, lang, tmp, workers, shard, parser)
            return _finish(tmp, sitelinks, lang)
    offsets = _stream_offsets(dump, index)
    with atomic_dir(shard_dir(work, lang, number, count), inputs=inputs) as tmp:
        return _read(dump, lang, tmp, workers, shard, parser, offsets)


def _stream_offsets(dump, index):
    """Stream starts from the multistream index, given or next to the dump under its
    standard name; None (scan for them) when there is none."""
    if index is None:
        if not dump.endswith("-multistream.xml.bz2"):
            return None
        index = dump[: -len(".xml.bz2")] + "-index.txt.bz2"
        if not os.path.exists(index):
            return None
    if shard_kind(dump) != "bz2":
        raise DumpError(f"{index}: an index belongs to a multistream .bz2 dump; {dump} is not one")
    return index_stream_offsets(dump, index)


def shard_dir(work, lang, index, count):
    return os.path.join(work, "wikipedia.shards", lang, f"{index}-of-{count}")


def merge(work, lang, count):
    """Put the N shards of one language together, as one unsharded run writes them."""
    sitelinks = _sitelinks_path(work, lang)
    dirs = [shard_dir(work, lang, i, count) for i in range(count)]
    stats = finished_shards(dirs, "wikipedia")
    parsers = sorted({parser_of(s) for s in stats})
    if len(parsers) > 1:
        raise DumpError(f"the {lang} shards were read with different wikitext parsers ({', '.join(parsers)}): "
                        f"read them again with one --parser")
    with atomic_dir(os.path.join(work, "wikipedia", lang), inputs=(sitelinks, *dirs)) as tmp:
        for name in ("converted.jsonl", "redirects.tsv"):
            concatenate(dirs, name, os.path.join(tmp, name))
        write_json(os.path.join(tmp, "stats.json"), merged_stats(stats))
        return _finish(tmp, sitelinks, lang)


def _sitelinks_path(work, lang):
    """The wikidata step's sitelinks.sqlite, once it is known to hold titles in ``lang``
    (else every page would go without a QID)."""
    path = os.path.join(work, "wikidata", "sitelinks.sqlite")
    if not os.path.exists(path):
        raise DumpError(f"{path} is missing: run `xlmk-preprocess wikidata` first")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if db.execute("SELECT 1 FROM sitelinks WHERE lang = ? LIMIT 1", (lang,)).fetchone() is None:
            held = [row[0] for row in db.execute("SELECT DISTINCT lang FROM sitelinks ORDER BY lang")]
            raise DumpError(f"the wikidata step kept no sitelinks to {lang} (it has {', '.join(held) or 'none'}): "
                            f"run it with {lang} in --langs")
    except sqlite3.Error as e:
        raise DumpError(f"{path}: {e}") from None
    finally:
        db.close()
    return path


def parser_of(stats):
    """The wikitext parser a finished step (its stats.json) used: mwparserfromhell before the
    parsers were recorded."""
    return stats.get("parser", "mwparserfromhell")


def _read(dump, lang, tmp, workers, shard, parser, stream_offsets=None):
    """Pages -> converted.jsonl (text, raw link targets); redirects.tsv; stats.json."""
    counts, skipped = collections.Counter(), collections.Counter()
    invalid = [0]
    events = iter_dump(dump, invalid, shard, stream_offsets)
    kind, siteinfo = next(events, (None, None))
    if kind != "siteinfo":
        raise DumpError(f"{dump}: no <siteinfo> before the first page")
    first_letter = siteinfo["case"] == "first-letter"
    namespaces = [name for key, name in siteinfo["namespaces"].items() if key != 0]
    with fingerprints_in_background([dump] if shard[0] == 0 else []) as fingerprints, \
            open(os.path.join(tmp, "converted.jsonl"), "wb") as converted, \
            open(os.path.join(tmp, "redirects.tsv"), "w", encoding="utf-8") as redirects:
        chunks = _article_chunks(events, redirects, counts, skipped, first_letter)
        with ordered_map(_convert_chunk, chunks, workers, _init_worker, (namespaces, parser)) as results, \
                tqdm(desc=f"{lang}wiki pages", unit=" pages", unit_scale=True) as bar:
            for chunk in results:
                for page, text, links in chunk:
                    if text is None:
                        skipped["wikitext_parse_error"] += 1
                        continue
                    converted.write(orjson.dumps({"id": page["id"], "title": page["title"],
                                                  "text": text, "links": links}) + b"\n")
                bar.update(len(chunk))
        inputs = fingerprints()
    if invalid[0]:
        skipped["invalid_utf8_replaced"] = invalid[0]
    stats = {"lang": lang, "dbname": siteinfo["dbname"], "case": siteinfo["case"], "parser": parser,
             "counts": dict(counts), "skipped": dict(sorted(skipped.items())),
             "input": inputs[0] if inputs else None}
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _finish(tmp, sitelinks_path, lang):
    """Resolve every link (and the page's own title) to a QID; write pages.jsonl."""
    stats = json.load(open(os.path.join(tmp, "stats.json"), encoding="utf-8"))
    counts = collections.Counter(stats["counts"])
    first_letter = stats["case"] == "first-letter"
    redirects = sqlite3.connect(os.path.join(tmp, "redirects.sqlite"))
    redirects.execute("CREATE TABLE redirects (title TEXT PRIMARY KEY, target TEXT) WITHOUT ROWID")
    with open(os.path.join(tmp, "redirects.tsv"), encoding="utf-8") as f:
        redirects.executemany("INSERT OR REPLACE INTO redirects VALUES (?, ?)",
                              (line.rstrip("\n").split("\t", 1) for line in f))
    redirects.commit()
    sitelinks = sqlite3.connect(f"file:{sitelinks_path}?mode=ro", uri=True)
    resolver = _Resolver(sitelinks, redirects, lang, first_letter)
    with open(os.path.join(tmp, "converted.jsonl"), "rb") as src, \
            open(os.path.join(tmp, "pages.jsonl"), "wb") as dst:
        for line in src:
            page = orjson.loads(line)
            page["qid"] = resolver.qid(page["title"])
            counts["pages_with_qid" if page["qid"] else "pages_without_qid"] += 1
            resolved = []
            for start, end, target in page["links"]:
                qid = resolver.qid(target)
                if qid is None:
                    counts["mentions_unresolved"] += 1
                else:
                    counts["mentions_resolved"] += 1
                    resolved.append([start, end, qid])
            page["links"] = resolved
            dst.write(orjson.dumps(page) + b"\n")
    counts["redirect_loops"] = resolver.loops
    sitelinks.close()
    redirects.close()
    for name in ("converted.jsonl", "redirects.tsv", "redirects.sqlite"):
        os.remove(os.path.join(tmp, name))
    stats["counts"] = dict(counts)
    write_json(os.path.join(tmp, "stats.json"), stats)
    return stats


def _article_chunks(events, redirects, counts, skipped, first_letter):
    chunk = []
    for kind, page in events:
        if kind != "page":
            continue
        if page["title"] is None or page["ns"] is None:
            skipped["page_missing_field"] += 1
        elif page["ns"].strip() != "0":
            skipped["non_main_namespace"] += 1
        elif page["redirect"] is not None:
            counts["redirects"] += 1
            title = normalize_title(page["title"], first_letter)
            target = " ".join(page["redirect"].split())
            redirects.write(f"{title}\t{target}\n")
        elif not (page["text"] or "").strip():
            skipped["empty_text"] += 1
        else:
            counts["pages"] += 1
            chunk.append(page)
            if len(chunk) >= CHUNK_PAGES:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
