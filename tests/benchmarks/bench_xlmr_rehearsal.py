"""Rehearsal at XLM-R's real shapes, on the CPU: restore a checkpoint shaped like the 2019
XLM-R base release into ``xlmk_base``, train a few updates, export to Hugging Face.

Steps, all in one run:

1. synthetic knowledge data whose dictionary has XLM-R's 250,002 entries
   (``make_synthetic_data(..., vocab_size=250002)``), and next to it a release directory
   written by tests/xlmr_release_fixture.py: model.pt (fairseq-0.9 key names, an argparse
   ``args``, fp16 weights, numpy values in ``extra_state``; random weights at XLM-R base's
   shapes: 12 x 768, ffn 3072, 12 heads, 514 positions, 250002 x 768 embeddings), the same
   dict.txt, and a sentencepiece model matching it;
2. ``fairseq-train --task knowledge_pretraining --criterion xlmk --arch xlmk_base
   --restore-file model.pt --reset-optimizer --reset-dataloader --reset-meters
   --reset-lr-scheduler``, N updates on the CPU; the restored encoder is checked tensor by
   tensor against the release (fp16 -> fp32 must be exact) before the first update;
3. the same restore and N updates with fairseq's own ``--task masked_lm --criterion
   masked_lm --arch roberta_base`` on the data's mlm/en text, same batch shapes (with
   ``--user-dir xlmk_fairseq`` too, only so that torch >= 2.6 may load the release: its
   allowlist of argparse.Namespace and numpy values);
4. ``xlmk-export-hf`` of the XLM-K checkpoint (verified: token ids and logits of the
   reloaded Hugging Face model against fairseq's).

Both trainings run as fairseq-train's own entry point (fairseq_cli.train.cli_main) in a
child process of this script, which times Trainer.train_step (forward, backward and
optimizer step: the seconds per update) and checks the restore; peak RSS is the child's
(os.wait4), so one process's figure per row.

    OMP_NUM_THREADS=1 python tests/benchmarks/bench_xlmr_rehearsal.py [--updates 2]
        [--batch-size 2] [--tokens-per-sample 128] [--knowledge-tokens-per-sample 64]
        [--numpy-names numpy1|current] [--no-masked-lm] [--work DIR --keep]
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER_DIR = os.path.join(REPO, "xlmk_fairseq")
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

XLMR_VOCAB = 250002
KNOWLEDGE_PREFIXES = ("knowledge_heads.", "mep_queue.", "oe_queue.")
RESTORE_LOG = re.compile(r"initialised (\d+) tensors freshly: ([^\n]*)")


# ---------------------------------------------------------------- the child: fairseq-train

def _tensor_sha256(tensor, dtype=None, chunk=1 << 24):
    """sha256 of the tensor's values as ``dtype`` (default: its own), in chunks (no copy of
    a whole 250k x 768 matrix)."""
    import torch

    flat = tensor.detach().reshape(-1)
    h = hashlib.sha256()
    for start in range(0, flat.numel(), chunk):
        part = flat[start:start + chunk]
        if dtype is not None:
            converted = part.to(dtype)
            if not torch.equal(converted.to(part.dtype), part):
                return None  # not exactly representable in dtype: cannot be the release's value
            part = converted
        h.update(part.contiguous().numpy().tobytes())
    return h.hexdigest()


def child_main(result_path, expected_path, argv):
    """fairseq-train with ``argv``, timing each Trainer.train_step; with ``expected_path``
    (JSON {model tensor name: sha256 of its fp16 values}), check the restored model."""
    import resource

    from fairseq_cli.train import cli_main  # first: its logging format, as fairseq-train's

    import torch
    from fairseq import trainer as trainer_module

    result = {"step_seconds": [], "batch": None}
    expected = json.load(open(expected_path)) if expected_path else None
    original_load, original_step = trainer_module.Trainer.load_checkpoint, trainer_module.Trainer.train_step

    def load_checkpoint(self, *args, **kwargs):
        out = original_load(self, *args, **kwargs)
        if expected is not None:
            state = self.model.state_dict()
            mismatched = [k for k, h in expected.items()
                          if k not in state or _tensor_sha256(state[k], torch.float16) != h]
            others = sorted({(".".join(k.split(".")[:2]) if k.startswith("knowledge_heads.") else k.split(".")[0])
                             if k.startswith(KNOWLEDGE_PREFIXES) else k for k in state if k not in expected})
            result["restore"] = {"compared": len(expected), "mismatched": mismatched,
                                 "dtype": str(next(iter(state.values())).dtype),
                                 "not_in_release": others}
        return out

    def train_step(self, samples, *args, **kwargs):
        if result["batch"] is None:
            result["batch"] = _batch_shapes(samples[0], self.task.source_dictionary.pad())
        start = time.perf_counter()
        out = original_step(self, samples, *args, **kwargs)
        result["step_seconds"].append(time.perf_counter() - start)
        return out

    trainer_module.Trainer.load_checkpoint = load_checkpoint
    trainer_module.Trainer.train_step = train_step
    sys.argv = ["fairseq-train", *argv]
    try:
        cli_main()
    finally:
        result["maxrss_kib_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open(result_path, "w") as f:
            json.dump(result, f)


def _batch_shapes(sample, pad):
    """What one update encodes: [name, shape, masked-or-picked targets] per encoder input."""
    out = []
    for name in ("mlm", "desc_mlm"):
        if name in sample:
            tokens = sample[name]["net_input"]["src_tokens"]
            out.append([name, list(tokens.shape), int(sample[name]["target"].ne(pad).sum())])
    if "net_input" in sample:  # masked_lm
        out.append(["mlm", list(sample["net_input"]["src_tokens"].shape), int(sample["target"].ne(pad).sum())])
    if "knowledge" in sample:
        k = sample["knowledge"]
        for tokens, _ in k["buckets"]:
            out.append(["knowledge", list(tokens.shape), int(tokens.size(0))])
    return out


# ---------------------------------------------------------------- the parent

def run_measured(cmd, log_path, env):
    """Run ``cmd`` with its output in ``log_path``; return (exit code, seconds, peak RSS of
    that process in MiB)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024


