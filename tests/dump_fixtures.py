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


def _multistream_parts(xml_text, pages_per_stream):
    """Wikimedia's *-multistream.xml.bz2 layout: the header in its own stream, then streams
    of whole pages, the closing tag in the last. Returns the streams' texts."""
    head, _, rest = xml_text.partition("  <page>")
    pages = ["  <page>" + p for p in rest.split("  <page>")]
    last, _, footer = pages[-1].rpartition("</mediawiki>")
    pages[-1] = last
    streams = [head] + ["".join(pages[i:i + pages_per_stream]) for i in range(0, len(pages), pages_per_stream)]
    streams[-1] += "</mediawiki>" + footer
    return streams


def multistream_bz2(xml_text, pages_per_stream=2):
    """The dump compressed as a multistream .xml.bz2 (one bz2 stream per part)."""
    return b"".join(bz2.compress(s.encode("utf-8")) for s in _multistream_parts(xml_text, pages_per_stream))


def multistream_index(xml_text, pages_per_stream=2):
    """Its *-multistream-index.txt: a line ``offset:page_id:title`` per page, ``offset`` being
    the byte offset of the bz2 stream holding the page (the header stream is not listed)."""
    import re
    from xml.sax.saxutils import unescape

    lines, offset = [], 0
    for n, text in enumerate(_multistream_parts(xml_text, pages_per_stream)):
        if n > 0:
            for title, page_id in re.findall(r"<title>(.*?)</title>.*?<id>(\d+)</id>", text, re.S):
                lines.append(f"{offset}:{page_id}:{unescape(title)}")
        offset += len(bz2.compress(text.encode("utf-8")))
    return "\n".join(lines) + "\n"


# --- the truthy N-Triples dump (Wikibase's dumpRdf.php --flavor truthy-dump --format nt) ---

ENTITY = "http://www.wikidata.org/entity/"
RDFS_LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
NT_HEADER = [
    "<http://wikiba.se/ontology#Dump> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://schema.org/Dataset> .",
    "<http://wikiba.se/ontology#Dump> <http://creativecommons.org/ns#license> "
    "<http://creativecommons.org/publicdomain/zero/1.0/> .",
    '<http://wikiba.se/ontology#Dump> <http://schema.org/softwareVersion> "1.0.0" .',
]


