"""Split an mLAMA-layout probe set by whether each fact's triple was trained on.

Link prediction and Object Entailment train on the data's ``oe/train.npy`` triples; a probe
fact whose (subject, relation, object) is one of them was seen in training, any other was not
(``oe/valid.npy`` and triples the data dropped). P@1 on the two halves tells recall of
trained facts from knowledge that carries over.

    python recipes/split_probe_set.py DATA PROBE OUT     # -> OUT/seen, OUT/held_out (same layout)
"""

import argparse
import glob
import json
import os
import shutil

import numpy as np


def trained_triples(data):
    """{(subject QID, PID, object QID)} of DATA/oe/train.npy."""
    def ids(path):
        with open(path, encoding="utf-8") as f:
            return [line.split("\t")[1] for line in f]

    qids, pids = ids(os.path.join(data, "entities.tsv")), ids(os.path.join(data, "relations.tsv"))
    return {(qids[s], pids[r], qids[o]) for s, r, o in np.load(os.path.join(data, "oe", "train.npy")).tolist()}


def split(data, probe, out):
    trained, counts = trained_triples(data), {"seen": 0, "held_out": 0}
    for path in sorted(glob.glob(os.path.join(probe, "*", "*"))):
        lang, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
        for part in counts:
            os.makedirs(os.path.join(out, part, lang), exist_ok=True)
        if not name.endswith(".jsonl") or name == "templates.jsonl":
            for part in counts:  # templates, candidates: as they are
                shutil.copy(path, os.path.join(out, part, lang, name))
            continue
        relation, lines = name[: -len(".jsonl")], {"seen": [], "held_out": []}
        with open(path, encoding="utf-8") as f:
            for line in f:
                fact = json.loads(line)
                part = "seen" if (fact["sub_uri"], relation, fact["obj_uri"]) in trained else "held_out"
                lines[part].append(line)
                counts[part] += 1
        for part, kept in lines.items():
            with open(os.path.join(out, part, lang, name), "w", encoding="utf-8") as f:
                f.writelines(kept)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("probe")
    parser.add_argument("out")
    args = parser.parse_args()
    counts = split(args.data, args.probe, args.out)
    print(f"probe facts: {counts['seen']} seen in training (oe/train.npy), {counts['held_out']} not")


if __name__ == "__main__":
    main()
