"""xlmk-index's build time per 1k descriptions at tiny and base dims, and the index size.

Models: ``xlmk_tiny`` (2 layers, 64 wide) and ``xlmk_base`` (XLM-R base: 12 layers, 768 wide,
knowledge heads 768), as good as random: one fairseq-train update at lr 1e-9 on the data
writes each checkpoint (the build time does not depend on the weights). Data: the embedded
multilingual sample (real article text: 364 descriptions of 82 entities in 7 languages),
preprocessed into a temporary directory unless ``--data`` names one. The build is timed from
the loaded model to the finished index (fingerprints, encoding, writing), in the process's
torch threads (``--threads``, default 2).

Size per million entities: from the written files, bytes per vector row (float16 vector,
entity id, language) and per entity (entities.tsv line, offsets, QID), scaled to 1M
entities with one row each (``--per entity``) and with the data's rows per entity
(``--per language``).

    python tests/benchmarks/bench_index.py [--data DATA] [--archs xlmk_tiny,xlmk_base] [--threads 2] [--dir /tmp]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)


def random_checkpoint(data, arch, out):
    cmd = [os.path.join(os.path.dirname(sys.executable), "fairseq-train"), data,
           "--user-dir", os.path.join(REPO, "xlmk_fairseq"), "--task", "knowledge_pretraining", "--criterion", "xlmk",
           "--arch", arch, "--max-update", "1", "--batch-size", "2", "--tokens-per-sample", "64",
           "--knowledge-tokens-per-sample", "64", "--queue-size", "16", "--optimizer", "adam", "--lr", "1e-9",
           "--cpu", "--num-workers", "0", "--data-buffer-size", "0", "--disable-validation",
           "--no-save-optimizer-state", "--no-epoch-checkpoints", "--save-dir", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode:
        raise SystemExit(f"fairseq-train failed:\n{proc.stderr[-3000:]}")
    return os.path.join(out, "checkpoint_last.pt")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data")
    p.add_argument("--archs", default="xlmk_tiny,xlmk_base")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dir", default=tempfile.gettempdir())
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from xlmk_fairseq.linking import EntityIndex, build_index, load_model

    root = tempfile.mkdtemp(dir=args.dir)
    try:
        data = args.data
        if not data:
            from preprocess.cli import main as preprocess

            data = os.path.join(root, "data")
            preprocess(["all", "--config", os.path.join(REPO, "recipes", "config", "preprocess_sample.yaml"),
                        "--work", os.path.join(root, "work"), "--out", data])
        print("| model | dim | descriptions | mean tokens | build (s) | s per 1k descriptions | index (MiB) | "
              "GiB per 1M entities, one row each | GiB per 1M entities, per language |")
        print("|---|---|---|---|---|---|---|---|---|")
        for arch in args.archs.split(","):
            checkpoint = random_checkpoint(data, arch, os.path.join(root, arch))
            model = load_model(checkpoint, data)
            out = os.path.join(root, arch + ".index")
            start = time.perf_counter()
            build_index(model, data, out, progress=False)
            seconds = time.perf_counter() - start
            index = EntityIndex.load(out)
            h = index.header
            sizes = {f: os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)
                     if os.path.isfile(os.path.join(out, f))}
            per_row = (sizes["vectors.npy"] + sizes["entity.npy"] + sizes["lang.npy"] - 3 * 128) / h["rows"]
            entities = len(index.qids)
            per_entity = (sizes["entities.tsv"] + sizes["entities.offsets.npy"] + sizes["qid.npy"] - 2 * 128) / entities
            rows_per_entity = h["rows"] / h["entities"]
            mean_tokens = _mean_tokens(data, h)
            print(f"| {arch} | {h['dim']} | {h['descriptions']} | {mean_tokens:.0f} | {seconds:.1f} | "
                  f"{seconds / h['descriptions'] * 1000:.1f} | {sum(sizes.values()) / 2**20:.2f} | "
                  f"{(per_row + per_entity) * 1e6 / 2**30:.2f} | "
                  f"{(rows_per_entity * per_row + per_entity) * 1e6 / 2**30:.2f} ({rows_per_entity:.1f} rows) |",
                  flush=True)
        print(f"\n{args.threads} torch threads; descriptions cut to 256 tokens; batches of at most 16384 tokens")
    finally:
        shutil.rmtree(root)


def _mean_tokens(data, header):
    from xlmk_fairseq.data.knowledge_dir import KnowledgeDir

    kdir = KnowledgeDir(data)
    sizes = []
    for lang in header["indexed_languages"]:
        texts = kdir.indexed("desc", lang)  # held while its sizes (a view of its memory map) are read
        sizes.append(np.minimum(np.array(texts.sizes, dtype=np.int64), header["max_tokens"] - 2) + 2)
        del texts
    return float(np.concatenate(sizes).mean())


if __name__ == "__main__":
    main()
