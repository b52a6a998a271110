"""Readers of probe sets in the LAMA and mLAMA layouts (docs/probing.md).

LAMA:   DIR/relations.jsonl ({"relation", "template"}), DIR/<relation>.jsonl (facts)
mLAMA:  DIR/<lang>/templates.jsonl ({"relation", "template"}), DIR/<lang>/<relation>.jsonl,
        optionally DIR/<lang>/<relation>.candidates.json (a JSON list of object labels)

A fact is {"sub_label", "obj_label"} plus optional "sub_uri", "obj_uri" and (LAMA)
"masked_sentences". Anything malformed raises ProbeSetError naming the file and line.
"""

import json
import os
from dataclasses import dataclass, field

SUBJECT, OBJECT, MASK = "[X]", "[Y]", "[MASK]"
CANDIDATES_SUFFIX = ".candidates.json"


class ProbeSetError(ValueError):
    """The probe set is missing or malformed; the message names the file."""


@dataclass
class Fact:
    sub_label: str
    obj_label: str
    sub_uri: str = None
    obj_uri: str = None
    masked_sentences: list = field(default_factory=list)

    @property
    def subject_key(self):
        """What identifies the subject: facts with the same key share their valid objects."""
        return self.sub_uri or self.sub_label


@dataclass
class Relation:
    name: str
    template: str  # None: the facts' masked_sentences are the queries (LAMA only)
    facts: list
    candidates: list = None  # typed querying: the objects to rank (None: the facts' objects)

    def query(self, fact):
        """(text before the object slot, text after it) with the subject filled in, or None.

        The template's [X] is replaced by the subject label verbatim; without a template,
        the fact's first masked sentence holding exactly one [MASK] is used.
        """
        if self.template is not None:
            left, right = self.template.split(OBJECT)
            return left.replace(SUBJECT, fact.sub_label).strip(), right.replace(SUBJECT, fact.sub_label).strip()
        for sentence in fact.masked_sentences:
            if sentence.count(MASK) == 1:
                left, right = sentence.split(MASK)
                return left.strip(), right.strip()
        return None

    def valid_objects(self):
        """subject key -> every object label the relation's facts give that subject."""
        objects = {}
        for fact in self.facts:
            objects.setdefault(fact.subject_key, set()).add(fact.obj_label)
        return objects


def read_lama(directory):
    """{relation: Relation} of a LAMA-layout directory."""
    _require_dir(directory)
    relations = {}
    path = os.path.join(directory, "relations.jsonl")
    for line_no, record in _jsonl(path):
        name = _field(record, "relation", f"{path} line {line_no}")
        template = record.get("template")
        if template is not None:
            check_template(template, f"{path} line {line_no}")
        facts_path = _first_existing(directory, [f"{name}.jsonl", f"{name}_test.jsonl"])
        if facts_path is None:
            raise ProbeSetError(f"{directory}: relation {name} has no {name}.jsonl")
        relations[name] = Relation(name, template, _facts(facts_path))
    if not relations:
        raise ProbeSetError(f"{directory}/relations.jsonl lists no relation")
    return relations


def read_mlama(directory, langs=None):
    """{lang: {relation: Relation}} of an mLAMA-layout directory (``langs``: a subset)."""
    _require_dir(directory)
    present = sorted(d for d in os.listdir(directory)
                     if os.path.isfile(os.path.join(directory, d, "templates.jsonl")))
    if not present:
        raise ProbeSetError(f"{directory}: no <lang>/templates.jsonl (not an mLAMA-layout directory)")
    missing = [lang for lang in langs or () if lang not in present]
    if missing:
        raise ProbeSetError(f"{directory}: no probe set for language(s) {', '.join(missing)} "
                            f"(it has {', '.join(present)})")
    return {lang: _read_mlama_language(os.path.join(directory, lang)) for lang in langs or present}


def _read_mlama_language(directory):
    relations = {}
    path = os.path.join(directory, "templates.jsonl")
    for line_no, record in _jsonl(path):
        where = f"{path} line {line_no}"
        name, template = _field(record, "relation", where), _field(record, "template", where)
        check_template(template, where)
        facts_path = os.path.join(directory, f"{name}.jsonl")
        if not os.path.isfile(facts_path):
            continue  # a template without facts in this language
        relations[name] = Relation(name, template, _facts(facts_path),
                                   _candidates(os.path.join(directory, name + CANDIDATES_SUFFIX)))
    return relations


def check_template(template, where):
    if not isinstance(template, str) or template.count(SUBJECT) != 1 or template.count(OBJECT) != 1:
        raise ProbeSetError(f"{where}: template {template!r} must hold [X] and [Y] exactly once each")


def _facts(path):
    facts = []
    for line_no, record in _jsonl(path):
        where = f"{path} line {line_no}"
        masked = record.get("masked_sentences") or []
        if not isinstance(masked, list) or not all(isinstance(s, str) for s in masked):
            raise ProbeSetError(f"{where}: \"masked_sentences\" must be a list of strings")
        facts.append(Fact(_field(record, "sub_label", where), _field(record, "obj_label", where),
                          record.get("sub_uri"), record.get("obj_uri"), masked))
    return facts


def _candidates(path):
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            labels = json.load(f)
    except ValueError as e:
        raise ProbeSetError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ProbeSetError(f"{path}: must be a JSON list of non-empty labels")
    return list(dict.fromkeys(labels))


def _jsonl(path):
    """(line number, dict) of every non-blank line."""
    if not os.path.isfile(path):
        raise ProbeSetError(f"{path}: no such file")
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise ProbeSetError(f"{path} line {line_no}: not valid JSON ({e})") from None
            if not isinstance(record, dict):
                raise ProbeSetError(f"{path} line {line_no}: not a JSON object")
            yield line_no, record


def _field(record, key, where):
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProbeSetError(f"{where}: missing or empty \"{key}\"")
    return value


def _require_dir(directory):
    if not os.path.isdir(directory):
        raise ProbeSetError(f"{directory}: no such probe set directory")


def _first_existing(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None
