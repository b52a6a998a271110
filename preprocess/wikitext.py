"""Wikitext -> plain text with the article links kept as character spans.

We keep what a reader sees: text, link anchors (with their link trails), the text of
bold/italic and similar inline tags, and headings; we drop templates, <ref>s, tables,
comments, files/images with their captions, category links and interlanguage links. Links
inside dropped parts are dropped with them.

Two parsers give the same output (``make_converter``): ``mwparserfromhell``, the reference,
walks that library's node tree; ``scanner`` (preprocess/wikitext_scanner.py) reads the
wikitext itself, several times faster. docs/dump-sources.md lists where they differ.
"""

import bisect
import re
from dataclasses import dataclass

import mwparserfromhell
from mwparserfromhell.nodes import (
    Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text, Wikilink,
)

KEEP_TAGS = {"b", "i", "u", "s", "small", "big", "span", "sub", "sup", "abbr", "nowiki", "em",
             "strong", "code", "font", "li", "dd", "dt", "p", "blockquote", "center", "div"}
# Interwiki prefixes (to sister projects), whose links render as text but are no articles.
INTERWIKI = {"wikt", "wiktionary", "commons", "c", "q", "wikiquote", "s", "wikisource", "b",
             "wikibooks", "n", "wikinews", "v", "wikiversity", "voy", "wikivoyage", "species",
             "d", "wikidata", "m", "meta", "mw", "w", "wikipedia", "f", "wikifunctions", "phab"}
LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(-[a-z]{2,8})*$")
LINK_TRAIL = re.compile(r"^[^\W\d_]+")
SPACES = re.compile(r"[ \t\u00a0]+")
PARSERS = ("scanner", "mwparserfromhell")
ARTICLE, NAMESPACE, FOREIGN = "article", "namespace", "foreign"


def make_converter(parser, namespaces):
    """The converter of one wiki (``namespaces``: its localised names) for ``parser``, one of
    PARSERS: an object whose ``convert(wikitext)`` returns (text, [Link, ...])."""
    if parser == "mwparserfromhell":
        return WikitextConverter(namespaces)
    if parser == "scanner":
        from .wikitext_scanner import WikitextScanner

        return WikitextScanner(namespaces)
    raise ValueError(f"unknown wikitext parser {parser!r} (known: {', '.join(PARSERS)})")


@dataclass
class Link:
    start: int
    end: int
    target: str


class LinkRules:
    """What a [[link]] is, by its title; shared by both parsers so that they agree."""

    def __init__(self, namespaces):
        # every name of a non-main namespace, lower-cased: "file", "datei", "category", ...
        self.namespace_names = {n.lower() for n in namespaces if n}
        self.namespace_names.update({"file", "image", "category", "template", "media", "special",
                                     "user", "help", "portal", "wikipedia", "module", "talk"})

    def role(self, raw_title):
        """(kind, title, shown) of the link titled ``raw_title`` (its wikitext, before any '|').

        NAMESPACE (a file, a category): shown (its text, else its title) only with a leading
        colon. FOREIGN (another wiki): shown as text only for a sister project or with a
        leading colon ([[de:Berlin]] is an interlanguage link in the sidebar). ARTICLE: a link.
        """
        title = raw_title.strip()
        visible_colon = title.startswith(":")
        title = title.lstrip(":").strip()
        prefix = title.split(":", 1)[0].strip().lower() if ":" in title else None
        if prefix is not None and prefix in self.namespace_names:
            return NAMESPACE, title, visible_colon
        if prefix is not None and (prefix in INTERWIKI or LANGUAGE_PREFIX.match(prefix)):
            return FOREIGN, title, prefix in INTERWIKI or visible_colon
        return ARTICLE, title, True

    @staticmethod
    def anchor(title, text):
        """An article link's anchor before its trail: its text (``text``, None when there is no
        '|'), else its title; the pipe trick: [[Berlin (Begriffsklärung)|]] reads "Berlin"."""
        if text is None:
            return title.replace("_", " ")
        if not text.strip():
            return re.sub(r"\s*\([^)]*\)\s*$", "", title.split("#", 1)[0])
        return text

    @staticmethod
    def is_link(anchor, title):
        """Whether an anchor (after its trail, spaces collapsed) makes a link span."""
        return bool(anchor.strip() and title.split("#", 1)[0].strip())


