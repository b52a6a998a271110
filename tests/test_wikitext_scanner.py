"""The wikitext scanner (preprocess/wikitext_scanner.py) against mwparserfromhell, the reference:
each construct by hand, every real and sample page, random markup (hypothesis, in the style of
test_preprocess_fuzz.py), and pathological pages, read in work linear in their length (the
scanner's own count of its steps, not the clock: no flaky thresholds)."""

import glob
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from preprocess.wikitext import PARSERS, WikitextConverter, make_converter
from preprocess.wikitext_scanner import DIFFERENCES, WikitextScanner, _Scan, compare, difference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "preprocess", "sample")
NAMESPACES = ["Datei", "Kategorie"]
REFERENCE, SCANNER = WikitextConverter(NAMESPACES), WikitextScanner(NAMESPACES)
EXAMPLES = int(os.environ.get("XLMK_FUZZ_EXAMPLES", 300))  # more for a longer search
fuzz = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def spans(text, links):
    return [(text[link.start:link.end], link.target) for link in links]


# -- each construct, checked by hand, with both parsers ---------------------------------------------

CONSTRUCTS = [  # (wikitext, its text, its links as (anchor, target))
    ("a {{cite|x=[[B]]|{{inner|[[C]]}}}} d", "a d", []),                            # nested templates
    ("x\n{| class=\"wikitable\"\n|-\n! h\n|-\n| [[A]] || b\n|}\ny", "x\n\ny", []),    # a table
    ("a<ref>[[B]] c</ref> d<ref name=\"n\"/> e", "a d e", []),                      # <ref>, <ref/>
    ("<span style=\"color:red\">[[A]]</span> <math>x^2</math> <small>s</small> <gallery>B.jpg</gallery>",
     "A s", [("A", "A")]),                                                          # kept and dropped tags
    ("a<!-- [[B]] -->b", "ab", []),                                                 # a comment
    ("[[File:X.png|thumb|A [[B]] caption]] c [[Category:Y]] [[Datei:Z.png]] [[Kategorie:W]] [[de:Berlin]] "
     "[[wikt:word]]", "c wikt:word", []),                     # files, categories, interlanguage, interwiki
    ("a&amp;b&nbsp;c&#x41;&#66;&bogus;", "a&b cAB&bogus;", []),                      # entities
    ("'''Bold''' and ''it [[A|a]]''", "Bold and it a", [("a", "A")]),                # bold, italic
    ("x\n== Head [[A]] ==\ny", "x\n\nHead A\n\ny", []),                              # a heading: no link
    ("[http://x.org Title] and [http://y.org] and http://z.org/p.", "Title and and .", []),   # external links
    ("<nowiki>[[A]] ''x''</nowiki>", "[[A]] ''x''", []),                             # <nowiki>
    ("a<br>b<br/>c", "a\nb\nc", []),                                                 # <br>
    ("[[bus]]es [[Berlin (city)|]] [[Paris#History|the city]] [[New_York]]", "buses Berlin the city New York",
     [("buses", "bus"), ("Berlin", "Berlin (city)"), ("the city", "Paris#History"), ("New York", "New_York")]),
    ("[[:Category:X|see]] [[:de:Berlin]]", "see de:Berlin", []),                     # a leading colon shows
    ("* [[A]]\n# b\n; t : d", "A\nb\nt d", [("A", "A")]),                            # lists
    ("{{a|b [[C]]", "{{a|b C", [("C", "C")]),                                        # unclosed: text
    ("[[A|b", "[[A|b", []),
    ("''x [[A]]", "''x A", [("A", "A")]),
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("wikitext,text,links", CONSTRUCTS, ids=[c[0][:24] for c in CONSTRUCTS])
def test_each_construct(parser, wikitext, text, links):
    got, got_links = make_converter(parser, NAMESPACES).convert(wikitext)
    assert (got, spans(got, got_links)) == (text, links)


def test_the_parsers_are_named():
    assert PARSERS == ("scanner", "mwparserfromhell")
    assert isinstance(make_converter("scanner", []), WikitextScanner)
    assert isinstance(make_converter("mwparserfromhell", []), WikitextConverter)
    with pytest.raises(ValueError, match="unknown wikitext parser"):
        make_converter("regex", [])


# -- every real and sample page -------------------------------------------------------------------

def test_every_real_and_sample_page_is_read_as_the_reference_does():
    """106 + 5 + 1 real articles (preprocess/sample/real) and the 365 of the hand-made samples:
    no difference of any kind (docs/dump-sources.md, "The wikitext scanner")."""
    dumps = sorted(glob.glob(os.path.join(SAMPLE, "real", "*.xml.bz2"))) + \
        sorted(glob.glob(os.path.join(SAMPLE, "*wiki-sample-pages-articles.xml")))
    assert len(dumps) == 10
    assert compare(dumps) == {"pages": 477}


# -- random markup ----------------------------------------------------------------------------------

MARKUP = ["[[", "]]", "|", "{{", "}}", "{{{", "}}}", "<ref>", "</ref>", "<ref name=a/>", "'''", "''", "'", "==", "=",
          "\n", "#", "*", ";", ":", "Berlin", "&amp;", "&nbsp;", "&#x41;", "&bogus;", "<!--", "-->", "File:",
          "Kategorie:", "de:", "wikt:", "[", "]", "[http://x.org a]", "http://y.org", "<b>", "</b>", "{|", "|}", "|-",
          "!", "||", "!!", "<nowiki>", "</nowiki>", "ä", "漢", "s", " ", "\t", "<br>", "</br>", '<span style="x">',
          "</span>", "<li>", "----", "<math>", "</math>", "<td>", "{", "}", "(", ")", ",", "x_y", "#sec", "<", ">",
          "/", "-", "news:", "\u00a0", "\n==h==\n", "\n*", "\n{|", "\n|", "\n!", "\n|}", "[[a|b]]", "[[a]]s"]
MARKED = st.lists(st.one_of(st.sampled_from(MARKUP), st.text(max_size=3)), max_size=40).map("".join)


def check_spans(text, links):
    ends = 0
    for link in links:
        assert ends <= link.start < link.end <= len(text) and text[link.start:link.end].strip()
        ends = link.end


@fuzz
@given(MARKED)
@example("<b></<''|'''")            # the C tokenizer reads '<' in a closing tag as text
@example("{{{x{{|}}}")              # a flag of the argument's name outlives it, unread
@example("{|\n{|\n|''\n|}'''")      # a cell failing at the end is not recorded as failed
@example("[[|{{{{{|>}}}}}]]")       # {{{{{: the template is named by the argument
@example("{|\n='''\n=''=")          # a heading at the start of a table's first line
@example("{{''|'''")                # an italic read once inside the failed template
def test_random_markup_is_read_as_the_reference_does(wikitext):
    assert difference(REFERENCE, SCANNER, wikitext) is None
    check_spans(*SCANNER.convert(wikitext))


@fuzz
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_text_is_read_as_the_reference_does(wikitext):
    assert difference(REFERENCE, SCANNER, wikitext) is None


TITLES = ["Berlin", "New_York", "Paris#History", "Hauptstadt (Berlin)", "Ünïcode"]
WORDS = ["Berlin", "ist", "die", "Stadt", "a", "äö", "漢字", "x1"]
# pieces of a well-formed page, each with the links it makes
PIECES = st.one_of(
    st.sampled_from(WORDS).map(lambda w: (w, [])),
    st.tuples(st.sampled_from(TITLES), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)).map(
        lambda t: (f"[[{t[0]}|{t[1]}]]", [(t[1], t[0])])),
    st.sampled_from(TITLES).map(lambda t: (f"[[{t}]]", [(t.replace("_", " "), t)])),
    st.sampled_from(TITLES).map(lambda t: (f"'''[[{t}|x]]''' ''y''", [("x", t)])),
    st.sampled_from(["{{cite|url=http://x.org|title=[[Berlin]]}}", "<ref>[[Berlin]]</ref>", "<!-- [[Berlin]] -->",
                     "[[Datei:X.png|mini|[[Berlin]] am Abend]]", "[[Kategorie:Berlin]]", "[[de:Berlin]]",
                     "\n== [[Berlin]] ==\n", "\n{|\n| [[Berlin]] || x\n|}\n", "&amp;"]).map(lambda w: (w, [])),
)


