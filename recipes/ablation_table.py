"""The ablation table of recipes/ablation_table.sh: one row per variant, mean ± standard
deviation over seeds of P@1 (all languages, English, the others, per relation group) and of
cross-lingual retrieval from the [CLS] state.

    python recipes/ablation_table.py OUT VARIANT...
"""

import argparse
import glob
import json
import os
import statistics

# Relation groups, as the paper's Table 5 groups LAMA's relations by source.
GROUPS = {
    "geography": {"P17", "P30", "P36", "P1376", "P47", "P206", "P131"},
    "language": {"P37", "P1412"},
    "people & orgs": {"P19", "P20", "P27", "P463"},
}
LABELS = {"mlm": "MLM only", "desc_mlm": "w/o knowledge tasks (MLM + description MLM)",
          "mep": "MEP only", "oe": "OE only", "xlmk": "XLM-K (MEP + OE)"}


def columns(result):
    """The table's numbers for one run's probe.json."""
    p_at_1 = result["p_at_1"]
    others = [v for lang, v in p_at_1.items() if lang != "en" and v is not None]
    row = {"P@1 all": _mean(list(p_at_1.values())), "P@1 en": p_at_1.get("en"),
           "P@1 other langs": _mean(others)}
    for group, relations in GROUPS.items():
        per_lang = [_mean([r["p_at_1"] for rel, r in rels.items() if rel in relations])
                    for rels in result["relations"].values()]
        row[f"P@1 {group}"] = _mean(per_lang)
    cls = (result.get("retrieval") or {}).get("cls", {}).get("average") or {}
    row["retrieval acc@1"], row["retrieval MRR"] = cls.get("acc@1"), cls.get("mrr")
    return row


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def table(out, variants):
    header, lines = None, []
    for variant in variants:
        rows = [columns(json.load(open(path, encoding="utf-8")))
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
    return "\n".join([head, "|" + "---|" * (len(header) + 2), *lines])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    print(table(args.out, args.variants))


if __name__ == "__main__":
    main()
