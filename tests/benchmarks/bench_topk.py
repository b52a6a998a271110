"""Top-k search of an entity index at scale: exact (chunked) and approximate (faiss IVF).

Synthetic unit vectors stand in for an index (``--dim`` 768, float16 in a memory-mapped .npy,
one row per entity, as ``xlmk-index --per entity`` writes it): ``entities / 100`` random
cluster centres, each key its centre plus Gaussian noise of the same norm (cosine about 0.5
within a cluster), and each query a key plus noise of half that norm (its key is its
nearest neighbour, cosine about 0.9). Every measurement runs in a process of its own, so
its peak resident memory (ru_maxrss, which includes the index pages it read from the memory
map) and its CPU time are its own. Reported per size: search time per 1k queries and in
total, peak memory, and for the approximate search its build time, recall@10 against the
exact top-10 and the speed-up of the search. On a machine whose cores other jobs share, wall
time depends on them: the notes give the exact search's CPU seconds and the float32 GEMM
throughput measured around it (the search's floor: every query times every key).

    python tests/benchmarks/bench_topk.py [--entities 100000,1000000] [--queries 10000] [--dim 768]
        [--nprobe 16] [--nlist N] [--threads 2] [--dir /tmp] [--no-approximate]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)


def make_vectors(root, entities, queries, dim, seed=0):
    """vectors.npy (float16 [entities, dim]) and queries.npy (float32 [queries, dim]), unit rows."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, entities // 100), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    keys = np.lib.format.open_memmap(os.path.join(root, "vectors.npy"), mode="w+", dtype=np.float16,
                                     shape=(entities, dim))
    for a in range(0, entities, 65536):
        b = min(a + 65536, entities)
        x = centres[rng.integers(len(centres), size=b - a)]
        x = x + rng.standard_normal((b - a, dim)).astype(np.float32) / np.sqrt(dim)
        keys[a:b] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    keys.flush()
    picked = np.sort(rng.choice(entities, size=queries, replace=queries > entities))
    q = np.asarray(keys[picked], dtype=np.float32)
    q = q + 0.5 * rng.standard_normal(q.shape).astype(np.float32) / np.sqrt(dim)
    np.save(os.path.join(root, "queries.npy"), q / np.linalg.norm(q, axis=1, keepdims=True))
    del keys


def child(args):
    """One measurement in this process: prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    keys = np.load(os.path.join(args.child, "vectors.npy"), mmap_mode="r")
    queries = torch.from_numpy(np.load(os.path.join(args.child, "queries.npy")))
    out = {"mode": args.mode}
    if args.mode == "exact":
        from xlmk_fairseq.linking.search import exact_search

        gflops = [gemm_gflops(keys.shape[1])]
        start = time.perf_counter()
        result = exact_search(queries, keys, k=10)
        out["search_s"] = time.perf_counter() - start
        gflops.append(gemm_gflops(keys.shape[1]))
        out["gemm_gflops"] = sum(gflops) / 2
        out["gemm_bound_s"] = 2 * len(queries) * len(keys) * keys.shape[1] / out["gemm_gflops"] / 1e9
        out["load"] = os.getloadavg()[0]
        np.save(os.path.join(args.child, "exact_ids.npy"), result.ids.numpy())
    else:
        import faiss

        faiss.omp_set_num_threads(args.threads)
        from xlmk_fairseq.linking.approximate import build_ivf, default_nlist

        nlist = args.nlist or default_nlist(len(keys))
        start = time.perf_counter()
        ivf = build_ivf(keys, nlist)
        out["build_s"] = time.perf_counter() - start
        ivf.nprobe = args.nprobe
        start = time.perf_counter()
        _, ids = ivf.search(queries.numpy(), 10)
        out["search_s"] = time.perf_counter() - start
        out.update(nlist=nlist, nprobe=args.nprobe)
        np.save(os.path.join(args.child, "approximate_ids.npy"), ids)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_gib"] = usage.ru_maxrss / 2**20
    out["cpu_s"] = usage.ru_utime + usage.ru_stime  # the whole child: data loading and calibration too
    print(json.dumps(out))


def gemm_gflops(dim, repeats=3):
    """float32 GEMM throughput of this machine now, at the search's block shape (the floor
    of the exact search: every query times every key)."""
    import torch

    q, k = torch.randn(2048, dim), torch.randn(32768, dim)
    q @ k.T
    start = time.perf_counter()
    for _ in range(repeats):
        q @ k.T
    return repeats * 2 * 2048 * 32768 * dim / (time.perf_counter() - start) / 1e9


def measure(root, mode, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", root, "--mode", mode, "--threads", str(args.threads),
           "--nprobe", str(args.nprobe)] + (["--nlist", str(args.nlist)] if args.nlist else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def recall_at_10(exact, approximate):
    return float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact.tolist(), approximate.tolist())]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entities", default="100000,1000000")
    p.add_argument("--queries", type=int, default=10000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--nprobe", type=int, default=16)
    p.add_argument("--nlist", type=int)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dir", default=tempfile.gettempdir())
    p.add_argument("--no-approximate", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    print("| entities | search | build (s) | search (s) | per 1k queries (s) | peak RSS (GiB) | recall@10 | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for n in (int(x) for x in args.entities.split(",")):
        root = tempfile.mkdtemp(dir=args.dir)
        try:
            make_vectors(root, n, args.queries, args.dim)
            size = os.path.getsize(os.path.join(root, "vectors.npy")) / 2**30
            exact = measure(root, "exact", args)
            per_1k = exact["search_s"] / args.queries * 1000
            print(f"| {n:,} ({size:.2f} GiB) | exact | - | {exact['search_s']:.1f} | {per_1k:.2f} | "
                  f"{exact['peak_rss_gib']:.2f} | 1.000 | 1.0 |", flush=True)
            notes.append(f"{n:,} exact: float32 GEMM ran at {exact['gemm_gflops']:.0f} GFLOPS around the search "
                         f"(load average {exact['load']:.1f}), so its products alone take {exact['gemm_bound_s']:.0f} s "
                         f"of the {exact['search_s']:.0f} s; the process used {exact['cpu_s']:.0f} CPU seconds "
                         f"({exact['cpu_s'] / args.threads:.0f} s of wall time on {args.threads} cores of its own)")
            if not args.no_approximate:
                approx = measure(root, "approximate", args)
                recall = recall_at_10(np.load(os.path.join(root, "exact_ids.npy")),
                                      np.load(os.path.join(root, "approximate_ids.npy")))
                print(f"| {n:,} | faiss IVF-SQfp16 (nlist {approx['nlist']}, nprobe {approx['nprobe']}) | "
                      f"{approx['build_s']:.1f} | {approx['search_s']:.1f} | "
                      f"{approx['search_s'] / args.queries * 1000:.3f} | {approx['peak_rss_gib']:.2f} | "
                      f"{recall:.3f} | {exact['search_s'] / approx['search_s']:.0f}x |", flush=True)
        finally:
            shutil.rmtree(root)
    print(f"\n{args.queries} queries, dim {args.dim}, k 10, {args.threads} threads; exact: chunks of "
          f"32768 keys x blocks of 2048 queries (xlmk_fairseq/linking/search.py)")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