@fuzz
@given(st.lists(PIECES, max_size=12))
def test_each_link_of_a_well_formed_page_spans_its_anchor(pieces):
    wikitext = " ".join(w for w, _ in pieces)
    text, links = SCANNER.convert(wikitext)
    assert spans(text, links) == [link for _, made in pieces for link in made]
    assert difference(REFERENCE, SCANNER, wikitext) is None


# -- pathological pages: work linear in the length ------------------------------------------------------

def work(wikitext):
    """The scanner's count of its steps on ``wikitext`` (characters read, events, re-reading)."""
    scan = _Scan(SCANNER, wikitext)
    scan.run()
    return scan.work


PATHOLOGICAL = {  # name: page of about n characters
    "unclosed templates": lambda n: "{{a|b " * (n // 6),
    "unclosed templates, bold": lambda n: ("{{a|b " * 3 + "'''text ") * (n // 26),
    "deep {{": lambda n: "{{" * (n // 4) + "}}" * (n // 4),
    "deep [[a|": lambda n: "[[a|" * (n // 10) + "x" + "]]" * (n // 10),
    "deep {{a|": lambda n: "{{a|" * (n // 6) + "}}" * (n // 6),
    "deep <span>": lambda n: "<span>" * (n // 13) + "x" + "</span>" * (n // 13),
    "one closer": lambda n: "[[a|" * (n // 4) + "]]",
    "unclosed italics in links": lambda n: "[[a|''b]] " * (n // 10),
    "unclosed <b>, one closer": lambda n: "<b>x " * (n // 5) + "</b>",
    "unclosed tables": lambda n: "\n{|\n|a\n" * (n // 7),
    "unclosed comments": lambda n: "<!--x " * (n // 6),
    "unclosed quotes": lambda n: "<span a='x " * (n // 11),
    "open headings": lambda n: "\n== a " * (n // 6),
    "brackets": lambda n: "[]{}<>|" * (n // 7),
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_pages_take_work_linear_in_their_length(name):
    """4 times the page, at most 4.5 times the work (quadratic would be 16)."""
    page = PATHOLOGICAL[name]
    assert work(page(160_000)) <= 4.5 * work(page(40_000))


@pytest.mark.parametrize("page", [
    "{{" * 10_000 + "}}" * 10_000, "[[" * 10_000 + "]]" * 10_000, "[[a|" * 10_000 + "x" + "]]" * 10_000,
    "{{a|" * 10_000 + "}}" * 10_000, "<span>" * 10_000 + "x" + "</span>" * 10_000, "''a" * 10_000,
    "\n{|\n|" * 10_000 + "\n|}" * 10_000, "<li>" * 10_000, "{{{" * 10_000 + "}}}" * 10_000,
], ids=["{{", "[[", "[[a|", "{{a|", "<span>", "''", "{|", "<li>", "{{{"])
def test_10k_deep_nesting(page):
    """Read as the reference reads it (which opens at most 100 levels), or where the reference
    fails (its tree builder recurses too deep: {{{{ nests 85 arguments in one level), a kind
    of difference the comparison knows."""
    assert difference(REFERENCE, SCANNER, page) in (None, "reference fails")
    check_spans(*SCANNER.convert(page))


def test_a_10_mb_page_of_brackets():
    """Runs of each bracket (a brace run is read as nested arguments, dropped)."""
    runs = "[" * 1000 + "{" * 1000 + "<" * 1000 + "]" * 1000 + "}" * 1000 + ">" * 1000 + "|" * 1000
    page = runs * (10_000_000 // len(runs))
    scan = _Scan(SCANNER, page)
    text, links = scan.run()
    assert text.startswith("[" * 1000) and set(text) <= set(runs) and not links
    assert scan.work <= 4 * len(page)


def test_the_kinds_of_difference_are_documented():
    doc = open(os.path.join(REPO, "docs", "dump-sources.md"), encoding="utf-8").read()
    section = doc[doc.index("## The wikitext scanner"):]
    for meaning in DIFFERENCES.values():
        assert meaning in section
