"""Reader of the Mewsli-9 layout (Botha et al. 2020, "Entity Linking in 100 Languages").

What ``get-mewsli-9.sh`` of google-research/dense_representations_for_entity_retrieval/mel
writes under ``mewsli-9/output/dataset``, one directory per language:

    <lang>/docs.tsv       docid, title, curid, revid, url, text_md5            (not read)
    <lang>/mentions.tsv   docid, position, length, mention, url, lang, qid, qid_in_refs, freq_bin
    <lang>/text/<docid>   the cleaned article text

Both TSVs have a header line and CSV quoting with tabs (csv's excel-tab reading). ``position``
and ``length`` count Unicode characters in the text file. Of ``mentions.tsv`` only docid,
position, length and qid are required; ``mention`` is checked against the text when present.
DIR may also be one language's directory itself.

A mention's context is its sentence, split as the preprocessing splits Wikipedia text
(``preprocess.binarize.split_sentences``, per line), since MEP was trained on sentences;
a mention across sentences keeps all of them. Mentions that cannot be read are counted by
reason, not fatal: ``no_text`` (the text file is missing), ``mention_text_differs`` (the
text at the position is not the mention string: another extraction of the dump),
``bad_span``.
"""

import collections
import csv
import os

from preprocess.binarize import split_sentences

from .errors import LinkingError
from .queries import Mention

REQUIRED = ("docid", "position", "length", "qid")


def mewsli_languages(root):
    """{lang: directory} of DIR (its subdirectories with a mentions.tsv, or DIR itself)."""
    if not os.path.isdir(root):
        raise LinkingError(f"{root}: no such Mewsli-9 directory")
    if os.path.isfile(os.path.join(root, "mentions.tsv")):
        return {os.path.basename(os.path.normpath(root)): root}
    found = {name: os.path.join(root, name) for name in sorted(os.listdir(root))
             if os.path.isfile(os.path.join(root, name, "mentions.tsv"))}
    if not found:
        raise LinkingError(f"{root}: no <lang>/mentions.tsv (the Mewsli-9 layout, docs/entity-linking.md)")
    return found


def read_mewsli(root, langs=None):
    """({lang: [Mention]}, {lang: {reason: count}}) of the chosen languages."""
    dirs = mewsli_languages(root)
    if langs:
        unknown = [x for x in langs if x not in dirs]
        if unknown:
            raise LinkingError(f"{root}: no Mewsli-9 language {', '.join(unknown)} (it has {', '.join(dirs)})")
        dirs = {x: dirs[x] for x in langs}
    mentions, skipped = {}, {}
    for lang, directory in dirs.items():
        mentions[lang], skipped[lang] = _read_language(lang, directory)
    return mentions, skipped


def _read_language(lang, directory):
    path = os.path.join(directory, "mentions.tsv")
    skipped = collections.Counter()
    texts = {}
    out = []
    csv.field_size_limit(1 << 24)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise LinkingError(f"{path}: no column {', '.join(missing)} in its header line (Mewsli-9 has "
                               f"docid, position, length, mention, url, lang, qid, ...)")
        for n, row in enumerate(reader, 2):
            try:
                position, length = int(row["position"]), int(row["length"])
            except (TypeError, ValueError):
                raise LinkingError(f"{path} line {n}: position and length must be integers") from None
            docid = row["docid"]
            if docid not in texts:
                texts[docid] = _read_text(directory, docid)
            text = texts[docid]
            if text is None:
                skipped["no_text"] += 1
                continue
            start, end = position, position + length
            if not 0 <= start < end <= len(text):
                skipped["bad_span"] += 1
                continue
            if row.get("mention") is not None and text[start:end] != row["mention"]:
                skipped["mention_text_differs"] += 1
                continue
            a, b = sentence_around(text, start, end)
            out.append(Mention(text[a:b], start - a, end - a, qid=row["qid"], lang=row.get("lang") or lang,
                               id=f"{docid}:{position}"))
    return out, dict(skipped)


def _read_text(directory, docid):
    path = os.path.join(directory, "text", docid)
    if os.path.basename(docid) != docid or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def sentence_around(text, start, end):
    """Character span of the sentences (within their lines) that hold [start, end)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    spans = [(line_start + a, line_start + b) for a, b in split_sentences(line)]
    inside = [(a, b) for a, b in spans if a < end and b > start]
    if not inside:
        return line_start, line_end
    return min(inside[0][0], start), max(inside[-1][1], end)
