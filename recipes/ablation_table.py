"""The ablation table of recipes/ablation_table.sh: one row per variant, mean ± standard
deviation over seeds of the valid MEP and OE accuracies at the end of training, with in-batch
negatives only (to be read against in-batch chance, 1 / batch size) and of link prediction's masked-token accuracy on the
held-out triples, of P@1 (all languages, English, the others, per
relation group; on the facts whose triples were trained on and on the others, where the run
has probe_seen.json and probe_held_out.json) and of cross-lingual retrieval from the [CLS] state.

    python recipes/ablation_table.py OUT VARIANT...
"""

import argparse
import glob
import json
import os
import statistics

from fairseq_log import read, read_validate_summary

# Relation groups, as the paper's Table 5 groups LAMA's relations by source.
GROUPS = {
    "geography": {"P17", "P30", "P36", "P1376", "P47", "P206", "P131"},
    "language": {"P37", "P1412"},
    "people & orgs": {"P19", "P20", "P27", "P463"},
}
LABELS = {"mlm": "MLM only", "desc_mlm": "w/o knowledge tasks (MLM + description MLM)",
          "mep": "MEP only", "oe": "OE only", "xlmk": "XLM-K (MEP + OE), in-batch negatives only",
          "xlmk_queue": "XLM-K, queue, shared encoder (paper)",
          "xlmk_momentum": "XLM-K, queue, momentum encoder",
          "lp": "LP only (MLM + link prediction)", "xlmk_lp": "XLM-K + LP"}


def columns(result, log=None, split=None, in_batch=None):
    """The table's numbers for one run's probe.json and its training log (valid accuracies
    of the last validation, or of ``in_batch``, the queue rows' fairseq-validate log with
    in-batch negatives only; none when there is no validation or the variant has no task)."""
    records = read(log) if log and os.path.isfile(log) else {"valid": [], "train_inner": []}
    valid = records["valid"][-1] if records["valid"] else {}
    if in_batch and os.path.isfile(in_batch):
        valid = {**valid, **read_validate_summary(in_batch)}
    row = {"valid MEP acc": _float(valid.get("mep_acc")), "valid OE acc": _float(valid.get("oe_acc")),
           "valid LP acc": _float(valid.get("lp_acc"))}
    p_at_1 = result["p_at_1"]
    others = [v for lang, v in p_at_1.items() if lang != "en" and v is not None]
    row.update({"P@1 all": _mean(list(p_at_1.values())), "P@1 en": p_at_1.get("en"),
                "P@1 other langs": _mean(others)})
    for group, relations in GROUPS.items():
        per_lang = [_mean([r["p_at_1"] for rel, r in rels.items() if rel in relations])
                    for rels in result["relations"].values()]
        row[f"P@1 {group}"] = _mean(per_lang)
    for part, label in (("seen", "P@1 seen facts"), ("held_out", "P@1 held-out facts")):
        row[label] = _mean(list((split or {}).get(part, {}).get("p_at_1", {}).values()))
    cls = (result.get("retrieval") or {}).get("cls", {}).get("average") or {}
    row["retrieval acc@1"], row["retrieval MRR"] = cls.get("acc@1"), cls.get("mrr")
    return row


def _split(probe_json):
    """{"seen": result, "held_out": result} of the run's probes on the split probe set."""
    found = {}
    for part in ("seen", "held_out"):
        path = os.path.join(os.path.dirname(probe_json), f"probe_{part}.json")
        if os.path.isfile(path):
            found[part] = json.load(open(path, encoding="utf-8"))
    return found


def _float(value):
    return None if value in (None, "") else float(value)


def batch_size(out, variants):
    """The validation batch size (bsz of the last validation), for in-batch chance."""
    for variant in variants:
        for log in sorted(glob.glob(os.path.join(out, variant, "seed*.log"))):
            records = read(log)["valid"]
            if records and records[-1].get("bsz") and "mep_acc" in records[-1]:
                return round(float(records[-1]["bsz"]))
    return None


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def table(out, variants):
    header, lines = None, []
    for variant in variants:
        rows = [columns(json.load(open(path, encoding="utf-8")), os.path.dirname(path) + ".log", _split(path),
                        os.path.join(os.path.dirname(path), "in_batch.log"))
                for path in sorted(glob.glob(os.path.join(out, variant, "seed*", "probe.json")))]
        if not rows:
            raise SystemExit(f"ablation_table.py: error: no {out}/{variant}/seed*/probe.json")
        header = header or list(rows[0])
        cells = []
        for key in header:
            values = [r[key] for r in rows if r[key] is not None]
            if not values:
                cells.append("-")
                continue
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}")
        lines.append(f"| {LABELS.get(variant, variant)} | {len(rows)} | " + " | ".join(cells) + " |")
    head = f"| variant | seeds | {' | '.join(header)} |"
    bsz = batch_size(out, variants)
    note = [f"\n(valid MEP / OE acc: at the end of training, with in-batch negatives only (the queue rows "
            f"scored so by fairseq-validate); in-batch chance 1/{bsz} = {100 / bsz:.2f} %)"] if bsz else []
    return "\n".join([head, "|" + "---|" * (len(header) + 2), *lines, *note])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    print(table(args.out, args.variants))


if __name__ == "__main__":
    main()
