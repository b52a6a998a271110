"""Wikitext -> plain text and link spans without a parse tree: WikitextConverter's output, faster.

WikitextConverter lets mwparserfromhell build a tree of Python objects and walks it; building
the tree is most of the Wikipedia step's time. This scanner reads the wikitext left to right,
jumping with regular expressions to the next character that matters in the current context,
and writes what the converter keeps as it goes. Open constructs (templates, links, tags,
tables, bold/italic, ...) are frames on an explicit stack, never Python recursion; plain ones
are read at once by a regular expression.

It follows the grammar of mwparserfromhell's C tokenizer (its contexts and their flags, its
record of failed routes, its limit of 100 levels) so that the output is the same: where a
construct is not closed, its opening markup becomes text and the text after it is read again.
Reading again could take time quadratic in the page; a budget on it keeps the time linear
(see _fail). ``python -m preprocess.wikitext_scanner --compare DUMP...`` counts the articles
where the two differ, by kind; docs/dump-sources.md ("The wikitext scanner") explains them.
"""

import argparse
import collections
import html.entities
import re
import sys

from .wikitext import ARTICLE, KEEP_TAGS, LINK_TRAIL, NAMESPACE, SPACES, Link, LinkRules, WikitextConverter, _normalize

# -- contexts: flags with the meaning of mwparserfromhell's tokenizer contexts -----------------
T_NAME, T_KEY, T_VALUE = 1 << 0, 1 << 1, 1 << 2            # template {{name|key=value}}
A_NAME, A_DEFAULT = 1 << 3, 1 << 4                           # argument {{{name|default}}}
L_TITLE, L_TEXT = 1 << 5, 1 << 6                             # wikilink [[title|text]]
X_URI, X_TITLE = 1 << 7, 1 << 8                              # external link [uri title]
H1 = 1 << 9                                                  # heading level 1 (.. 6: H1 << 5)
TG_OPEN, TG_BODY, TG_CLOSE = 1 << 15, 1 << 17, 1 << 18       # <tag ...>, its body, </tag>
S_ITAL, S_BOLD, S_AGAIN, S_SECOND = 1 << 19, 1 << 20, 1 << 21, 1 << 22   # '' and '''
DL = 1 << 23                                                 # after ';' of a definition list
HAS_TEXT, FAIL_ON_TEXT, FAIL_NEXT, FAIL_LBRACE, FAIL_RBRACE, FAIL_EQUALS, HAS_TEMPLATE = (
    1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30)
TB_OPEN, TB_CELL, TB_STYLE, TB_ROW, TB_TD, TB_TH = 1 << 31, 1 << 32, 1 << 33, 1 << 34, 1 << 35, 1 << 36
T, A, L, X = T_NAME | T_KEY | T_VALUE, A_NAME | A_DEFAULT, L_TITLE | L_TEXT, X_URI | X_TITLE
H = 0b111111 * H1
TB_LINE = TB_TD | TB_TH | TB_STYLE
FAIL = T | A | L | X_TITLE | H | TG_OPEN | TG_BODY | TG_CLOSE | S_ITAL | S_BOLD | TB_OPEN
UNSAFE = T_NAME | T_KEY | A_NAME | L_TITLE | X_TITLE  # as in the C tokenizer (not its Python twin)
NO_WIKILINKS = T_NAME | A_NAME | L_TITLE | X_URI
NO_EXT_LINKS = T_NAME | A_NAME | L_TITLE | X
ONE_CHAR = FAIL_NEXT | FAIL_LBRACE | FAIL_RBRACE             # the next character decides
CAREFUL = ONE_CHAR | T_NAME
CHECKED = frozenset("]{\n[}><=")                            # what _safe looks at, but in a name
LINE_MARKUP = frozenset("=#*;:-")                            # markup at a line's start
TG_ATTR = 1 << 16                                            # memo key of a quoted attribute value

# states of an HTML tag's (or a table line's) attributes
NAME, READY, ATTR_NAME, ATTR_VALUE, QUOTED, NOTE_SPACE, NOTE_EQUALS, NOTE_QUOTE = (1 << k for k in range(8))

# loops: how the top frame reads on
PARSE, URI, FREE, TAG, STYLE_ATTRS, HOLD = range(6)
# output modes: NONE (dropped), WALK (WikitextConverter's walk), STRIP (mwparserfromhell's strip_code)
NONE, WALK, STRIP = 0, 1, 2

MARKERS = frozenset("{}[]<>|=&'#*;:/-!\n\0")
SCHEMES = {"bitcoin": 0, "ftp": 1, "ftps": 1, "geo": 0, "git": 1, "gopher": 1, "http": 1, "https": 1,
           "irc": 1, "ircs": 1, "magnet": 0, "mailto": 0, "mms": 1, "news": 0, "nntp": 1, "redis": 1,
           "sftp": 1, "sip": 0, "sips": 0, "sms": 0, "ssh": 1, "svn": 1, "tel": 0, "telnet": 1, "urn": 0,
           "worldwind": 1, "xmpp": 0}  # 1: needs "//"
RAW_TAGS = {"categorytree", "ce", "chem", "gallery", "graph", "hiero", "imagemap", "inputbox", "math",
            "nowiki", "pre", "score", "section", "source", "syntaxhighlight", "templatedata", "timeline"}
INVISIBLE_TAGS = {"categorytree", "gallery", "graph", "imagemap", "inputbox", "math", "score", "section",
                  "templatedata", "timeline"}
SINGLE_ONLY = {"br", "wbr", "hr", "meta", "link", "img"}
SINGLE = SINGLE_ONLY | {"li", "dt", "dd", "th", "td", "tr"}
PUNCT = ",;\\.:!?"

_M = re.escape("{}[]<>|=&'#*;:/-!")
ENTITY = re.compile(r"&(?:#([xX])0*([0-9A-Fa-f]{1,8})|#0*([0-9]{1,8})|([A-Za-z0-9]{1,8}));")
NAME_RUN = re.compile(rf"[^\s{_M}]+|[^\S\n]+")            # a template name's characters, by kind
# an opening tag that the character-by-character reading would accept as is: plain attributes
TAG_FAST = re.compile(rf"<([^\s{_M}]+)(?:\s+[A-Za-z][\w:.\-]*(?:\s*=\s*(?:\"[^\"<>{{}}\[\]\\]*\"|"
                      rf"'[^'<>{{}}\[\]\\]*'|[^\s\"'<>{{}}\[\]/\\]+))?)*\s*(/?)>")
CLOSE_FAST = re.compile(rf"</([^\s{_M}\"\\]+)\s*>")
RAW_CLOSE = re.compile(r"</([^>\n]*)>")
BRACKETS, LESS = re.compile(r"\[+"), re.compile(r"<+")
TEMPLATE_FAST = re.compile(r"\{\{([^{}\[\]<>|\n']*)(?:\|[^{}\[\]<>|\n']*)*\}\}")  # {{name|param}}, plain
LINK_FAST = re.compile(r"\[\[([^\[\]{}<>|\n'&]*)(?:\|([^\[\]{}<>\n'&:]*))?\]\]")  # [[title|text]], plain
URI_START = re.compile(r"//|([A-Za-z0-9+.\-]*):(//)?")   # a bracketed link's scheme
URI_RUN = re.compile(r"[^&<{\n\[\]>\"' ]+")                    # characters that only extend a URI
FREE_RUN = re.compile(r"[^&<{\n\[\]>\"' |=}(),;\\.:!?]+")
REREAD, BUDGET_BASE = 10, 1 << 20   # re-reading allowed: REREAD x the first reading + BUDGET_BASE
EVENT_COST, ATTR_COST = 16, 4       # work of a character that matters, of one of a tag's attributes
REGEX_KEY = T | A | L | X | H | TG_CLOSE | DL | TB_OPEN
_regexes = {}