def parse_train_logs(text):
    """[(tag, record)] of fairseq-train's --log-format json (tag: train_inner, train)."""
    records = []
    for line in text.splitlines():
        brace = line.find("{")
        head = line[:brace].rstrip(" |:")
        if brace < 0 or not ("|" in head or ":" in head):
            continue
        tag = re.split(r"[|:]", head)[-1].strip()
        try:
            records.append((tag, json.loads(line[brace:])))
        except ValueError:
            continue
    return records


SMALL_DIMS = ["--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
              "--encoder-attention-heads", "4"]


def prepare(work, numpy_names="numpy1", numpy_array=True, log=print, small=False):
    """Data, masked_lm data, release directory and the expected restored hashes
    (``small``: the fixture's SMALL shapes and a small dictionary, for quick checks)."""
    import gc

    from preprocess.synthetic import make_synthetic_data
    from xlmr_release_fixture import SMALL, XLMR_BASE, release_to_model_name, write_release_dir

    t = time.perf_counter()
    vocab = None if small else XLMR_VOCAB
    data = make_synthetic_data(os.path.join(work, "data"), vocab_size=vocab)
    log(f"# synthetic data with a {vocab or 'small'}-entry dictionary: {time.perf_counter() - t:.1f}s")
    mlm_data = os.path.join(work, "mlm_en")
    os.makedirs(mlm_data, exist_ok=True)
    for name in ("train.bin", "train.idx", "valid.bin", "valid.idx"):
        shutil.copy(os.path.join(data, "mlm", "en", name), os.path.join(mlm_data, name))
    shutil.copy(os.path.join(data, "dict.txt"), mlm_data)

    t = time.perf_counter()
    release_dir = os.path.join(work, "xlmr.base")
    path, ckpt = write_release_dir(release_dir, os.path.join(data, "dict.txt"), SMALL if small else XLMR_BASE,
                                   numpy_names=numpy_names, numpy_array=numpy_array)
    # the export reads the sentencepiece model from the data directory, as for real data
    shutil.copy(os.path.join(release_dir, "sentencepiece.bpe.model"), data)
    expected = {release_to_model_name(k): _tensor_sha256(v) for k, v in ckpt["model"].items()}
    num_params = sum(v.numel() for v in {id(v): v for v in ckpt["model"].values()}.values())
    dtype = str(next(iter(ckpt["model"].values())).dtype)
    del ckpt
    gc.collect()
    expected_path = os.path.join(work, "release_sha256.json")
    with open(expected_path, "w") as f:
        json.dump(expected, f)
    log(f"# release checkpoint {path}: {num_params / 1e6:.1f}M parameters in {dtype}, "
        f"{os.path.getsize(path) / 2**20:.0f} MiB, numpy names {numpy_names}: "
        f"{time.perf_counter() - t:.1f}s")
    sentences = os.path.join(work, "verify_sentences.txt")
    write_verify_sentences(os.path.join(data, "dict.txt"), sentences)
    return {"data": data, "mlm_data": mlm_data, "release": path, "expected": expected_path,
            "sentences": sentences, "num_params": num_params}


