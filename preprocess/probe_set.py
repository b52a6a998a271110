"""A probe set in the mLAMA layout from WORK/wikidata (docs/probing.md).

    xlmk-preprocess probe-set --work WORK --out PROBE_DIR [--langs en,de,zh]

For every language with labels (or sitelinks) in WORK/wikidata/sitelinks.sqlite and a template
in preprocess/probe_templates.py, writes PROBE_DIR/<lang>/templates.jsonl, one
<relation>.jsonl of facts {"sub_uri", "obj_uri", "sub_label", "obj_label"} per relation and
<relation>.candidates.json (every object label of the relation in that language), plus
PROBE_DIR/summary.json with the counts. An entity is named by its label in the language,
else by its Wikipedia title without a trailing "(...)" disambiguation; a fact with an
unnamed end is skipped (counted).
"""

import collections
import json
import os
import re
import sqlite3

import numpy as np

from .dump_io import DumpError, atomic_dir, write_json
from .probe_templates import RELATION_NAMES, TEMPLATES

DISAMBIGUATION = re.compile(r"\s*\([^()]*\)$")


def title_label(title):
    """'Paris (Texas)' -> 'Paris'; a title that is only a parenthesis stays as it is."""
    return DISAMBIGUATION.sub("", title).strip() or title


def read_triples(wikidata_dir, pids):
    """{pid number: [(subject qid, object qid)]} for ``pids``, in dump order, without repeats."""
    path = os.path.join(wikidata_dir, "triples.npy")
    if not os.path.isfile(path):
        raise DumpError(f"{path}: no such file (run the wikidata step first)")
    triples = np.load(path, mmap_mode="r")
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise DumpError(f"{path}: expected an int array [T, 3], found shape {triples.shape}")
    kept = np.asarray(triples[np.isin(triples[:, 1], list(pids))])
    facts = {p: [] for p in pids}
    for s, p, o in dict.fromkeys(map(tuple, kept.tolist())):
        facts[p].append((s, o))
    return facts


def read_names(wikidata_dir, qids, langs=None):
    """{lang: {qid: name}} from the labels table, else the sitelink titles."""
    path = os.path.join(wikidata_dir, "sitelinks.sqlite")
    if not os.path.isfile(path):
        raise DumpError(f"{path}: no such file (run the wikidata step first)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("CREATE TEMP TABLE wanted (qid INTEGER PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((int(q),) for q in qids))
        names = collections.defaultdict(dict)
        for lang, qid, title in db.execute("SELECT lang, qid, title FROM sitelinks JOIN wanted USING (qid)"):
            names[lang][qid] = title_label(title)
        for lang, qid, label in db.execute("SELECT lang, qid, label FROM labels JOIN wanted USING (qid)"):
            names[lang][qid] = label
        present = {row[0] for row in db.execute("SELECT DISTINCT lang FROM sitelinks UNION SELECT DISTINCT lang FROM labels")}
    except sqlite3.Error as e:
        raise DumpError(f"{path}: {e} (written by an older wikidata step? it needs the labels table)") from None
    finally:
        db.close()
    chosen = sorted(present) if langs is None else list(langs)
    return {lang: names.get(lang, {}) for lang in chosen}, sorted(present)


def build(work, out, langs=None):
    """Write the probe set; return the summary written to summary.json."""
    wikidata_dir = os.path.join(work, "wikidata")
    pids = {int(p[1:]): p for p in RELATION_NAMES}
    triples = read_triples(wikidata_dir, pids)
    qids = {q for pairs in triples.values() for pair in pairs for q in pair}
    names, present = read_names(wikidata_dir, qids, langs)
    unknown = [lang for lang in langs or () if lang not in present]
    if unknown:
        raise DumpError(f"{wikidata_dir} has no labels for {', '.join(unknown)} (it has {', '.join(present)})")
    summary = {"source": os.path.abspath(wikidata_dir), "languages": {}, "skipped_languages": {}}
    with atomic_dir(out, "summary.json", inputs=[wikidata_dir]) as tmp:
        for lang, name_of in names.items():
            templates = TEMPLATES.get(lang, {})
            if not templates:
                summary["skipped_languages"][lang] = "no templates for this language"
                continue
            summary["languages"][lang] = _write_language(os.path.join(tmp, lang), pids, triples, name_of, templates)
        write_json(os.path.join(tmp, "summary.json"), summary)
    return summary


def _write_language(directory, pids, triples, name_of, templates):
    os.makedirs(directory)
    counts = {"facts": {}, "no_label": 0, "no_template": []}
    template_rows = []
    for pid, relation in pids.items():
        if relation not in templates:
            if triples[pid]:
                counts["no_template"].append(relation)
            continue
        facts = []
        for s, o in triples[pid]:
            if s in name_of and o in name_of:
                facts.append({"sub_uri": f"Q{s}", "obj_uri": f"Q{o}", "sub_label": name_of[s], "obj_label": name_of[o]})
            else:
                counts["no_label"] += 1
        if not facts:
            continue
        counts["facts"][relation] = len(facts)
        template_rows.append({"relation": relation, "template": templates[relation], "label": RELATION_NAMES[relation]})
        _write_jsonl(os.path.join(directory, f"{relation}.jsonl"), facts)
        candidates = sorted({f["obj_label"] for f in facts})
        with open(os.path.join(directory, f"{relation}.candidates.json"), "w", encoding="utf-8") as f:
            json.dump(candidates, f, ensure_ascii=False)
    _write_jsonl(os.path.join(directory, "templates.jsonl"), template_rows)
    return counts


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def print_summary(summary, out):
    for lang, counts in summary["languages"].items():
        per_relation = ", ".join(f"{r} {n}" for r, n in counts["facts"].items())
        line = f"{lang}: {sum(counts['facts'].values())} facts in {len(counts['facts'])} relations ({per_relation})"
        line += f"; {counts['no_label']} facts skipped without a label"
        if counts["no_template"]:
            line += f"; no template for {', '.join(counts['no_template'])}"
        print(line)
    for lang, why in summary["skipped_languages"].items():
        print(f"{lang}: skipped ({why})")
    print(f"probe set -> {out}")