def _regex(ctx):
    """The next position worth a look in context ``ctx`` (a superset: the handlers decide).
    Every alternative starts with a fixed character, so that ``re`` skips plain text fast; a
    line's first character is looked at from the newline before it."""
    key = ctx & REGEX_KEY
    parts = [r"\{[{|]", r"\[", "<", "&", "''", r"\n[=#*;:\-]"]
    if not ctx & NO_EXT_LINKS or ctx & DL:
        parts.append(":")  # a free URI's scheme ends here
    for flag, pattern in ((T, r"\||\}\}"), (T_KEY | A_NAME, "[{}=]"), (A, r"\}\}"), (A_NAME, r"\|"),
                          (L_TITLE, r"[\]{}\n|>]"), (L_TEXT, r"\]\]"), (X_TITLE, r"[\]\n]"), (H, "[=\n]"),
                          (TG_CLOSE, ">"), (DL, "\n"), (TB_OPEN, r"[|!\n]")):
        if ctx & flag:
            parts.append(pattern)
    rx = _regexes[key] = re.compile("|".join(parts))
    return rx


def _collapse(text):
    """mwparserfromhell's strip_code(collapse=True) on one level: no newlines at the ends,
    at most two in a row."""
    text = text.strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text) if "\n\n\n" in text else text


def _entity(m, walk):
    """The character of an entity match, or None when mwparserfromhell would not take it."""
    hexa, hex_digits, digits, name = m.groups()
    if name is not None:
        code = html.entities.name2codepoint.get(name)
    else:
        code = int(hex_digits, 16) if hexa else int(digits)
        code = code if 1 <= code <= 0x10FFFF else None
    if code is None:
        return None
    return " " if walk and code == 0xA0 else chr(code)


class _Frame:
    """An open construct: how it is read (``loop``, ``ctx``), what to do when it ends (``ret``,
    called as ret(frame, ok)), and its output so far. ``a`` to ``e`` hold what its kind needs:
    a link its title's start, end, role and parent's mode; a tag its name, attribute state,
    quoted value and parent; a holder of braces the braces left; a heading the '=' counted."""

    __slots__ = ("loop", "ctx", "ident", "ret", "mode", "keep", "start", "group", "w",
                 "buf", "parts", "links", "size", "pending", "nodes", "a", "b", "c", "d", "e")

    def __init__(self, loop, ctx, ident, ret, mode, keep, start, group, a=None, b=None, c=None, d=None, e=None):
        self.loop, self.ctx, self.ident, self.ret = loop, ctx, ident, ret
        self.mode, self.keep, self.start, self.group = mode, keep, start, group
        self.w = 1  # the stacks of mwparserfromhell's tokenizer it stands for (see _can_recurse)
        self.buf, self.parts, self.links = [], [], []
        self.size, self.pending, self.nodes = 0, None, 0
        self.a, self.b, self.c, self.d, self.e = a, b, c, d, e


class WikitextScanner(LinkRules):
    """WikitextConverter's ``convert`` without mwparserfromhell; ``namespaces`` are the wiki's
    localised namespace names."""

    def convert(self, wikitext):
        scan = _Scan(self, wikitext)
        return _normalize(*scan.run())


