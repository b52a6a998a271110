"""One line of the Wikidata JSON dump -> the parts of the entity that preprocessing keeps.

The entity is decoded with msgspec against a schema that names only what is read: id, type,
the labels (of items and properties) and sitelinks of the chosen languages, and the main
snaks of the claims. msgspec skips everything else (descriptions, aliases, qualifiers,
references, the other languages) without building Python objects for it; on real entities
that is most of the line, and the reason this is faster than ``orjson.loads`` of the whole
entity. Claim groups are kept as raw bytes and decoded only for kept items, and only when
they can hold an item-valued main snak.
"""

import collections
import functools
from typing import Optional, Union

import msgspec

from .labels import best_label, clean
from .sites import wikipedia_site


# invalid UTF-8 raises UnicodeDecodeError, and only where msgspec decodes a string: a line
# can pass the first decode and fail in a later one; JSON nested deeper than msgspec's limit
# (about 1000, even in a field the schema skips) raises RecursionError
UNDECODABLE = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


class _Text(msgspec.Struct):
    value: Optional[str] = None


class _Sitelink(msgspec.Struct):
    title: Optional[str] = None


class _ItemId(msgspec.Struct):
    id: Optional[str] = None
    numeric_id: Optional[int] = msgspec.field(default=None, name="numeric-id")


class _DataValue(msgspec.Struct):
    # an item's value is an object with its id; the values of other datatypes are strings
    # (external ids, urls, ...) or objects (quantities, times, ...) that decode to an empty _ItemId
    value: Union[_ItemId, str, float, None] = None


class _Snak(msgspec.Struct):
    snaktype: Optional[str] = None
    property: Optional[str] = None
    datatype: Optional[str] = None
    datavalue: Optional[_DataValue] = None


class _Statement(msgspec.Struct):
    mainsnak: Optional[_Snak] = None
    rank: Optional[str] = None


class _AllLabels(msgspec.Struct):
    labels: Union[dict[str, _Text], list] = {}


_decode_statements = msgspec.json.Decoder(list[_Statement]).decode
_decode_all_labels = msgspec.json.Decoder(_AllLabels).decode


def _by_language(name, languages, key, value_type):
    """A struct with one optional field per language, read from JSON key ``key(lang)``."""
    fields = [(f"f{i}", Optional[value_type], None) for i in range(len(languages))]
    return msgspec.defstruct(name, fields, rename={f"f{i}": key(lang) for i, lang in enumerate(languages)})


