"""Summarise a fairseq JSON training log: first and last losses and accuracies.

    python recipes/summarize_log.py TRAIN.log [--batch-size B]
"""

import argparse
import json

KEYS = ("loss", "mlm_loss", "mep_loss", "oe_loss", "mep_acc", "oe_acc", "mep_queue_fill")


def read(path):
    """Records by tag. Lines are either a console line ("... | train_inner | {...}") or, in
    a --log-file, the bare JSON, whose tag shows in its key prefixes ("valid_loss")."""
    records = {"train_inner": [], "valid": []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            brace = line.find("{")
            if brace < 0:
                continue
            try:
                record = json.loads(line[brace:])
            except ValueError:
                continue
            if not isinstance(record, dict) or "epoch" not in record:
                continue
            tag = line[:brace].rstrip(" |").rsplit("|", 1)[-1].strip()
            if not tag:
                tag = ("valid" if any(k.startswith("valid_") for k in record) else
                       "train_inner" if "update" in record else "train")
            if tag in records:
                prefix = tag + "_"
                records[tag].append({k[len(prefix):] if k.startswith(prefix) else k: v
                                     for k, v in record.items()})
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log")
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    records = read(args.log)
    if not records["train_inner"]:
        raise SystemExit(f"{args.log}: no training records (was it written with --log-format json?)")
    first, last = records["train_inner"][0], records["train_inner"][-1]
    print(f"{'':16}{'first':>10}{'last':>10}{'valid':>10}")
    valid = records["valid"][-1] if records["valid"] else {}
    for key in KEYS:
        if key in last:
            print(f"{key:16}{first.get(key, ''):>10}{last[key]:>10}{valid.get(key, ''):>10}")
    print(f"updates: {last.get('num_updates')}")
    if args.batch_size:
        print(f"in-batch chance for mep_acc/oe_acc: {1 / args.batch_size:.4f}")


if __name__ == "__main__":
    main()