class _Scan:
    """One page's reading: ``run`` returns the text before _normalize and its links."""

    def __init__(self, rules, s):
        s = s.split("\0", 1)[0]  # mwparserfromhell reads a NUL as the end of the text
        self.rules, self.s, self.n = rules, s, len(s)
        self.pos, self.stack, self.bad = 0, [], set()
        self.line = 0               # a line's first character: looked at without a search
        self.heading = False        # inside a heading (mwparserfromhell's global GL_HEADING)
        self.work = self.fresh = 0  # all work; work on text not read before
        self.frontier = -1          # the furthest position read
        self.depth = 0              # mwparserfromhell's stacks (see _can_recurse)
        self.degraded, self.disabled = False, 0
        self.last_comment_end = s.rfind("-->")  # a <!-- after it is text at once
        self.raw = {}               # a raw tag's name -> (searched from, its first closer there or -1)
        self.loops = (self._parse, self._uri, self._free, self._attrs, self._attrs)

    def run(self):
        root = _Frame(PARSE, 0, None, None, WALK, True, 0, 0)
        self._append(root)
        loops, stack = self.loops, self.stack
        while stack:
            f = stack[-1]
            loops[f.loop](f)
        text, links = self._result(root)
        return text, [Link(a, b, t) for a, b, t in links]

    # -- output ------------------------------------------------------------------------------
    def _flush(self, f):
        """End f's current run of text (a Text node): an article link before it takes its
        letters as its trail, [[bus]]es."""
        text = "".join(f.buf) if f.buf else ""
        f.buf = []
        if f.pending is not None:
            anchor, title = f.pending
            f.pending = None
            trail = LINK_TRAIL.match(text)
            if trail:
                anchor += trail.group()
                text = text[trail.end():]
            if "  " in anchor or "\t" in anchor or "\xa0" in anchor:
                anchor = SPACES.sub(" ", anchor)
            start = f.size
            f.parts.append(anchor)
            f.size += len(anchor)
            if f.keep and self.rules.is_link(anchor, title):
                f.links.append((start, f.size, title))
        if text:
            f.parts.append(text)
            f.size += len(text)

    def _node(self, f, out=None, links=None):
        """A node ends f's text; ``out`` is what it shows, ``links`` its spans in ``out``."""
        f.nodes += 1
        if f.mode:
            if f.buf or f.pending is not None:
                self._flush(f)
            if out:
                if links and f.keep:
                    base = f.size
                    f.links.extend((a + base, b + base, t) for a, b, t in links)
                f.parts.append(out)
                f.size += len(out)

    def _result(self, f):
        self._flush(f)
        return "".join(f.parts), f.links

    def _strip(self, f):
        return _collapse(self._result(f)[0])

    def _splice(self, p, f):
        """f's nodes become p's (a holder's, or a tag's body closed implicitly at the end)."""
        if f.nodes or f.buf or f.parts:
            text, links = self._result(f)
            if p.mode:
                self._flush(p)
                if links and p.keep:
                    p.links.extend((a + p.size, b + p.size, t) for a, b, t in links)
                if text:
                    p.parts.append(text)
                    p.size += len(text)
            p.nodes += f.nodes

    # -- frames ------------------------------------------------------------------------------
    def _push(self, loop, ctx, at, ret, mode, keep=False, group=0, ident=True,
              a=None, b=None, c=None, d=None, e=None):
        """Open a frame at ``at`` (the position it reads from), or fail it at once when its route
        failed before (mwparserfromhell's record of bad routes, which the scanner keeps the same:
        what a construct reads inside, and records, can change what follows; so the scanner
        never skips reading a construct that mwparserfromhell reads, even one bound to fail)."""
        f = _Frame(loop, ctx, (at, ctx) if ident else None, ret, mode, keep, at, group, a, b, c, d, e)
        self.pos = at
        if (ident and f.ident in self.bad) or group & self.disabled:
            ret(f, False)
            return None
        self._append(f)
        return f

    def _append(self, f):
        self.stack.append(f)
        self.depth += f.w

    def _pop(self):
        f = self.stack.pop()
        self.depth -= f.w
        return f

    def _weigh(self, f, w):
        self.depth += w - f.w
        f.w = w

    def _close(self, f, pos):
        """f ends well; the text goes on at ``pos``."""
        self._pop()
        self.pos = pos
        f.ret(f, True)

    def _fail(self, f):
        """f cannot be read as its construct: drop it and what is open above it. Past the work
        budget its kind is read as text from now on, and the outermost open construct of a kind
        read as text fails with it (one more reading of the page per kind, at most)."""
        stack = self.stack
        if self.degraded and f.group:
            self.disabled |= f.group
            f = next(g for g in stack if g.group & self.disabled)
        while True:
            g = self._pop()
            if g.ret == self._heading_done:
                self.heading = False
            if g is f:
                break
        if f.ident is not None:
            self.bad.add(f.ident)
        f.ret(f, False)

    def _spend(self, amount, end):
        """Count work that read up to ``end``. Work on text read before is re-reading: past
        REREAD times the first reading, failures turn their kind of construct off (see _fail)."""
        self.work += amount
        if end > self.frontier:
            self.fresh += amount
            self.frontier = end
        elif self.work - self.fresh > REREAD * self.fresh + BUDGET_BASE:
            self.degraded = True

    def _can_recurse(self):
        """Whether mwparserfromhell opens one more construct here: past 100 of its stacks it
        reads an opening as text. Its stacks per frame: one; one more for a template's key, for
        an attribute being read in a tag or table line and for its quoted value; none for the
        holder of five quotes (it has no stack while the tags inside are read)."""
        return self.depth < 100

    def _at_line_start(self, i):
        return i == 0 or self.s[i - 1] == "\n"

    def _leading_space(self, i):
        """Only white space between the line's start and ``i``."""
        s = self.s
        j = i - 1
        while j >= 0 and s[j] != "\n":
            if not s[j].isspace():
                return False
            j -= 1
        return True

    # -- the main loop -----------------------------------------------------------------------
    def _parse(self, f):
        """Read f's contents while it is the open construct: text up to the next character
        that matters, then that character (mwparserfromhell's _parse, one branch per event)."""
        s, n, stack = self.s, self.n, self.stack
        while True:
            pos, ctx = self.pos, f.ctx
            if ctx & CAREFUL and ctx & UNSAFE:  # a template's name, or a character that decides alone
                if ctx & FAIL_NEXT:
                    return self._unsafe(f)
                m = NAME_RUN.match(s, pos) if ctx & T_NAME else None
                if m:
                    if not m.group()[0].isspace():
                        if ctx & HAS_TEXT and ctx & FAIL_ON_TEXT:
                            return self._unsafe(f)
                        f.ctx |= HAS_TEXT
                    self._spend(m.end() - pos + EVENT_COST, m.end())
                    self.pos = m.end()
                    continue
                i = pos
            elif pos == self.line or (s[pos - 1] == "\n" and pos < n and s[pos] in LINE_MARKUP):
                i = pos  # read on from a line's start
            else:
                m = (_regexes.get(ctx & REGEX_KEY) or _regex(ctx)).search(s, pos)
                i = n if m is None else m.start()
                if i > pos and f.mode:
                    f.buf.append(s[pos:i])
            cost = i - pos + EVENT_COST  # _spend, inline
            self.work += cost
            if i > self.frontier:
                self.fresh += cost
                self.frontier = i
            elif self.work - self.fresh > REREAD * self.fresh + BUDGET_BASE:
                self.degraded = True
            c = s[i] if i < n else "\0"
            if ctx & UNSAFE and (ctx & (T_NAME | ONE_CHAR) or c in CHECKED) and not self._safe(f, c, i):
                return self._unsafe(f)
            ctx = f.ctx
            nxt = s[i + 1] if i + 1 < n else "\0"
            text = False  # c is plain text here
            if c == "|":
                if ctx & T:  # a template's next key: its own stack
                    if ctx & T_NAME:
                        if not ctx & (HAS_TEXT | HAS_TEMPLATE):
                            return self._fail(f)
                        f.a = ctx ^ T_NAME | T_KEY
                    elif ctx & T_VALUE:
                        f.a = ctx ^ T_VALUE | T_KEY
                    f.ctx = f.a  # (in a key already: the template's own context, under this key's)
                    self.depth += 2 - f.w
                    f.w = 2
                    self.pos = i + 1
                elif ctx & A_NAME:
                    f.ctx = ctx ^ A_NAME | A_DEFAULT
                    f.buf, f.parts, f.size, f.nodes = [], [], 0, 0  # what shows is the default
                    self.pos = i + 1
                elif ctx & L_TITLE:
                    self._link_bar(f, i)
                elif ctx & TB_OPEN:
                    self._table_bar(f, i, c, nxt)
                else:
                    text = True
            elif c == "=":
                if ctx & T_KEY:
                    if not self.heading and self._at_line_start(i) and nxt == "=":
                        self._heading(f, i)
                    else:
                        f.ctx = f.a & ~T_KEY | T_VALUE
                        self.depth -= 1
                        f.w = 1
                        self.pos = i + 1
                elif not self.heading and not ctx & T:
                    if self._at_line_start(i):
                        self._heading(f, i)
                    else:
                        text = True
                elif ctx & H:
                    self._heading_end(f, i)
                else:
                    text = True
            elif c == "]":
                if nxt == "]" and ctx & L:
                    return self._close(f, i + 2)
                if ctx & X_TITLE:
                    return self._close(f, i + 1)
                text = True
            elif c == "[":
                if nxt == "[" and s[i + 2:i + 3] == "[":
                    # [[[: a link's title cannot start with [, so "[[" is text, pair by pair
                    k = BRACKETS.match(s, i).end() - i
                    if f.mode:
                        f.buf.append("[" * (k - 1 - (k - 1) % 2))
                    self.pos = i + k - 1 - (k - 1) % 2
                elif nxt != "[":
                    self._ext_link(f, i)
                elif not ctx & NO_WIKILINKS and self._can_recurse():
                    self._wikilink(f, i)
                else:
                    text = True
            elif c == "<":
                if nxt == "!":
                    if s[i + 2:i + 4] == "--":
                        self._comment(f, i)
                    else:
                        text = True
                elif nxt == "/" and i + 2 < n:
                    if ctx & TG_BODY:
                        self._close_tag(f, i)
                    else:
                        self._invalid_tag(f, i)
                elif not ctx & TG_CLOSE and self._can_recurse():
                    self._tag(f, i)
                else:
                    text = True
            elif c == "'":
                if nxt == "'":
                    self._style(f, i)
                else:
                    text = True
            elif c == "}":
                if nxt == "}" and ctx & T:
                    if ctx & T_NAME and not ctx & (HAS_TEXT | HAS_TEMPLATE):
                        return self._fail(f)
                    return self._close(f, i + 2)
                if nxt == "}" and ctx & A and s[i + 2:i + 3] == "}":
                    return self._close(f, i + 3)
                text = True
            elif c == "{":
                if nxt == "{" and self._can_recurse():
                    self._braces(f, i)
                elif nxt == "|" and self._leading_space(i) and self._can_recurse():
                    self._table(f, i)
                else:
                    text = True
            elif c == ":":
                if i and s[i - 1] not in MARKERS:
                    self._free_link(f, i)
                elif self._at_line_start(i):
                    self._list(f, i)
                elif ctx & DL:
                    self._dl_term(f, i, c)
                else:
                    text = True
            elif c == "\n":
                if ctx & H:
                    return self._fail(f)
                if ctx & DL:
                    self._dl_term(f, i, c)
                else:
                    if ctx & TB_OPEN and ctx & TB_LINE:
                        f.ctx &= ~TB_LINE
                    text = True
                self.line = i + 1
            elif c == "&":
                self._entity(f, i)
            elif c == ">":
                if ctx & TG_CLOSE:
                    return self._close_close(f, i)
                text = True
            elif c in "#*;":
                if self._at_line_start(i):
                    self._list(f, i)
                else:
                    text = True
            elif c == "-":
                if self._at_line_start(i) and s[i:i + 4] == "----":
                    j = i + 4
                    while j < n and s[j] == "-":
                        j += 1
                    self._node(f)
                    self.pos = j
                else:
                    text = True
            elif c == "!":
                if ctx & TB_OPEN:
                    self._table_bar(f, i, c, nxt)
                else:
                    text = True
            elif c == "\0":
                return self._end(f)
            else:
                text = True
            if text:
                if f.mode:
                    f.buf.append(c)
                self.pos = i + 1
            elif not stack or stack[-1] is not f or f.loop != PARSE:
                return

    def _safe(self, f, c, i):
        """mwparserfromhell's check of a character in a context that some characters end."""
        ctx = f.ctx
        if ctx & L_TITLE:
            if c == "]" or c == "{":
                f.ctx |= FAIL_NEXT
            elif c in "\n[}>":
                return False
            elif c == "<":
                if self.s[i + 1:i + 2] != "!":
                    return False
                f.ctx |= FAIL_NEXT
            return True
        if ctx & X_TITLE:
            return c != "\n"
        if ctx & T_NAME:
            if c == "{":
                f.ctx |= HAS_TEMPLATE | FAIL_NEXT
            elif c == "}" or (c == "<" and self.s[i + 1:i + 2] == "!"):
                f.ctx |= FAIL_NEXT
            elif c in "[]<>":
                return False
            elif c != "|":
                if ctx & HAS_TEXT:
                    if ctx & FAIL_ON_TEXT:
                        return c.isspace()
                    if c == "\n":
                        f.ctx |= FAIL_ON_TEXT
                elif not c.isspace():
                    f.ctx |= HAS_TEXT
            return True
        if ctx & FAIL_EQUALS:  # a template's key or an argument's name
            return c != "="
        if ctx & FAIL_LBRACE:
            if c == "{" or (i >= 2 and self.s[i - 2:i] == "{{"):
                f.ctx |= FAIL_EQUALS if ctx & T else FAIL_NEXT
                return True
            f.ctx ^= FAIL_LBRACE
        elif ctx & FAIL_RBRACE:
            if c == "}":
                f.ctx |= FAIL_NEXT
                return True
            f.ctx ^= FAIL_RBRACE
        elif c == "{":
            f.ctx |= FAIL_LBRACE
        elif c == "}":
            f.ctx |= FAIL_RBRACE
        return True

    def _unsafe(self, f):
        """A character its context does not allow: the construct fails."""
        return self._fail(f)

    def _end(self, f):
        ctx = f.ctx
        if not ctx & FAIL:
            self._pop()  # the page
            return
        if ctx & TG_BODY and f.a.lower() in SINGLE:
            # <li> and the like close themselves at the end; their body follows them
            self._pop()
            p = self.stack[-1]
            self._node(p)
            self._splice(p, f)
            self.pos = self.n
            return
        if ctx & TB_CELL:  # a cell, and its row, end without a record of their failure: the table fails
            f = self.stack[-2]
            ctx = f.ctx
        if ctx & (TG_CLOSE | TB_ROW):
            f = self.stack[-2]
        self._fail(f)

    # -- templates and arguments: {{name|key=value}}, {{{name|default}}} -----------------------
    def _braces(self, p, i):
        """{{, {{{, ...: templates and arguments, read by a holder of the braces. A template
        with no markup inside (TEMPLATE_FAST) is read at once: its reading can only succeed."""
        s, n = self.s, self.n
        if not self.disabled:
            m = TEMPLATE_FAST.match(s, i)
            if m and not m.group(1).isspace() and m.group(1):
                self._node(p)
                p.ctx &= ~FAIL_NEXT
                self.pos = m.end()
                return
        j = i + 2
        while j < n and s[j] == "{" and j - i < 255:
            j += 1
        h = _Frame(HOLD, 0, None, self._holder_done, p.mode, p.keep, i, 0)
        h.a, h.b = j - i, False  # braces left, an inner construct parsed
        self._append(h)
        self.pos = j
        self._braces_next(h)

    def _braces_next(self, h):
        braces, at = h.a, self.pos
        if braces == 0:
            return self._close(h, at)
        if braces == 1:
            return self._braces_fail(h, "{")
        if braces == 2:
            ctx = T_NAME | (HAS_TEMPLATE if h.b else 0)
            self._push(PARSE, ctx, at, self._template_done, NONE, group=T)
        else:
            self._push(PARSE, A_NAME, at, self._argument_done, h.mode if h.mode == STRIP else NONE,
                       group=A)

    def _braces_fail(self, h, text):
        self._pop()
        p = self.stack[-1]
        if p.mode:
            p.buf.append(text)
        self._splice(p, h)

    def _template_done(self, f, ok):
        h = self.stack[-1]
        if not ok:
            self.pos = f.start
            return self._braces_fail(h, "{" * h.a)
        self._wrap(h)
        h.a -= 2
        h.b = True
        self._braces_next(h)

    def _argument_done(self, f, ok):
        h = self.stack[-1]
        if not ok:
            self._push(PARSE, T_NAME | (HAS_TEMPLATE if h.b else 0), f.start, self._template_done, NONE,
                       group=T)
            return
        self._wrap(h, self._strip(f) if h.mode == STRIP and f.ctx & A_DEFAULT else None)
        h.a -= 3
        h.b = True
        self._braces_next(h)

    @staticmethod
    def _wrap(h, out=None):
        """A construct read in h's braces: the ones read before are inside its name ({{{{{a}}}}}
        is a template named by an argument), so it is h's one node."""
        h.parts, h.size, h.nodes = [out] if out else [], len(out or ""), 1

    def _holder_done(self, h, ok):
        p = self.stack[-1]
        self._splice(p, h)
        p.ctx &= ~FAIL_NEXT

    # -- wikilinks [[title|text]] ----------------------------------------------------------------
    def _wikilink(self, p, i):
        """[[: an external link if a URI follows (then "[" is text), else a wikilink. A link with
        no markup inside (LINK_FAST) is read at once, as its frame would read it."""
        if self._uri_start(i + 2) is not None:
            return self._push(URI, X_URI, i + 2, self._wikilink_uri_done, NONE, group=X)
        m = None if self.disabled else LINK_FAST.match(self.s, i)
        if m is None:
            return self._link_title(p, i + 2)
        self.pos = m.end()
        title, text = m.group(1), m.group(2)
        if p.mode == WALK:
            return self._link_node(p, self.rules.role(title), text)
        self._node(p, (title if text is None else text) if p.mode == STRIP else None)

    def _link_title(self, p, at):
        self._push(PARSE, L_TITLE, at, self._wikilink_done, STRIP if p.mode == STRIP else NONE,
                   group=L, a=at, d=p.mode)

    def _wikilink_uri_done(self, f, ok):
        p = self.stack[-1]
        i = f.start - 2
        if not ok:
            return self._link_title(p, i + 2)
        if p.ctx & X_TITLE:  # [[http://...]] inside an external link's title: text
            if p.mode:
                p.buf.append("[[")
            self.pos = i + 2
            return
        if p.mode:
            p.buf.append("[")
        self._ext_link_done(f, True)

    def _link_bar(self, f, i):
        f.ctx = f.ctx ^ L_TITLE | L_TEXT
        f.b = i
        f.buf, f.parts, f.links, f.size, f.nodes, f.pending = [], [], [], 0, 0, None
        if f.d == WALK:
            kind, _, shown = f.c = self.rules.role(self.s[f.a:i])
            f.mode = (WALK if kind == NAMESPACE else STRIP) if shown else NONE
        else:
            f.mode = f.d
        f.keep = False
        self.pos = i + 1

    def _wikilink_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            if p.mode:
                p.buf.append("[[")
            self.pos = f.a
            return
        if p.mode == STRIP:
            return self._node(p, self._strip(f))
        if p.mode == NONE:
            return self._node(p)
        if f.b is None:  # no text
            return self._link_node(p, self.rules.role(self.s[f.a:self.pos - 2]), None)
        self._link_node(p, f.c, self._result(f)[0] if f.c[0] == NAMESPACE else self._strip(f))

    def _link_node(self, p, role, text):
        """p (WALK) gets the node of a link: ``role`` is (kind, title, shown) of its title,
        ``text`` its text as shown (None without '|'). An article link waits for its trail."""
        kind, title, shown = role
        if kind != ARTICLE:  # a file, a category, another wiki: its text or title, if shown
            return self._node(p, (title if text is None else text) if shown else None)
        self._node(p)
        p.pending = (self.rules.anchor(title, text), title)

    # -- external links: [uri title], free uri ---------------------------------------------------
    def _ext_link(self, p, i):
        if p.ctx & NO_EXT_LINKS or not self._can_recurse() or self._uri_start(i + 1) is None:
            if p.mode:
                p.buf.append("[")
            self.pos = i + 1
            return
        self._push(URI, X_URI, i + 1, self._ext_link_done, NONE, group=X)

    def _uri_start(self, pos):
        """Where a bracketed link's URI goes on after its scheme ("//", or "http:" or
        "http://" for a known scheme), or None when mwparserfromhell would not take it."""
        m = URI_START.match(self.s, pos)
        if m is None:
            return None
        if m.group(1) is not None and SCHEMES.get(m.group(1).lower(), 2) > (m.group(2) is not None):
            return None
        end = m.end()
        return None if end >= self.n or self.s[end] in "\n ]" else end

    def _uri(self, f):
        """The URI of a bracketed external link, up to its title or its ']'."""
        s, n = self.s, self.n
        pos = self.pos
        if f.a is None:  # its scheme first
            f.a = True
            pos = self._uri_start(pos)
            if pos is None:
                return self._fail(f)
        start = pos
        while True:
            m = URI_RUN.match(s, pos)
            if m:
                pos = m.end()
            c = s[pos] if pos < n else "\0"
            nxt = s[pos + 1] if pos + 1 < n else "\0"
            if c == "&" or (c == "<" and s[pos + 1:pos + 4] == "!--") or (c == "{" and nxt == "{"
                                                                          and self._can_recurse()):
                self._spend(pos - start + EVENT_COST, pos)
                self.pos = pos
                return self._entity(f, pos) if c == "&" else self._comment(f, pos) if c == "<" else \
                    self._braces(f, pos)
            if c == "{" or (c == "'" and nxt != "'"):
                pos += 1
                continue
            self._spend(pos - start + EVENT_COST, pos)
            if c == "\0" or c == "\n":
                return self._fail(f)
            if c == "]":
                return self._close(f, pos + 1)
            if c == " ":  # [[uri title]]; any other end of the URI starts the title too
                pos += 1
            p = self.stack[-2]
            f.loop, f.ctx, f.mode, f.b = PARSE, X_TITLE, p.mode, True
            self.pos = pos
            return

    def _ext_link_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            if p.mode:
                p.buf.append("[")
            self.pos = f.start
            return
        if not f.b:
            return self._node(p)
        self._node(p, self._result(f)[0] if p.mode == WALK else self._strip(f) if p.mode == STRIP else None)

    def _free_link(self, p, i):
        s = self.s
        j = i
        while j and (s[j - 1].isalnum() or s[j - 1] == "_"):
            j -= 1
        scheme = s[j:i]
        slashes = s[i + 1:i + 3] == "//"
        if (p.ctx & NO_EXT_LINKS or not self._can_recurse() or SCHEMES.get(scheme.lower(), 2) > slashes
                or not scheme.isascii()):
            return self._not_a_link(p, i)
        f = self._push(FREE, p.ctx | X_URI, i + 1, self._free_done, STRIP if p.mode == STRIP else NONE, group=X)
        if f is None:
            return
        f.a, f.b, f.c = scheme, "", False  # the scheme, trailing punctuation, a '(' seen
        pos = i + 3 if slashes else i + 1
        if f.mode:
            f.buf.append(s[j:pos])
        c = s[pos] if pos < self.n else "\0"
        if c in "\0\n []":
            return self._fail(f)
        self.pos = pos

    def _free(self, f):
        """A free URI, up to a character that ends it; punctuation at its end is not part of it."""
        s, n = self.s, self.n
        pos, ctx = self.pos, f.ctx
        start = pos
        while True:
            m = FREE_RUN.match(s, pos)
            if m:
                if f.mode:
                    if f.b:
                        f.buf.append(f.b)
                    f.buf.append(m.group())
                f.b = ""
                pos = m.end()
            c = s[pos] if pos < n else "\0"
            nxt = s[pos + 1] if pos + 1 < n else "\0"
            if c == "&" or (c == "<" and s[pos + 1:pos + 4] == "!--") or (c == "{" and nxt == "{"
                                                                          and self._can_recurse()):
                if f.b and f.mode:
                    f.buf.append(f.b)
                f.b = ""
                self._spend(pos - start + EVENT_COST, pos)
                self.pos = pos
                return self._entity(f, pos) if c == "&" else self._comment(f, pos) if c == "<" else \
                    self._braces(f, pos)
            if (c in "\0\n[]<>\" " or (c == "'" and nxt == "'") or (c == "|" and ctx & T)
                    or (c == "=" and ctx & (T_KEY | H))
                    or (c == "}" and nxt == "}" and (ctx & T or (ctx & A and s[pos + 2:pos + 3] == "}")))):
                if c == " ":
                    f.b += " "
                    pos += 1
                self._spend(pos - start + EVENT_COST, pos)
                return self._close(f, pos)
            if c == "(" and not f.c:
                f.c = True
            elif c in PUNCT or (c == ")" and not f.c):
                f.b += c
                pos += 1
                continue
            if f.mode:
                if f.b:
                    f.buf.append(f.b)
                f.buf.append(c)
            f.b = ""
            pos += 1

    def _free_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            return self._not_a_link(p, f.start - 1)
        if p.mode:  # the scheme was read as text before its colon
            k = len(f.a)
            while k and p.buf:
                last = p.buf.pop()
                if len(last) > k:
                    p.buf.append(last[:-k])
                    break
                k -= len(last)
        self._node(p, self._strip(f) if p.mode == STRIP else None)
        if f.b and p.mode:
            p.buf.append(f.b)

    def _not_a_link(self, p, i):
        if p.ctx & DL:
            return self._dl_term(p, i, ":")
        if p.mode:
            p.buf.append(":")
        self.pos = i + 1

    # -- headings ----------------------------------------------------------------------------
    def _heading(self, p, i):
        s, n = self.s, self.n
        j = i + 1
        while j < n and s[j] == "=":
            j += 1
        best = j - i
        self.heading = True
        self._push(PARSE, H1 << min(best - 1, 5), j, self._heading_done, p.mode, group=H, a=best)

    def _heading_end(self, f, i):
        """A run of '=' in a heading: its end, unless another run follows on the line."""
        s, n = self.s, self.n
        j = i + 1
        while j < n and s[j] == "=":
            j += 1
        level = min((f.ctx // H1).bit_length(), j - i, 6)  # mwparserfromhell's level, from the whole context
        self._push(PARSE, f.ctx, j, self._heading_more, f.mode, f.keep, a=j - i, b=level, c=i)

    def _heading_more(self, g, ok):
        """g, the reading after a run of '=' in heading f, ends: if it found a later run, the
        run is text in f and f ends where g did; else the run ends f. f may itself be such a
        reading: the chain of them ends here, in a loop (a line may hold many runs)."""
        while True:
            f = self._pop()
            if ok:
                if f.mode:
                    f.buf.append("=" * g.a)
                self._splice(f, g)
            else:
                if g.b < g.a and f.mode:
                    f.buf.append("=" * (g.a - g.b))
                self.pos = g.c + g.a
            f.b = g.b
            if f.ret != self._heading_more:
                return f.ret(f, True)
            g, ok = f, True

    def _heading_done(self, f, ok):
        self.heading = False
        p = self.stack[-1]
        if not ok:
            if p.mode:
                p.buf.append("=" * f.a)
            self.pos = f.start
            return
        best, level = f.a, f.b
        title = ("=" * (best - level) if level < best else "") + self._result(f)[0]
        self._node(p, "\n\n" + title + "\n\n" if p.mode == WALK else _collapse(title) if p.mode == STRIP else None)

    # -- entities, comments, lists -----------------------------------------------------------
    def _entity(self, f, i):
        m = ENTITY.match(self.s, i)
        char = _entity(m, f.mode == WALK) if m else None
        if char is None:
            if f.mode:
                f.buf.append("&")
            self.pos = i + 1
            return
        self._node(f, char)
        self.pos = m.end()

    def _comment(self, f, i):
        end = self.s.find("-->", i + 4) if self.last_comment_end >= i + 4 else -1
        if end < 0:
            if f.mode:
                f.buf.append("<!--")
            self.pos = i + 4
            return
        self._node(f)
        f.ctx &= ~FAIL_NEXT
        self.pos = end + 3

    def _list(self, f, i):
        s, n = self.s, self.n
        j = i
        while j < n and s[j] in "#*;:":
            if s[j] == ";":
                f.ctx |= DL
            self._node(f)
            j += 1
        self.pos = j

    def _dl_term(self, f, i, c):
        f.ctx ^= DL
        if c == ":":
            self._node(f)
        else:
            if f.mode:
                f.buf.append("\n")
            f.ctx &= ~TB_LINE
        self.pos = i + 1

    # -- HTML tags ---------------------------------------------------------------------------
    def _tag_mode(self, p, name):
        if p.mode == WALK:
            return WALK if name in KEEP_TAGS or name in SINGLE else NONE
        return STRIP if p.mode == STRIP and name not in INVISIBLE_TAGS else NONE

    def _tag(self, p, i):
        c = self.s[i + 1] if i + 1 < self.n else "\0"
        if c in MARKERS or c.isspace():  # a tag's name starts right after the <: text (<<< at once)
            k = LESS.match(self.s, i).end() - i if c == "<" else 2
            if p.mode:
                p.buf.append("<" * (k - 1))
            self.pos = i + k - 1
            return
        f = self._push(TAG, TG_OPEN, i + 1, self._tag_done, NONE, group=TG_OPEN, b=NAME, d=p)
        if f is None:
            return
        m = TAG_FAST.match(self.s, i)
        if m:
            f.a = m.group(1)
            return self._tag_opened(f, m.end(), m.group(2) == "/")

    def _invalid_tag(self, p, i):
        """</br> and the like: a tag that closes itself; any other </x is text."""
        s, n = self.s, self.n
        j = i + 2
        while j < n and not s[j].isspace() and s[j] not in MARKERS:
            j += 1
        if s[i + 2:j].lower() not in SINGLE_ONLY:
            if p.mode:
                p.buf.append("</")
            self.pos = i + 2
            return
        self._push(TAG, TG_OPEN, i + 2, self._invalid_tag_done, NONE, group=TG_OPEN, b=NAME, d=p)

    def _invalid_tag_done(self, f, ok):
        if ok:
            return self._tag_done(f, ok)
        p = self.stack[-1]
        if p.mode:
            p.buf.append("</")
        self.pos = f.start

    def _tag_opened(self, f, pos, self_closing):
        """After <name ...>: its body (parsed, or raw text), or nothing."""
        self._weigh(f, 1)
        name = f.a.lower()
        p = f.d
        f.b = None
        if self_closing or name in SINGLE_ONLY:
            f.c = False
            return self._close(f, pos)
        f.c = True
        f.mode = self._tag_mode(p, name)
        f.keep = p.keep
        if name in RAW_TAGS:
            return self._raw_body(f, pos)
        f.loop, f.ctx = PARSE, TG_BODY
        self.pos = pos

    def _raw_body(self, f, pos):
        """The body of <nowiki>, <math>, ...: text (and entities) up to </name>. The first
        closer of a name after a position is remembered: searching again from each such tag
        would take time quadratic in the page."""
        s = self.s
        name = f.a.rstrip().lower()
        searched, at = self.raw.get(name, (None, None))
        if searched is None or pos < searched or 0 <= at < pos:
            searched = at = pos
            while True:
                at = s.find("</", at)
                if at < 0:
                    break
                m = RAW_CLOSE.match(s, at)
                if m and m.group(1).rstrip().lower() == name:
                    break
                at += 2
            self._spend((self.n if at < 0 else at) - pos, self.n if at < 0 else at)
            self.raw[name] = (searched, at)
        if at < 0:
            return self._fail(f)
        m = RAW_CLOSE.match(s, at)
        if f.mode:
            body = s[pos:at]
            walk = f.mode == WALK
            k = 0
            for e in ENTITY.finditer(body):
                char = _entity(e, walk)
                if char is not None:
                    f.buf.append(body[k:e.start()])
                    self._node(f, char)
                    k = e.end()
            f.buf.append(body[k:])
        self._close(f, m.end())

    def _close_tag(self, f, i):
        """</name> in a tag's body: its end if the names agree, else the tag fails."""
        m = CLOSE_FAST.match(self.s, i)
        if m:
            if m.group(1).lower() == f.a.lower():
                return self._close(f, m.end())
            return self._fail(f)
        g = _Frame(PARSE, TG_CLOSE, None, None, STRIP, False, i + 2, 0)
        self._append(g)
        self.pos = i + 2

    def _close_close(self, g, i):
        text = "".join(g.buf)
        self._pop()
        f = self.stack[-1]
        if g.nodes or g.parts or not text or text.rstrip().lower() != f.a.rstrip().lower():
            return self._fail(f)
        self._close(f, i + 1)

    def _tag_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            if p.mode:
                p.buf.append("<")
            self.pos = f.start
            return
        name = f.a.lower()
        if p.mode == WALK:
            if f.c and name in KEEP_TAGS:
                return self._node(p, *self._result(f))
            return self._node(p, "\n" if name == "br" else None)
        if p.mode == STRIP and f.c and name not in INVISIBLE_TAGS:
            return self._node(p, self._strip(f))
        self._node(p)

    def _attrs(self, f):
        """An opening tag's name and attributes (loop TAG), or a table line's attributes (loop
        STYLE_ATTRS, up to the character f.a): mwparserfromhell's reading, one character at a
        time, with the templates, links and tags inside read as such."""
        s, n = self.s, self.n
        pos, st = self.pos, f.b
        tag = f.loop == TAG
        end = None if tag else f.a
        steps = 0
        while True:
            steps += 1
            c = s[pos] if pos < n else "\0"
            can_exit = not st & (QUOTED | NAME) or st & NOTE_SPACE
            if tag:
                if can_exit and (c == ">" or (c == "/" and s[pos + 1:pos + 2] == ">")):
                    if st & NAME:
                        f.a = s[f.start:pos]
                    done = "/" if c == "/" else ">"
                    break
            elif c == end and can_exit:
                done = "attributes"
                break
            if c == "\0" or c == end:
                if st & QUOTED:  # an unclosed quote: read the value again without it
                    st = ATTR_VALUE
                    self.bad.add(f.c[1])
                    pos = f.c[0]
                    continue
                done = "fail"
                break
            space = c.isspace()
            if st & NAME:
                if c in MARKERS or (space and not st & NOTE_SPACE):
                    done = "fail"
                    break
                if not st & NOTE_SPACE:
                    st |= NOTE_SPACE
                elif space:
                    f.a = s[f.start:pos]
                    st = READY
                    pos += 1
                    continue
            elif space:
                if (st & ATTR_VALUE and not st & (QUOTED | NOTE_QUOTE)) or (st & QUOTED and st & NOTE_SPACE):
                    st = READY
                elif st & NOTE_SPACE:
                    st = READY
                elif st & ATTR_NAME:
                    st |= NOTE_EQUALS
                pos += 1
                continue
            elif st & NOTE_SPACE:
                if st & QUOTED:  # text right after a closing quote: read the value again unquoted
                    st = ATTR_VALUE
                    self.bad.add(f.c[1])
                    pos = f.c[0]
                    continue
                done = "fail"
                break
            elif st & READY:
                st = ATTR_NAME
            elif st & ATTR_NAME:
                if c == "=":
                    st = ATTR_VALUE | NOTE_QUOTE
                    pos += 1
                    continue
                if st & NOTE_EQUALS:
                    st = ATTR_NAME
            else:  # a value
                escaped = pos and s[pos - 1] == "\\" and (pos < 2 or s[pos - 2] != "\\")
                if st & NOTE_QUOTE:
                    st ^= NOTE_QUOTE
                    if c in "\"'" and not escaped:
                        ident = (pos, TG_ATTR)
                        if ident in self.bad:
                            st = ATTR_VALUE
                            continue
                        st |= QUOTED
                        f.c = (pos, ident, c)
                        pos += 1
                        continue
                elif st & QUOTED:
                    if c == f.c[2] and not escaped:
                        st |= NOTE_SPACE
                        pos += 1
                        continue
            if c in MARKERS and (c == "<" or (c == s[pos + 1:pos + 2] and c in "{[")):
                self._weigh(f, 1 + bool(st & (ATTR_NAME | ATTR_VALUE)) + bool(st & QUOTED))  # its attribute's stacks
                if self._can_recurse():
                    done = c
                    break
            pos += 1
        f.b = st
        self._spend(steps * ATTR_COST, pos)
        if done == ">" or done == "/":
            return self._tag_opened(f, pos + (2 if done == "/" else 1), done == "/")
        if done == "attributes":
            return self._style_attrs_done(f, pos)
        if done == "fail":
            return self._fail(f)
        self.pos = pos
        return self._braces(f, pos) if done == "{" else self._wikilink(f, pos) if done == "[" else self._tag(f, pos)

    # -- bold and italic: '' and ''' -------------------------------------------------------------
    def _style(self, p, i):
        s, n = self.s, self.n
        j = i + 2
        while j < n and s[j] == "'":
            j += 1
        ticks = j - i
        if ticks > 5:
            if p.mode:
                p.buf.append("'" * (ticks - 5))
            ticks = 5
        elif ticks == 4:
            if p.mode:
                p.buf.append("'")
            ticks = 3
        ctx = p.ctx
        if (ctx & S_ITAL and ticks in (2, 5)) or (ctx & S_BOLD and ticks in (3, 5)):
            if ticks == 5:
                j -= 3 if ctx & S_ITAL else 2
            return self._close(p, j)
        if not self._can_recurse():
            if ticks == 3 and ctx & S_SECOND:
                self._style_text(p, "'", j)
                return self._close(p, j)
            if ticks == 3 and ctx & S_ITAL:
                p.ctx |= S_AGAIN
            return self._style_text(p, "'" * ticks, j)
        if ticks == 2:
            self._italic(p, j, S_ITAL, self._italic_done)
        elif ticks == 3:
            self._push(PARSE, S_BOLD, j, self._bold_done, p.mode, p.keep, S_BOLD)
        else:
            h = _Frame(HOLD, 0, None, None, p.mode, p.keep, j, 0)
            h.w = 0  # mwparserfromhell has no stack for it while it reads the tags inside
            self._append(h)
            self._push(PARSE, S_BOLD, j, self._five_bold_done, p.mode, p.keep, S_BOLD)

    def _italic(self, p, at, ctx, ret):
        self._push(PARSE, ctx, at, ret, p.mode, p.keep, S_ITAL)

    def _style_node(self, p, f, prefix=None):
        """p gets the tag of f's contents, after them ``prefix`` (an inner tag's output)."""
        if prefix is not None:
            text, links = prefix
            body, body_links = self._result(f)
            links = links + [(a + len(text), b + len(text), t) for a, b, t in body_links]
            text += body
        else:
            text, links = self._result(f)
        self._node(p, _collapse(text) if p.mode == STRIP else text, links)

    def _italic_done(self, f, ok):
        p = self.stack[-1]
        if ok:
            return self._style_node(p, f)
        if f.ctx & S_AGAIN:  # a ''' inside could not be bold: read again, ''' as ' and ''
            return self._italic(p, f.start, S_ITAL | S_SECOND, self._italic_again_done)
        self._style_text(p, "''", f.start)

    def _italic_again_done(self, f, ok):
        p = self.stack[-1]
        if ok:
            return self._style_node(p, f)
        self._style_text(p, "''", f.start)

    def _style_text(self, p, text, pos):
        if p.mode:
            p.buf.append(text)
        self.pos = pos

    def _bold_done(self, f, ok):
        p = self.stack[-1]
        if ok:
            return self._style_node(p, f)
        reset = f.start
        if p.ctx & S_SECOND:  # in the second reading of an italic: ' and its end
            if p.mode:
                p.buf.append("'")
            return self._close(p, reset)
        if p.ctx & S_ITAL:
            p.ctx |= S_AGAIN
            return self._style_text(p, "'''", reset)
        self._style_text(p, "'", reset)
        self._italic(p, reset, S_ITAL, self._italic_done)

    def _five_bold_done(self, f, ok):
        h = self.stack[-1]
        if ok:
            h.a = f
            self._italic(h, self.pos, S_ITAL, self._five_bold_italic_done)
        else:
            self._italic(h, h.start, S_ITAL, self._five_italic_done)

    def _five_italic_done(self, f, ok):
        h = self.stack[-1]
        if ok:
            h.a = f
            self._push(PARSE, S_BOLD, self.pos, self._five_italic_bold_done, h.mode, h.keep, S_BOLD)
        else:
            self._pop()
            self._style_text(self.stack[-1], "'''''", h.start)

    def _five_bold_italic_done(self, g, ok):
        self._five_end(g, ok, "''")

    def _five_italic_bold_done(self, g, ok):
        self._five_end(g, ok, "'''")

    def _five_end(self, g, ok, rest):
        """''''' read as two tags: the first (h.a) inside the second (g), or the first after
        ``rest`` as text when the second does not close."""
        h = self._pop()
        p = self.stack[-1]
        first = h.a
        if not ok:
            self._style_text(p, rest, g.start)
            return self._style_node(p, first)
        text, links = self._result(first)
        self._style_node(p, g, (_collapse(text) if p.mode == STRIP else text, links))

    # -- tables: {| ... |} -----------------------------------------------------------------------
    def _table(self, p, i):
        self._push(STYLE_ATTRS, TB_OPEN, i + 2, self._table_done, NONE, group=TB_OPEN,
                   a="\n", b=READY, d=STRIP if p.mode == STRIP else NONE)

    def _style_attrs_done(self, f, pos):
        """A table's, a row's or a cell's attributes end at ``pos``: its contents follow."""
        ctx = f.ctx & ~TB_STYLE
        self._weigh(f, 1)
        f.loop, f.ctx, f.mode = PARSE, ctx, f.d
        f.buf, f.parts, f.links, f.size, f.nodes = [], [], [], 0, 0
        f.ident = (pos + 1, ctx)
        self.pos = pos + 1
        if f.ident in self.bad:
            self._fail(f)

    def _table_bar(self, f, i, c, nxt):
        ctx = f.ctx
        if c == nxt and ((c == "|" and ctx & (TB_TD | TB_TH)) or (c == "!" and ctx & TB_TH)):
            if ctx & TB_CELL:
                return self._cell_end(f, i, False)
            return self._cell(f, i, c + c, TB_TD if c == "|" and ctx & TB_TD else TB_TH)
        if c == "|" and ctx & TB_STYLE:
            return self._cell_end(f, i, True)
        if not self._leading_space(i):
            if f.mode:
                f.buf.append(c)
            self.pos = i + 1
            return
        if c == "|" and nxt in "}-":
            if ctx & TB_CELL:
                return self._cell_end(f, i, False)
            if ctx & TB_ROW:
                return self._close(f, i)
            if nxt == "}":
                return self._close(f, i + 2)
            if not self._can_recurse():
                return self._style_text(f, "|-", i + 2)
            self._push(STYLE_ATTRS, TB_OPEN | TB_ROW, i + 2, self._row_done, NONE,
                       a="\n", b=READY, d=STRIP if f.mode == STRIP else NONE)
            return
        if ctx & TB_CELL:
            return self._cell_end(f, i, False)
        self._cell(f, i, c, TB_TD if c == "|" else TB_TH)

    def _cell(self, p, i, markup, line):
        if not self._can_recurse():
            return self._style_text(p, markup, i + len(markup))
        mode = STRIP if p.mode == STRIP else NONE
        self._push(PARSE, TB_OPEN | TB_CELL | TB_STYLE | line, i + len(markup), self._cell_done, mode,
                   a="|", d=mode, e=line)

    def _cell_end(self, f, i, for_style):
        if for_style:  # a '|' on the cell's first line: what precedes it is attributes
            f.loop, f.ctx, f.mode = STYLE_ATTRS, TB_OPEN | TB_CELL | f.e, NONE
            f.ident = (f.start, f.ctx)
            f.buf, f.parts, f.links, f.size, f.nodes = [], [], [], 0, 0
            f.b = READY
            self.pos = f.start
            return
        f.ctx &= ~TB_STYLE
        self._close(f, i)

    def _cell_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            return self._fail(p)
        self._node(p, self._strip(f) if p.mode == STRIP else None)
        p.ctx |= f.ctx & (TB_TD | TB_TH)

    def _row_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            return self._fail(p)
        self._node(p, self._strip(f) if p.mode == STRIP else None)

    def _table_done(self, f, ok):
        p = self.stack[-1]
        if not ok:
            if p.mode:
                p.buf.append("{")
            self.pos = f.start - 1
            return
        self._node(p, self._strip(f) if p.mode == STRIP else None)


# -- comparison with the reference --------------------------------------------------------------
# the kinds of page where the scanner's output may differ from mwparserfromhell's, by design
DIFFERENCES = {
    "reference fails": "mwparserfromhell fails (RecursionError in its tree builder); the step skips such a page",
    "budget": "markup broken enough to exhaust the re-reading budget",
    "unexplained": "none of the above: a bug of the scanner",
}


def difference(reference, scanner, wikitext):
    """None when the scanner converts ``wikitext`` as the reference does, else the kind of the
    difference (a key of DIFFERENCES)."""
    try:
        expected = reference.convert(wikitext)
    except RecursionError:
        return "reference fails"
    scan = _Scan(scanner, wikitext)
    got = _normalize(*scan.run())
    if got[0] == expected[0] and [(l.start, l.end, l.target) for l in got[1]] == \
            [(l.start, l.end, l.target) for l in expected[1]]:
        return None
    return "budget" if scan.degraded else "unexplained"


def compare(paths):
    """Counter over the articles of the dumps at ``paths``: "pages", and per kind of difference
    the pages that differ so."""
    from .wikipedia import iter_dump

    counts = collections.Counter()
    for path in paths:
        reference, scanner = WikitextConverter([]), WikitextScanner([])
        for kind, record in iter_dump(path):
            if kind == "siteinfo":
                names = [name for key, name in record["namespaces"].items() if key != 0]
                reference, scanner = WikitextConverter(names), WikitextScanner(names)
            elif (record["ns"] or "").strip() == "0" and record["redirect"] is None and (record["text"] or "").strip():
                counts["pages"] += 1
                kind = difference(reference, scanner, record["text"])
                if kind:
                    counts[kind] += 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocess.wikitext_scanner",
                                     description="Compare the scanner with mwparserfromhell on real pages.")
    parser.add_argument("--compare", nargs="+", metavar="DUMP", required=True,
                        help="pages-articles dumps: count the articles where the two parsers differ, by kind")
    counts = compare(parser.parse_args(argv).compare)
    print(f"{counts['pages']} articles, {counts['pages'] - sum(counts[k] for k in DIFFERENCES)} identical")
    for kind, meaning in DIFFERENCES.items():
        print(f"{counts[kind]:6d}  {meaning}")
    return 0 if not counts["unexplained"] else 1


if __name__ == "__main__":
    sys.exit(main())
