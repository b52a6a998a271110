"""The quickstart's closing summary: losses and accuracies of both stages, probe P@1,
retrieval and entity linking before (MLM only) and after XLM-K, and where everything is.

    python recipes/quickstart_summary.py OUT
"""

import argparse
import json
import os

from fairseq_log import read, read_validate_summary

KEYS = ("loss", "mlm_loss", "mep_loss", "oe_loss", "mep_acc", "oe_acc")


def training_table(out):
    """The rows of both stages, and the in-batch chance of the accuracies (1 / batch size).
    Where a stage's queue joined, its accuracies from then on are against the batch and the
    queue; its in_batch.log (sample_lib.sh's score_in_batch) adds the final model's valid
    accuracies against the batch alone, comparable with the chance given."""
    chance, queued = None, False
    lines = [f"{'stage':8}{'metric':10}{'first':>9}{'last':>9}{'valid':>9}{'in-batch':>10}"]
    for stage in ("mlm", "xlmk"):
        records = read(os.path.join(out, f"{stage}.log"))
        if not records["train_inner"]:
            continue
        first, last = records["train_inner"][0], records["train_inner"][-1]
        valid = records["valid"][-1] if records["valid"] else {}
        in_batch_log = os.path.join(out, stage, "in_batch.log")
        in_batch = read_validate_summary(in_batch_log) if os.path.isfile(in_batch_log) else {}
        queued = queued or bool(in_batch)
        if "mep_acc" in last and last.get("bsz"):
            chance = 1 / round(float(last["bsz"]))
        for key in KEYS:
            if key in last:
                lines.append(f"{stage:8}{key:10}{first.get(key, ''):>9}{last[key]:>9}{valid.get(key, ''):>9}"
                             f"{in_batch.get(key, '') if key.endswith('_acc') else '':>10}")
    if chance:
        lines.append(f"(in-batch chance of mep_acc / oe_acc: {chance:.4f}"
                     + ("; once the queue joined, last and valid are against the batch and the queue,"
                        " in-batch against the batch alone)" if queued else ")"))
    return lines


def probe_table(out):
    before, after = (_load(os.path.join(out, f"probe_{s}.json")) for s in ("mlm", "xlmk"))
    if not (before and after):
        return ["(no probe results)"]
    langs = list(after.get("p_at_1", {}))
    lines = ["probe P@1 (macro over relations)  " + "  ".join(f"{l:>6}" for l in langs),
             f"{'  MLM only (before)':34}" + "  ".join(_pct(before["p_at_1"].get(l)) for l in langs),
             f"{'  XLM-K (after)':34}" + "  ".join(_pct(after["p_at_1"].get(l)) for l in langs)]
    for method in ("cls", "mep_key"):
        b = (before.get("retrieval") or {}).get(method, {}).get("average")
        a = (after.get("retrieval") or {}).get(method, {}).get("average")
        if a:
            lines.append(f"cross-lingual retrieval ({method}) acc@1 / MRR: before "
                         + (f"{_pct(b['acc@1'])} / {_pct(b['mrr'])}" if b else "n/a")
                         + f", after {_pct(a['acc@1'])} / {_pct(a['mrr'])}")
    return lines


def linking_lines(out):
    before, after = (_load(os.path.join(out, f"linking_{s}.json")) for s in ("mlm", "xlmk"))
    if not (before and after):
        return ["(no linking results)"]
    b, a = (r["sets"]["mep-valid"]["all"] for r in (before, after))
    chance = after["chance"]
    return [f"entity linking, {a['n']} held-out MEP mentions, {after['entities']} entities, acc@1 / acc@10 / MRR:",
            f"  MLM only (<s> vectors)  {_pct(b['acc@1'])} {_pct(b['acc@10'])} {_pct(b['mrr'])}",
            f"  XLM-K (MEP heads)       {_pct(a['acc@1'])} {_pct(a['acc@10'])} {_pct(a['mrr'])}",
            f"  (chance: acc@1 {_pct(chance['acc@1']).strip()}, acc@10 {_pct(chance['acc@10']).strip()})"]


def _load(path):
    return json.load(open(path, encoding="utf-8")) if os.path.isfile(path) else None


def _pct(value):
    return f"{100 * value:6.1f}" if isinstance(value, (int, float)) else f"{'-':>6}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    out = parser.parse_args().out
    print("\n".join(training_table(out)) + "\n")
    print("\n".join(probe_table(out)))
    print("\n".join(linking_lines(out)))
    print(f"\ncheckpoints:  {out}/mlm/checkpoint_last.pt, {out}/xlmk/checkpoint_last.pt")
    print(f"TensorBoard:  tensorboard --logdir {out}")
    print(f"probe tables: {out}/probe_mlm.md, {out}/probe_xlmk.md")
    print(f"linking:      {out}/linking_mlm.md, {out}/linking_xlmk.md (indexes: {out}/index_mlm, {out}/index_xlmk)")
    print(f"export:       {out}/hf (AutoModelForMaskedLM.from_pretrained(\"{out}/hf\"))")


if __name__ == "__main__":
    main()
