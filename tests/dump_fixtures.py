"""Generators of small dumps in the real Wikimedia formats, for the preprocessing tests."""

import bz2
import gzip
import json


def item(qid, labels=None, sitelinks=(), claims=(), extra_claims=None):
    """A Wikidata item as the JSON dump holds it. ``claims``: (pid, target qid, rank, snaktype)."""
    entity = {
        "type": "item", "id": qid,
        "labels": {lang: {"language": lang, "value": v} for lang, v in (labels or {}).items()},
        "descriptions": {}, "aliases": {},
        "claims": {},
        "sitelinks": {site: {"site": site, "title": title, "badges": []} for site, title in sitelinks},
        "lastrevid": 1,
    }
    for n, (pid, target, rank, snaktype) in enumerate(claims):
        snak = {"snaktype": snaktype, "property": pid, "datatype": "wikibase-item"}
        if snaktype == "value":
            snak["datavalue"] = {"type": "wikibase-entityid",
                                 "value": {"entity-type": "item", "numeric-id": int(target[1:]), "id": target}}
        entity["claims"].setdefault(pid, []).append(
            {"mainsnak": snak, "type": "statement", "id": f"{qid}${n}", "rank": rank})
    for pid, statements in (extra_claims or {}).items():
        entity["claims"].setdefault(pid, []).extend(statements)
    return entity


def prop(pid, label):
    return {"type": "property", "id": pid, "datatype": "wikibase-item",
            "labels": {"en": {"language": "en", "value": label}}, "claims": {}}


def wikidata_dump_text(entities, raw_lines=()):
    """The dump layout: '[' line, one entity per line ending with ',', ']' line."""
    lines = [json.dumps(e, ensure_ascii=False) for e in entities] + list(raw_lines)
    return "[\n" + ",\n".join(lines) + "\n]\n"


def write(path, text, compression=None):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if compression == "gz":
        data = gzip.compress(data)
    elif compression == "bz2":
        data = bz2.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def small_wikidata():
    """Entities covering the cases the reader must handle."""
    good = lambda q, **kw: item(q, **kw)  # noqa: E731
    return [
        good("Q183", labels={"en": "Germany", "de": "Deutschland"},
             sitelinks=[("enwiki", "Germany"), ("dewiki", "Deutschland"), ("commonswiki", "Category:Germany")],
             claims=[("P36", "Q64", "normal", "value"), ("P30", "Q46", "normal", "value"),
                     ("P47", "Q142", "deprecated", "value"), ("P6", "", "normal", "somevalue"),
                     ("P1313", "", "normal", "novalue")],
             extra_claims={"P1082": [{"mainsnak": {"snaktype": "value", "property": "P1082", "datatype": "quantity",
                                                   "datavalue": {"type": "quantity", "value": {"amount": "+83000000"}}},
                                      "type": "statement", "rank": "normal"}]}),
        good("Q64", labels={"de": "Berlin"}, sitelinks=[("dewiki", "Berlin"), ("enwiki", "Berlin")],
             claims=[("P17", "Q183", "preferred", "value"), ("P1376", "Q183", "normal", "value")]),
        good("Q142", labels={"en": "France"}, sitelinks=[("enwiki", "France"), ("specieswiki", "France")],
             claims=[("P47", "Q183", "normal", "value"), ("P36", "Q90", "normal", "value")]),
        # only non-Wikipedia sitelinks: not kept
        good("Q46", labels={"en": "Europe"}, sitelinks=[("commonswiki", "Europe"), ("enwikiquote", "Europe"),
                                                         ("dewikivoyage", "Europa"), ("wikidatawiki", "Q46")]),
        # a language that is not chosen: not kept (Q90 Paris has only a French sitelink here)
        good("Q90", labels={"fr": "Paris"}, sitelinks=[("frwiki", "Paris")]),
        good("Q36236", labels={"nan": "Bân-lâm-gú"}, sitelinks=[("zh_min_nanwiki", "Bân-lâm-gú")]),
        prop("P36", "capital"), prop("P17", "country"), prop("P47", "shares border with"),
        {"type": "lexeme", "id": "L1", "lemmas": {}},
    ]


MALFORMED_LINES = ['{"type": "item", "id": "Q999", "labels": ', '{"type": "item", "labels": {}}']


NAMESPACES = {
    "en": {-2: "Media", 6: "File", 10: "Template", 14: "Category"},
    "de": {-2: "Medium", 6: "Datei", 10: "Vorlage", 14: "Kategorie"},
}


def page(title, text, ns=0, page_id=1, redirect=None):
    return {"title": title, "text": text, "ns": ns, "id": page_id, "redirect": redirect}


def wikipedia_dump_text(lang, pages, version="0.11"):
    """A pages-articles export: <mediawiki> with <siteinfo> and <page>s (wikitext escaped)."""
    from xml.sax.saxutils import escape, quoteattr

    ns_xml = "\n".join(f'      <namespace key="{k}" case="first-letter">{escape(v)}</namespace>'
                       for k, v in NAMESPACES.get(lang, NAMESPACES["en"]).items())
    out = [f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-{version}/" '
           f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="{version}" xml:lang="{lang}">',
           "  <siteinfo>", "    <sitename>Wikipedia</sitename>", f"    <dbname>{lang}wiki</dbname>",
           "    <base>https://example.org/wiki/Main_Page</base>", "    <generator>MediaWiki 1.41</generator>",
           "    <case>first-letter</case>", "    <namespaces>",
           '      <namespace key="0" case="first-letter" />', ns_xml, "    </namespaces>", "  </siteinfo>"]
    for i, p in enumerate(pages):
        redirect = f"    <redirect title={quoteattr(p['redirect'])} />" if p["redirect"] else ""
        out += ["  <page>", f"    <title>{escape(p['title'])}</title>", f"    <ns>{p['ns']}</ns>",
                f"    <id>{p['id'] or i + 1}</id>", redirect, "    <revision>", f"      <id>{1000 + i}</id>",
                "      <timestamp>2024-01-01T00:00:00Z</timestamp>",
                "      <contributor><username>X</username><id>1</id></contributor>",
                "      <unknownelement>ignored</unknownelement>",
                "      <model>wikitext</model>", "      <format>text/x-wiki</format>",
                f'      <text bytes="{len(p["text"].encode())}" xml:space="preserve">{escape(p["text"])}</text>',
                "      <sha1>0</sha1>", "    </revision>", "  </page>"]
    out.append("</mediawiki>")
    return "\n".join(line for line in out if line) + "\n"


def multistream_bz2(xml_text, pages_per_stream=2):
    """Compress like Wikimedia's *-multistream.xml.bz2: the header in its own stream, then
    streams of whole pages, the closing tag in the last. Returns (bytes, index lines)."""
    head, _, rest = xml_text.partition("  <page>")
    pages = ["  <page>" + p for p in rest.split("  <page>")]
    last, _, footer = pages[-1].rpartition("</mediawiki>")
    pages[-1] = last
    streams = [head] + ["".join(pages[i:i + pages_per_stream]) for i in range(0, len(pages), pages_per_stream)]
    streams[-1] += "</mediawiki>" + footer
    return b"".join(bz2.compress(s.encode("utf-8")) for s in streams)