class EntityParser:
    """Parses dump lines for a set of chosen languages."""

    def __init__(self, languages):
        self.languages = tuple(languages)
        self.site_languages = tuple(lang for lang in self.languages if wikipedia_site(lang))
        # English labels are read as well: an item's (and a property's) label prefers them
        self.label_languages = tuple(dict.fromkeys(("en", *self.languages)))
        self._decode = self._entity_decoder()

    def _entity_decoder(self):
        labels = _by_language("Labels", self.label_languages, lambda lang: lang, _Text)
        sites = _by_language("Sitelinks", self.site_languages, wikipedia_site, _Sitelink)
        # Wikibase writes an empty map as [] in places: a list here means "none"
        entity = msgspec.defstruct("Entity", [
            ("id", Optional[str], None), ("type", Optional[str], None),
            ("labels", Union[labels, list], msgspec.field(default_factory=list)),
            ("sitelinks", Union[sites, list], msgspec.field(default_factory=list)),
            ("claims", Union[dict[str, msgspec.Raw], list], msgspec.field(default_factory=dict)),
        ])
        return msgspec.json.Decoder(entity).decode

    def parse(self, line, with_claims=True):
        """One dump line -> ("item", qid, label, {lang: title}, [(pid, target)], skip counts,
        {lang: label}), ("property", pid, English label, {lang: label}), ("skip", reason) or
        None (the array's brackets, blank lines). Ids are numbers (Q42 -> 42); {lang: label}
        holds the chosen languages that have a label."""
        line = line.strip()
        if line in (b"", b"[", b"]"):
            return None
        if line.endswith(b","):
            line = memoryview(line)[:-1]  # no copy of the (often tens of kB) line
        try:
            entity = self._decode(line)
        except msgspec.ValidationError:
            return ("skip", "malformed_entity")
        except UNDECODABLE:
            return ("skip", "malformed_json")
        ident, kind = entity.id, entity.type
        if not ident:
            return ("skip", "missing_id")
        number = _number(ident, "P" if kind == "property" else "Q")
        if kind == "property" and number is not None:
            labels = self._labels(entity)
            return ("property", number, best_label(labels, ("en",)), self._chosen(labels))
        if kind != "item" or number is None:
            return ("skip", "not_an_item")
        titles = {lang: link.title for lang, link in zip(self.site_languages, _fields(entity.sitelinks))
                  if link is not None and link.title}
        if not titles:  # most of a real dump: nothing more is read from these
            return ("skip", "no_sitelink_in_languages")
        labels = self._labels(entity)
        claims, reasons = [], None
        if with_claims and isinstance(entity.claims, dict):
            claims, reasons = _item_claims(entity.claims)
        elif with_claims and entity.claims:  # a list stands for an empty map only when empty
            reasons = {"claims_not_a_map": 1}
        preferred = ("en", *sorted(titles))
        if not any(labels.get(lang) for lang in preferred):  # rare: fall back on any language's label
            labels = _all_labels(line) or labels
        return ("item", number, best_label(labels, preferred), titles, claims, reasons, self._chosen(labels))

    def _chosen(self, labels):
        """{lang: label} of the chosen languages that have one, cleaned."""
        local = {lang: clean(labels.get(lang) or "") for lang in self.languages}
        return {lang: text for lang, text in local.items() if text}

    def _labels(self, entity):
        return {lang: text.value for lang, text in zip(self.label_languages, _fields(entity.labels))
                if text is not None and text.value}


def _item_claims(groups):
    """(property, target) numbers of the item-valued statements, and skip counts by reason."""
    claims, reasons = [], collections.Counter()
    for raw in groups.values():
        raw = bytes(raw)
        if b"wikibase-item" not in raw:  # no item-valued main snak can be in this group
            continue
        try:
            statements = _decode_statements(raw)
        except UNDECODABLE:
            reasons["claim_malformed"] += 1
            continue
        # A property has one datatype: a group whose first main snak names another one
        # (external ids, strings, quantities: most of a real item) is skipped whole.
        first = statements[0].mainsnak if statements else None
        if first is not None and first.datatype not in (None, "wikibase-item"):
            continue
        for statement in statements:
            snak = statement.mainsnak
            if snak is None or snak.datatype != "wikibase-item":
                continue
            if statement.rank == "deprecated":
                reasons["claim_deprecated"] += 1
            elif snak.snaktype != "value":
                reasons["claim_" + str(snak.snaktype)] += 1
            else:
                pid, target = _property_number(snak.property), _item_number(snak.datavalue)
                if pid is None or target is None:
                    reasons["claim_malformed"] += 1
                else:
                    claims.append((pid, target))
    return claims, reasons


@functools.lru_cache(maxsize=1 << 16)
def _property_number(ident):
    """'P31' -> 31 (cached: a dump names a few thousand properties millions of times)."""
    return _number(ident, "P")


def _item_number(datavalue):
    """The number of the item an item-valued snak points to (its numeric-id, else its id)."""
    value = datavalue.value if datavalue is not None else None
    if not isinstance(value, _ItemId):
        return None
    if value.numeric_id is not None:
        return value.numeric_id if value.numeric_id > 0 else None
    return _number(value.id, "Q")


def _all_labels(line):
    """{lang: label} in every language of the line's entity, or None."""
    try:
        labels = _decode_all_labels(line).labels
    except UNDECODABLE:
        return None
    return {lang: text.value for lang, text in labels.items()} if isinstance(labels, dict) else None


def _fields(struct_or_empty):
    return () if isinstance(struct_or_empty, list) else msgspec.structs.astuple(struct_or_empty)


def _number(ident, prefix):
    """'Q42' -> 42; None for anything that is not ``prefix`` and digits."""
    if not ident or ident[0] != prefix or not (ident[1:].isascii() and ident[1:].isdigit()):
        return None
    return int(ident[1:])