def nt_literal(text, lang=None, escape_non_ascii=False):
    """An N-Triples literal: backslash escapes, non-ASCII as \\u escapes when asked."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if escape_non_ascii:
        out = "".join(c if ord(c) < 128 else (f"\\u{ord(c):04X}" if ord(c) < 0x10000 else f"\\U{ord(c):08X}")
                      for c in out)
    return f'"{out}"' + (f"@{lang}" if lang else "")


def truthy_lines(entity, escape_non_ascii=False):
    """The truthy dump's lines of one entity (from its JSON form): type, data node, labels
    as rdfs:label, skos:prefLabel and schema:name, best-rank statements as wdt: triples
    (an unknown value as a blank node, no value as a wdno: class), no sitelinks."""
    ident = entity["id"]
    subject = f"<{ENTITY}{ident}>"
    kind = "Property" if entity["type"] == "property" else "Item"
    lines = [f"{subject} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://wikiba.se/ontology#{kind}> .",
             f"<https://www.wikidata.org/wiki/Special:EntityData/{ident}> <http://schema.org/about> {subject} .",
             f'<https://www.wikidata.org/wiki/Special:EntityData/{ident}> <http://schema.org/version> '
             f'"1"^^<http://www.w3.org/2001/XMLSchema#integer> .']
    for lang, label in entity.get("labels", {}).items():
        literal = nt_literal(label["value"], lang, escape_non_ascii)
        for predicate in (RDFS_LABEL, "<http://www.w3.org/2004/02/skos/core#prefLabel>", "<http://schema.org/name>"):
            lines.append(f"{subject} {predicate} {literal} .")
    if kind == "Property":
        lines.append(f"{subject} <http://wikiba.se/ontology#directClaim> "
                     f"<http://www.wikidata.org/prop/direct/{ident}> .")
    for pid, statements in entity.get("claims", {}).items():
        ranks = {s["rank"] for s in statements}
        best = "preferred" if "preferred" in ranks else "normal"
        for n, statement in enumerate(s for s in statements if s["rank"] == best):
            snak, predicate = statement["mainsnak"], f"<http://www.wikidata.org/prop/direct/{pid}>"
            if snak["snaktype"] == "somevalue":
                lines.append(f"{subject} {predicate} _:genid{ident}x{pid}x{n} .")
            elif snak["snaktype"] == "novalue":
                lines.append(f"{subject} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                             f"<http://www.wikidata.org/prop/novalue/{pid}> .")
            elif snak["datatype"] == "wikibase-item":
                lines.append(f"{subject} {predicate} <{ENTITY}{snak['datavalue']['value']['id']}> .")
            else:
                amount = snak["datavalue"]["value"]["amount"]
                lines.append(f'{subject} {predicate} "{amount}"^^<http://www.w3.org/2001/XMLSchema#decimal> .')
    return lines


def truthy_dump_text(entities, raw_lines=(), escape_non_ascii=False):
    """latest-truthy.nt: the header, then every item's and property's lines (no lexemes)."""
    lines = list(NT_HEADER)
    for e in entities:
        if e["type"] in ("item", "property"):
            lines += truthy_lines(e, escape_non_ascii)
    return "\n".join(lines + list(raw_lines)) + "\n"


NT_ODD_LINES = [
    "# a comment line",
    "",
    '_:b0 <http://www.w3.org/2000/01/rdf-schema#label> "a blank node subject"@en .',
    '<http://www.wikidata.org/entity/Q64> <http://www.wikidata.org/prop/direct/P17> "unterminated .',  # malformed
]


# --- the wb_items_per_site table dump (mysqldump, as Wikimedia publishes it) ---

WB_ITEMS_PER_SITE_COLUMNS = [("ips_row_id", "bigint(20) unsigned NOT NULL AUTO_INCREMENT"),
                             ("ips_item_id", "int(10) unsigned NOT NULL"),
                             ("ips_site_id", "varbinary(32) NOT NULL"),
                             ("ips_site_page", "varbinary(310) NOT NULL")]


def mysql_string(text):
    """A MySQL string literal as mysqldump writes it (mysql_real_escape_string)."""
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\x00", "\\0").replace("\x1a", "\\Z"))
    return f"'{escaped}'"


def mysql_dump_text(table, columns, rows, rows_per_insert=3):
    """A MariaDB mysqldump of one table: header, CREATE TABLE, extended INSERTs, footer."""
    def value(v):
        return "NULL" if v is None else str(v) if isinstance(v, int) else mysql_string(v)

    column_lines = ",\n".join(f"  `{name}` {kind}" for name, kind in columns)
    out = ["-- MySQL dump 10.19  Distrib 10.3.39-MariaDB, for debian-linux-gnu (x86_64)", "--",
           "-- Host: 10.64.0.1    Database: wikidatawiki",
           "-- ------------------------------------------------------", "-- Server version\t10.6.17-MariaDB-log", "",
           "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;", "/*!40101 SET NAMES utf8mb4 */;", "",
           "--", f"-- Table structure for table `{table}`", "--", "", f"DROP TABLE IF EXISTS `{table}`;",
           f"CREATE TABLE `{table}` (\n{column_lines},\n  PRIMARY KEY (`{columns[0][0]}`)\n"
           f") ENGINE=InnoDB DEFAULT CHARSET=binary;",
           "", "--", f"-- Dumping data for table `{table}`", "--", "",
           f"/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;"]
    for i in range(0, len(rows), rows_per_insert):
        tuples = ",".join("(" + ",".join(value(v) for v in row) + ")" for row in rows[i:i + rows_per_insert])
        out.append(f"INSERT INTO `{table}` VALUES {tuples};")
    out += [f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;", "", "-- Dump completed on 2024-05-01  0:00:00"]
    return "\n".join(out) + "\n"


def wb_items_per_site_text(entities, rows_per_insert=3):
    """wikidatawiki-latest-wb_items_per_site.sql: one row per sitelink of every item, all sites."""
    rows = []
    for e in entities:
        if e["type"] == "item":
            for site, link in e["sitelinks"].items():
                rows.append((len(rows) + 1, int(e["id"][1:]), site, link["title"]))
    return mysql_dump_text("wb_items_per_site", WB_ITEMS_PER_SITE_COLUMNS, rows, rows_per_insert)


def escaped_wikidata():
    """Items whose titles and labels need escaping in every format (quotes, backslashes,
    non-ASCII), and a property label with a quote."""
    return [
        item("Q500", labels={"en": 'Rock "n" roll', "de": "Rock ’n’ Roll", "fr": "Rock"},
             sitelinks=[("enwiki", "Rock 'n' roll"), ("dewiki", 'Back\\slash "quoted"'), ("frwiki", "Rock")],
             claims=[("P495", "Q183", "normal", "value"), ("P495", "Q142", "normal", "value")]),
        item("Q501", labels={"de": "Ünïcödé – 北京"}, sitelinks=[("dewiki", "Ünïcödé – 北京")],
             claims=[("P17", "Q500", "normal", "value"), ("P6", "", "normal", "somevalue")]),
        prop("P495", 'country of "origin"'),
    ]
