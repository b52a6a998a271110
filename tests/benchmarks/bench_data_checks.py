"""Start-up cost of the data checks that keep bad data from failing mid-run.

The task scans every token of every indexed dataset it trains on (``check_token_ids``) and
checks the whole description index (``EntityDescriptions._check_index``), vectorised over
the memory maps. This measures both at real sizes: N items of about 30 tokens with XLM-R's
250,002-entry dictionary (int32 on disk), and an index of N entities with 3 descriptions
each, as the Wikidata step writes for N kept entities.

    python tests/benchmarks/bench_data_checks.py [--items 10000000] [--dir /tmp]

Reported twice: the first scan reads the file from the page cache where writing left it;
the figure after dropping nothing is the warm one (a cold disk adds its read time).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from fairseq.data.indexed_dataset import MMapIndexedDataset  # noqa: E402

from xlmk_fairseq.data.entity_descriptions import EntityDescriptions  # noqa: E402
from xlmk_fairseq.data.knowledge_dir import KnowledgeDir  # noqa: E402

VOCAB = 250002


def write_indexed(prefix, sizes, rng):
    with open(prefix + ".bin", "wb") as f:
        for start in range(0, len(sizes), 1 << 20):
            n = int(sizes[start : start + (1 << 20)].sum())
            f.write(rng.integers(4, VOCAB, size=n, dtype=np.int32).tobytes())
    with MMapIndexedDataset.Index.writer(prefix + ".idx", np.int32) as w:
        w.write(sizes)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    root = tempfile.mkdtemp(dir=args.dir)
    try:
        prefix = os.path.join(root, "tokens")
        sizes = rng.integers(10, 51, size=args.items).astype(np.int32)
        write_indexed(prefix, sizes, rng)
        dataset = MMapIndexedDataset(prefix)
        kdir = KnowledgeDir.__new__(KnowledgeDir)  # the checks need only path(); no manifest
        kdir.root = root
        gb = os.path.getsize(prefix + ".bin") / 1e9
        scans = [timed(lambda: kdir.check_token_ids(dataset, prefix + ".bin", VOCAB)) for _ in range(2)]

        n = args.items
        descriptions = EntityDescriptions.__new__(EntityDescriptions)
        descriptions.offsets = np.arange(0, 3 * n + 1, 3, dtype=np.int64)
        descriptions.desc_lang = rng.integers(0, 3, size=3 * n).astype(np.int16)
        descriptions.desc_row = rng.integers(0, n, size=3 * n).astype(np.int64)
        descriptions.texts = [dataset] * 3
        kdir.languages = ["en", "de", "zh"]
        index = timed(lambda: descriptions._check_index(kdir))
    finally:
        shutil.rmtree(root)
    print(f"token ids: {args.items:,} items, {int(sizes.sum()):,} tokens, {gb:.2f} GB int32: "
          f"{scans[0]:.2f} s first scan, {scans[1]:.2f} s second ({gb / scans[1]:.1f} GB/s)")
    print(f"description index: {n:,} entities, {3 * n:,} descriptions: {index:.2f} s")


if __name__ == "__main__":
    main()
