"""Wikitext -> plain text with the article links kept as character spans.

mwparserfromhell parses the markup; we walk its nodes and keep what a reader sees: text,
link anchors (with their link trails), the text of bold/italic and similar inline tags, and
headings; we drop templates, <ref>s, tables, comments, files/images with their captions,
category links and interlanguage links. Links inside dropped parts are dropped with them.
"""

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


@dataclass
class Link:
    start: int
    end: int
    target: str


class WikitextConverter:
    """Converts the wikitext of one wiki; ``namespaces`` are its localised names."""

    def __init__(self, namespaces):
        # every name of a non-main namespace, lower-cased: "file", "datei", "category", ...
        self.namespace_names = {n.lower() for n in namespaces if n}
        self.namespace_names.update({"file", "image", "category", "template", "media", "special",
                                     "user", "help", "portal", "wikipedia", "module", "talk"})

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
        title = str(node.title).strip()
        visible_colon = title.startswith(":")
        title = title.lstrip(":").strip()
        prefix = title.split(":", 1)[0].strip().lower() if ":" in title else None
        if prefix is not None and prefix in self.namespace_names:
            if visible_colon and node.text is not None:  # [[:Category:X|text]] shows text
                self._walk(node.text.nodes, parts, [], length)
            elif visible_colon:
                self._emit(parts, length, title)
            return  # files with captions, categories: not part of the running text
        if prefix is not None and (prefix in INTERWIKI or LANGUAGE_PREFIX.match(prefix)):
            if prefix in INTERWIKI or visible_colon:
                self._emit(parts, length, node.text.strip_code() if node.text is not None else title)
            return  # [[de:Berlin]]: an interlanguage link, shown in the sidebar only
        if node.text is not None:
            anchor = node.text.strip_code()
            if not anchor.strip():  # the pipe trick: [[Berlin (Begriffsklärung)|]]
                anchor = re.sub(r"\s*\([^)]*\)\s*$", "", title.split("#", 1)[0])
        else:
            anchor = title.replace("_", " ")
        if isinstance(following, Text):
            trail = LINK_TRAIL.match(str(following))
            if trail:  # [[bus]]es -> "buses"; the trail is removed from the next text node
                anchor += trail.group(0)
                following.value = str(following)[len(trail.group(0)):]
        anchor = SPACES.sub(" ", anchor)
        start = length[0]
        self._emit(parts, length, anchor)
        if anchor.strip() and title.split("#", 1)[0].strip():
            links.append(Link(start, length[0], title))

    @staticmethod
    def _emit(parts, length, text):
        parts.append(text)
        length[0] += len(text)


def _normalize(text, links):
    """Collapse spaces, strip lines, keep at most one blank line; move the spans along."""
    keep = [True] * len(text)
    out_index = [0] * (len(text) + 1)
    # collapse horizontal whitespace runs and strip them at line ends
    for m in re.finditer(r"[ \t\u00a0]+", text):
        a, b = m.span()
        line_edge = a == 0 or text[a - 1] == "\n" or b == len(text) or text[b] == "\n"
        for k in range(a + (0 if line_edge else 1), b):
            keep[k] = False
    # at most two consecutive newlines, none at the start or end
    run = 0
    for k, ch in enumerate(text):
        if not keep[k]:
            continue
        if ch == "\n":
            run += 1
            if run > 2:
                keep[k] = False
        else:
            run = 0
    n = 0
    for k in range(len(text)):
        out_index[k] = n
        n += keep[k]
    out_index[len(text)] = n
    new_text = "".join(ch for ch, kept in zip(text, keep) if kept)
    stripped = new_text.lstrip("\n")
    offset = len(new_text) - len(stripped)
    stripped = stripped.rstrip("\n")
    new_links = []
    for link in links:
        s, e = out_index[link.start] - offset, out_index[link.end] - offset
        if s < e <= len(stripped):
            new_links.append(Link(s, e, link.target))
    return stripped, new_links