class WikitextConverter(LinkRules):
    """Converts the wikitext of one wiki with mwparserfromhell; ``namespaces`` are its
    localised names."""

    def convert(self, wikitext):
        parts, links = [], []
        self._walk(mwparserfromhell.parse(wikitext).nodes, parts, links, [0])
        return _normalize("".join(parts), links)

    def _walk(self, nodes, parts, links, length):
        for i, node in enumerate(nodes):
            if isinstance(node, Text):
                self._emit(parts, length, str(node))
            elif isinstance(node, Wikilink):
                self._link(node, nodes[i + 1] if i + 1 < len(nodes) else None, parts, links, length)
            elif isinstance(node, HTMLEntity):
                self._emit(parts, length, node.normalize().replace("\u00a0", " "))
            elif isinstance(node, Heading):
                self._emit(parts, length, "\n\n")
                self._walk(node.title.nodes, parts, [], length)
                self._emit(parts, length, "\n\n")
            elif isinstance(node, Tag):
                tag = str(node.tag).lower()
                if tag in KEEP_TAGS and node.contents is not None:
                    self._walk(node.contents.nodes, parts, links, length)
                elif tag == "br":
                    self._emit(parts, length, "\n")
            elif isinstance(node, ExternalLink):
                if node.title is not None:
                    self._walk(node.title.nodes, parts, [], length)
            elif isinstance(node, (Template, Comment)):
                continue

    def _link(self, node, following, parts, links, length):
        kind, title, shown = self.role(str(node.title))
        if kind == NAMESPACE:
            if shown and node.text is not None:  # [[:Category:X|text]] shows text
                self._walk(node.text.nodes, parts, [], length)
            elif shown:
                self._emit(parts, length, title)
            return  # files with captions, categories: not part of the running text
        if kind == FOREIGN:
            if shown:
                self._emit(parts, length, node.text.strip_code() if node.text is not None else title)
            return
        anchor = self.anchor(title, node.text.strip_code() if node.text is not None else None)
        if isinstance(following, Text):
            trail = LINK_TRAIL.match(str(following))
            if trail:  # [[bus]]es -> "buses"; the trail is removed from the next text node
                anchor += trail.group(0)
                following.value = str(following)[len(trail.group(0)):]
        anchor = SPACES.sub(" ", anchor)
        start = length[0]
        self._emit(parts, length, anchor)
        if self.is_link(anchor, title):
            links.append(Link(start, length[0], title))

    @staticmethod
    def _emit(parts, length, text):
        parts.append(text)
        length[0] += len(text)


# the whitespace runs that _normalize changes: a run holding a newline (with the spaces
# around it), two or more spaces, spaces at the start or the end of the text (each
# alternative starts with a character class, which lets the search skip other text fast)
CHANGED_RUN = re.compile(r"\n[ \t\u00a0\n]*|[ \t\u00a0](?:[ \t\u00a0]*\n[ \t\u00a0\n]*"
                         r"|[ \t\u00a0]+(?![ \t\u00a0\n])|\Z|(?<=\A[ \t\u00a0]))")


def _normalize(text, links):
    """Collapse spaces, strip lines, keep at most one blank line; move the spans along.

    A run of spaces and tabs keeps its first character, none at a line's start or end; a run
    of newlines keeps two. Only the runs that change are visited (regular expressions, not a
    loop over characters); a span's ends move back by what was removed before them."""
    runs = []  # (start, end, offsets of the characters kept) of each changed run

    def collapse(m):
        a, b = m.span()
        run = m.group()
        if "\n" in run:
            first = run.index("\n")
            second = run.find("\n", first + 1)
            kept = (first,) if second < 0 else (first, second)
        else:
            kept = () if a == 0 or b == len(text) else (0,)
        runs.append((a, b, kept))
        return "".join(run[k] for k in kept)

    new_text = CHANGED_RUN.sub(collapse, text)
    stripped = new_text.lstrip("\n")
    offset = len(new_text) - len(stripped)
    stripped = stripped.rstrip("\n")
    if not links:
        return stripped, []
    starts = [a for a, _, _ in runs]
    removed = [0]  # characters removed before each run
    for a, b, kept in runs:
        removed.append(removed[-1] + b - a - len(kept))

    def moved(k):
        j = bisect.bisect_right(starts, k) - 1
        if j < 0:
            return k
        a, b, kept = runs[j]
        if k >= b:
            return k - removed[j + 1]
        return k - removed[j] - (k - a) + sum(1 for o in kept if a + o < k)

    new_links = []
    for link in links:
        s, e = moved(link.start) - offset, moved(link.end) - offset
        if s < e <= len(stripped):
            new_links.append(Link(s, e, link.target))
    return stripped, new_links
