"""fairseq's JSON log records (--log-format json), read back for the recipes' summaries.

A line is either a console line ("... | train_inner | {...}") or, in a --log-file, the bare
JSON, whose tag shows in its key prefixes ("valid_loss"). Records come back with the tag's
prefix taken off their keys.
"""

import json

TAGS = ("train_inner", "valid")


def parse_record(line):
    """(tag, record) of a train_inner or valid log line, else None."""
    brace = line.find("{")
    if brace < 0:
        return None
    try:
        record = json.loads(line[brace:])
    except ValueError:
        return None
    if not isinstance(record, dict) or "epoch" not in record:
        return None
    tag = line[:brace].rstrip(" |").rsplit("|", 1)[-1].strip()
    if not tag:
        tag = ("valid" if any(k.startswith("valid_") for k in record) else
               "train_inner" if "update" in record else "train")
    if tag not in TAGS:
        return None
    prefix = tag + "_"
    return tag, {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in record.items()}


def read(path):
    """{tag: [record, ...]} of the log file at ``path``."""
    records = {tag: [] for tag in TAGS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parsed = parse_record(line)
            if parsed:
                records[parsed[0]].append(parsed[1])
    return records


def read_validate_summary(path):
    """The last summary of a fairseq-validate log (--log-format json), its keys unprefixed."""
    record = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            brace = line.find('{"valid_')
            if brace >= 0:
                record = {k[len("valid_"):]: v for k, v in json.loads(line[brace:]).items()}
    if not record:
        raise SystemExit(f"error: no validation summary in {path}")
    return record
