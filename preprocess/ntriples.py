"""One N-Triples line -> its three terms (RDF 1.1 N-Triples, https://www.w3.org/TR/n-triples/).

The grammar is matched by one regular expression over the bytes of the line: an IRI
``<...>`` (\\u and \\U escapes allowed), a blank node ``_:label``, or a literal ``"..."``
with backslash escapes, followed by an optional ``@lang`` tag or ``^^<datatype>``. Terms come
back as bytes, still escaped; ``iri`` and ``literal`` decode the ones a caller needs.
"""

import re

_UCHAR = rb"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_IRI_CHARS = rb"[^\x00-\x20<>\"{}|^`\\]*"  # written unrolled: runs of plain characters between escapes
_IRI = rb"<(" + _IRI_CHARS + rb"(?:(?:" + _UCHAR + rb")" + _IRI_CHARS + rb")*)>"
_BNODE = rb"(_:[A-Za-z0-9_\x80-\xff](?:[A-Za-z0-9_.\-\x80-\xff]*[A-Za-z0-9_\-\x80-\xff])?)"
_LITERAL_CHARS = rb"[^\"\\\n\r]*"
_LITERAL = (rb"\"(" + _LITERAL_CHARS + rb"(?:(?:\\[tbnrf\"'\\]|" + _UCHAR + rb")" + _LITERAL_CHARS + rb")*)\""
            rb"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*)|\^\^" + _IRI + rb")?")
_LINE = re.compile(rb"[ \t]*(?:" + _IRI + rb"|" + _BNODE + rb")[ \t]*" + _IRI + rb"[ \t]*(?:"
                   + _IRI + rb"|" + _BNODE + rb"|" + _LITERAL + rb")[ \t]*\.[ \t]*(?:#[^\n]*)?\r?")
_BLANK = re.compile(rb"[ \t]*(?:#[^\n]*)?\r?")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}

IRI, BNODE, LITERAL = "iri", "bnode", "literal"


class Malformed(ValueError):
    """The line is not an N-Triple."""


def parse(line):
    """bytes -> (subject, predicate, object, object_kind, language) or None for a blank or
    comment line. Subject and predicate are IRIs (or a blank-node label); the object is an
    IRI, a blank-node label or a literal's escaped text (all bytes); language is the
    literal's tag, lower-cased bytes (tags are case-insensitive), or None."""
    m = _LINE.fullmatch(line)
    if m is None:
        if _BLANK.fullmatch(line):
            return None
        raise Malformed(line[:200])
    s_iri, s_bnode, predicate, o_iri, o_bnode, o_literal, lang, _datatype = m.groups()
    subject = s_iri if s_iri is not None else s_bnode
    if o_iri is not None:
        return subject, predicate, o_iri, IRI, None
    if o_bnode is not None:
        return subject, predicate, o_bnode, BNODE, None
    return subject, predicate, o_literal, LITERAL, lang.lower() if lang else None


def _unescape(text):
    if "\\" not in text:
        return text

    def one(m):
        code = m.group(1) or m.group(2)
        return chr(int(code, 16)) if code else _ECHAR[m.group(3)]
    return _ESCAPE.sub(one, text)


def literal(raw):
    """A literal's escaped bytes -> its text (UTF-8; invalid bytes raise UnicodeDecodeError)."""
    return _unescape(raw.decode("utf-8"))


def iri(raw):
    """An IRI's bytes -> its text (\\u escapes resolved)."""
    return _unescape(raw.decode("utf-8"))