def write_verify_sentences(dict_path, out):
    """Sentences of the dictionary's own symbols (they are the sentencepiece pieces), from
    its first lines to its last. (Not plain text: the fixture's sentencepiece model has no
    piece for it, and sentencepiece makes one <unk> of a run of unknown words where Hugging
    Face's tokenizer makes one per word.)"""
    with open(dict_path, encoding="utf-8") as f:
        symbols = [line.rsplit(" ", 1)[0] for line in f]
    starts = sorted({min(i, len(symbols) - 6) for i in (0, 40, 700, 5000, 120000, len(symbols))})
    picks = [symbols[i:i + 6] for i in starts]
    with open(out, "w", encoding="utf-8") as f:
        for words in picks:
            f.write(" ".join(words) + "\n")
    return out


def common_args(cli):
    return ["--batch-size", str(cli.batch_size), "--tokens-per-sample", str(cli.tokens_per_sample),
            "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "3e-5",
            "--max-update", str(cli.updates), "--cpu", "--seed", "1", "--num-workers", "0",
            "--data-buffer-size", "0", "--log-format", "json", "--log-interval", "1",
            "--disable-validation", "--no-epoch-checkpoints",
            "--reset-optimizer", "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler"]


def train(name, data, save_dir, args, paths, work, threads, check_restore):
    result_path = os.path.join(work, f"{name}_result.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", result_path,
           *(["--_expected", paths["expected"]] if check_restore else []), "--",
           data, "--restore-file", paths["release"], "--save-dir", save_dir, *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log_path = os.path.join(work, f"{name}.log")
    code, seconds, rss = run_measured(cmd, log_path, env)
    text = open(log_path, encoding="utf-8", errors="replace").read()
    if code != 0:
        raise RuntimeError(f"{name} training failed ({code}): {' '.join(cmd)}\n{text[-4000:]}")
    result = json.load(open(result_path))
    result.update(name=name, wall_seconds=seconds, peak_rss_mib=rss, log=log_path,
                  records=parse_train_logs(text))
    restore = RESTORE_LOG.search(text)
    result["restore_log"] = restore.group(0) if restore else None
    return result


def export(paths, work):
    out = os.path.join(work, "hf_export")
    cmd = [os.path.join(BIN, "xlmk-export-hf"), os.path.join(work, "xlmk_ck", "checkpoint_last.pt"),
           paths["data"], out, "--sentences", paths["sentences"], "--overwrite"]
    log_path = os.path.join(work, "export.log")
    code, seconds, rss = run_measured(cmd, log_path, {**os.environ, "HF_HUB_OFFLINE": "1"})
    text = open(log_path, encoding="utf-8", errors="replace").read()
    if code != 0:
        raise RuntimeError(f"xlmk-export-hf failed ({code}): {' '.join(cmd)}\n{text[-4000:]}")
    report = json.load(open(os.path.join(out, "xlmk_export.json")))
    return {"seconds": seconds, "peak_rss_mib": rss, "report": report, "out": out, "stdout": text.strip()}


def run_rehearsal(work, updates=2, batch_size=2, tokens_per_sample=128, knowledge_tokens_per_sample=64,
                  queue_size=32768, threads=1, numpy_names="numpy1", numpy_array=True,
                  masked_lm=True, do_export=True, log=print, small=False):
    """All steps; returns a dict of results (see main for the table)."""
    cli = argparse.Namespace(updates=updates, batch_size=batch_size, tokens_per_sample=tokens_per_sample)
    paths = prepare(work, numpy_names, numpy_array, log, small)
    dims = SMALL_DIMS if small else []
    results = {"paths": paths, "runs": {}}
    xlmk_args = ["--user-dir", USER_DIR, "--task", "knowledge_pretraining", "--criterion", "xlmk",
                 "--arch", "xlmk_base", "--queue-size", str(queue_size),
                 "--knowledge-tokens-per-sample", str(knowledge_tokens_per_sample),
                 "--no-save-optimizer-state", *dims, *(["--knowledge-proj-dim", "64"] if small else []),
                 *common_args(cli)]
    log("# training xlmk_base (knowledge_pretraining) ...")
    results["runs"]["xlmk"] = train("xlmk", paths["data"], os.path.join(work, "xlmk_ck"), xlmk_args,
                                    paths, work, threads, check_restore=True)
    if masked_lm:
        # --user-dir only for its checkpoint loading: torch >= 2.6 refuses the release's
        # argparse.Namespace and numpy values without the plugin's allowlist
        mlm_args = ["--user-dir", USER_DIR, "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
                    "--sample-break-mode", "complete", "--max-positions", "512", "--no-save", *dims,
                    *common_args(cli)]
        log("# training roberta_base (masked_lm) ...")
        results["runs"]["masked_lm"] = train("masked_lm", paths["mlm_data"], os.path.join(work, "mlm_ck"),
                                             mlm_args, paths, work, threads, check_restore=True)
    if do_export:
        log("# exporting to Hugging Face ...")
        results["export"] = export(paths, work)
    return results


def losses(run, key="loss"):
    """Per update, as logged (bits)."""
    return [float(r[key]) for tag, r in run["records"] if tag == "train_inner" and key in r]


def print_table(results, cli):
    runs = results["runs"]
    print(f"# threads={cli.threads} batch={cli.batch_size} tokens_per_sample={cli.tokens_per_sample} "
          f"knowledge_tokens_per_sample={cli.knowledge_tokens_per_sample} queue={cli.queue_size} "
          f"updates={cli.updates}; release: {results['paths']['num_params'] / 1e6:.1f}M parameters")
    for name, run in runs.items():
        shapes = "; ".join(f"{n} {'x'.join(map(str, s))} ({t} {'targets' if n != 'knowledge' else 'vectors'})"
                           for n, s, t in run["batch"])
        print(f"# {name} batch of update 1: {shapes}")
    print("| run | peak RSS (MiB) | s/update (1st) | s/update (later, mean) | ratio | loss (mlm_loss) per update | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    later = {}
    for name, run in runs.items():
        steps = run["step_seconds"]
        later[name] = sum(steps[1:]) / len(steps[1:]) if len(steps) > 1 else steps[0]
    for name, run in runs.items():
        ratio = f"{later['xlmk'] / later['masked_lm']:.2f}" if name == "xlmk" and "masked_lm" in later else ""
        print(f"| {name} | {run['peak_rss_mib']:.0f} | {run['step_seconds'][0]:.2f} | {later[name]:.2f} | "
              f"{ratio} | {', '.join(f'{x:.2f}' for x in losses(run))} ({', '.join(f'{x:.2f}' for x in losses(run, 'mlm_loss')) or '-'}) | "
              f"{run['wall_seconds']:.0f} |")
    if "export" in results:
        e = results["export"]
        print(f"| export (xlmk-export-hf) | {e['peak_rss_mib']:.0f} | | | | verified={e['report']['verified']} "
              f"max|dlogit|={e['report'].get('max_abs_logit_diff', float('nan')):.1e} | {e['seconds']:.0f} |")
    for name, run in runs.items():
        r = run.get("restore", {})
        print(f"# {name} restore: {r.get('compared')} release tensors compared, "
              f"{len(r.get('mismatched', []))} differ; model-only: {', '.join(r.get('not_in_release', [])) or '-'}; "
              f"log: {run['restore_log'] or '-'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--tokens-per-sample", type=int, default=128)
    parser.add_argument("--knowledge-tokens-per-sample", type=int, default=64)
    parser.add_argument("--queue-size", type=int, default=32768)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--numpy-names", choices=["numpy1", "current"], default="numpy1",
                        help="module names of the numpy values in extra_state (numpy1: numpy.core.*, as in 2019)")
    parser.add_argument("--no-numpy-array", dest="numpy_array", action="store_false",
                        help="leave the int64 array out of extra_state (numpy scalars only)")
    parser.add_argument("--no-masked-lm", dest="masked_lm", action="store_false")
    parser.add_argument("--no-export", dest="export", action="store_false")
    parser.add_argument("--small", action="store_true", help="toy shapes (2 x 64) and a small dictionary: a quick check of the steps")
    parser.add_argument("--work", help="working directory (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep --work")
    parser.add_argument("--json", help="write the results here")
    cli = parser.parse_args()
    work = cli.work or tempfile.mkdtemp(prefix="xlmr_rehearsal_")
    os.makedirs(work, exist_ok=True)
    start = time.perf_counter()
    try:
        results = run_rehearsal(work, cli.updates, cli.batch_size, cli.tokens_per_sample,
                                cli.knowledge_tokens_per_sample, cli.queue_size, cli.threads,
                                cli.numpy_names, cli.numpy_array, cli.masked_lm, cli.export, small=cli.small)
        print_table(results, cli)
        print(f"# total {time.perf_counter() - start:.0f}s")
        if cli.json:
            with open(cli.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
    finally:
        if not cli.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        result_path = sys.argv[2]
        rest = sys.argv[3:]
        expected = None
        if rest[0] == "--_expected":
            expected, rest = rest[1], rest[2:]
        assert rest[0] == "--"
        child_main(result_path, expected, rest[1:])
    else:
        main()
