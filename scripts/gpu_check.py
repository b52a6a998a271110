"""GPU check of XLM-K training: xlmk_base from random init in --fp16, --amp and bf16, under
DDP with NCCL, against fairseq's own masked_lm (roberta_base) in the same mode.

    python scripts/gpu_check.py [--out DIR] [--budget-s 450] [--cpu-dry-run]

Run by scripts/gpu_check.sh (which sets up fairseq first). What it does:

1. writes a synthetic knowledge data directory with XLM-R's dictionary size (250,002) and a
   masked_lm data directory with its English MLM text (the same blocks for both tasks);
2. for each mode trains xlmk_base (--langs en) and then roberta_base on masked_lm for up to
   --max-update updates (capped by --stop-seconds of training time and by the budget), one
   process under torchrun with an NCCL process group and --ddp-backend pytorch_ddp. fairseq
   wraps the model in DDP only at world size > 1, so scripts/gpu_train.py forces the wrapper;
   for bf16 it also clears the --tpu that fairseq 0.12 adds to --bf16 (see there);
3. checks every run: it finished; every logged loss is finite; the model was DDP-wrapped
   on the expected backend; for XLM-K the saved queues (checkpoint_last.pt) have the model's
   float dtype (fp16 under --fp16, fp32 under --amp, bf16 under --bf16), finite keys, and
   fill (logged mep_queue_fill / oe_queue_fill > 0, <= queue size, never decreasing);
4. reports tokens/s, step time, GPU peak memory and MFU, XLM-K vs masked_lm;
5. tries plain --bf16 (tpu implied) last, if time is left, and reports what happened
   (informational: not a check).

Writes summary.md, summary.json and logs.tar.gz to --out; exits 1 when a check fails.
"""

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "scripts", "gpu_train.py")
EXPECTED_QUEUE_DTYPE = {"fp16": "torch.float16", "amp": "torch.float32", "bf16": "torch.bfloat16"}
MODE_FLAGS = {"fp16": ["--fp16"], "amp": ["--amp"], "bf16": ["--bf16"]}
TINY_DIMS = ["--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "256",
             "--encoder-attention-heads", "4"]
LOG_RECORD = re.compile(r"[|:] ?(train_inner|train) ?[|:] ?(\{.*\})\s*$")
EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?([\w.]*(?:Error|Exception|Interrupt)\b.*)$")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or os.path.join(ROOT, "runs", "gpu_check"))
    p.add_argument("--work", default=None, help="scratch directory (default /tmp/xlmk_gpu_check[_cpu])")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="the same runs on the CPU at toy size (xlmk_tiny, 2 updates, gloo, legacy_ddp)")
    p.add_argument("--budget-s", type=float, default=450, help="wall-clock budget of the whole check")
    p.add_argument("--modes", default="fp16,amp,bf16")
    p.add_argument("--no-baseline", action="store_true", help="skip the masked_lm runs")
    p.add_argument("--no-bf16-plain", action="store_true", help="skip the plain --bf16 attempt")
    p.add_argument("--max-update", type=int, default=100)
    p.add_argument("--stop-seconds", type=float, default=45, help="training-time cap per run (fairseq --stop-time-hours)")
    p.add_argument("--run-timeout", type=float, default=150, help="hard cap per run (process killed)")
    p.add_argument("--min-run-s", type=float, default=50, help="skip a run when less budget than this is left")
    p.add_argument("--min-updates", type=int, default=20, help="a run must reach this many updates")
    p.add_argument("--warmup-steps", type=int, default=10, help="steps left out of tokens/s and MFU")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--tokens-per-sample", type=int, default=512)
    p.add_argument("--knowledge-tokens-per-sample", type=int, default=256)
    p.add_argument("--queue-size", type=int, default=32768)
    p.add_argument("--entities", type=int, default=2000)
    p.add_argument("--vocab-size", type=int, default=250002)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--log-interval", type=int, default=10)
    p.add_argument("--peak-tflops", type=float, default=989.0,
                   help="dense fp16/bf16 tensor-core peak per GPU for MFU (H100/H200 SXM: 989)")
    p.add_argument("--launcher", choices=["torchrun", "env"], default="torchrun",
                   help="torchrun --standalone --nproc-per-node 1, or the same env vars set directly")
    args = p.parse_args(argv)
    if args.cpu_dry_run:
        args.max_update = min(args.max_update, 2)
        args.batch_size, args.tokens_per_sample, args.knowledge_tokens_per_sample = 4, 64, 64
        args.queue_size, args.entities, args.num_workers, args.log_interval = 16, 200, 0, 1
        args.min_updates, args.warmup_steps = 2, 0
        args.min_run_s = min(args.min_run_s, 20)
    args.work = args.work or ("/tmp/xlmk_gpu_check_cpu" if args.cpu_dry_run else "/tmp/xlmk_gpu_check")
    return args


class Clock:
    def __init__(self, budget):
        self.start, self.budget = time.monotonic(), budget

    def elapsed(self):
        return time.monotonic() - self.start

    def left(self):
        return self.budget - self.elapsed()


def say(msg):
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------- environment

def environment(args):
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda_available": torch.cuda.is_available(), "torch_cuda": torch.version.cuda,
           "cpu_count": os.cpu_count()}
    try:
        import fairseq
        env["fairseq"] = f"{fairseq.__version__} ({os.path.dirname(fairseq.__file__)})"
    except Exception as e:  # reported, and the runs will fail with the full error
        env["fairseq"] = f"import failed: {e!r}"
    import numpy
    env["numpy"] = numpy.__version__
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", gpu_count=torch.cuda.device_count())
        for key, get in (("nccl", lambda: torch.cuda.nccl.version()),
                         ("bf16_supported", torch.cuda.is_bf16_supported)):
            try:
                value = get()
                env[key] = ".".join(map(str, value)) if isinstance(value, tuple) else value
            except Exception as e:  # informational only
                env[key] = f"? ({e!r})"
    env["runs_NCCL_SOCKET_IFNAME"] = os.environ.get("NCCL_SOCKET_IFNAME", "lo")
    return env


def bf16_static_check():
    """What fairseq 0.12's argument parsing does to --bf16 (no GPU needed)."""
    from fairseq import options
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, ["/nonexistent", "--arch", "roberta_base", "--task", "masked_lm", "--bf16"])
    return {"--bf16 sets args.tpu": bool(getattr(args, "tpu", False)),
            "torch_xla installed": importlib.util.find_spec("torch_xla") is not None}


# ---------------------------------------------------------------------------- data

def make_data(args, clock):
    data = os.path.join(args.work, "data")
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "preprocess.synthetic", data, "--entities", str(args.entities),
                    "--vocab-size", str(args.vocab_size)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    mlm = os.path.join(args.work, "mlm_en")
    os.makedirs(mlm, exist_ok=True)
    shutil.copy(os.path.join(data, "dict.txt"), mlm)
    for split in ("train", "valid"):
        for ext in ("bin", "idx"):
            shutil.copy(os.path.join(data, "mlm", "en", f"{split}.{ext}"), os.path.join(mlm, f"{split}.{ext}"))
    with open(os.path.join(data, "manifest.json")) as f:
        counts = json.load(f)["counts"]
    info = {"seconds": round(time.monotonic() - t, 1), "entities": args.entities,
            "dictionary_lines": sum(1 for _ in open(os.path.join(data, "dict.txt"))),
            "mlm_en_train_documents": counts.get("mlm/en/train/documents"),
            "mep_en_train_sentences": counts.get("mep/en/train/sentences"),
            "oe_train_triples": counts.get("oe/train/triples")}
    say(f"data written in {info['seconds']} s: {data}")
    return data, mlm, info


# ---------------------------------------------------------------------------- runs

def common_flags(args, save_dir, stop_s):
    flags = [
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--weight-decay", "0.01",
        "--clip-norm", "1.0", "--lr", "1e-4", "--lr-scheduler", "polynomial_decay",
        "--warmup-updates", str(min(10, args.max_update)), "--total-num-update", str(args.max_update),
        "--max-update", str(args.max_update), "--stop-time-hours", f"{stop_s / 3600:.6f}",
        "--batch-size", str(args.batch_size), "--update-freq", "1", "--seed", "1",
        "--tokens-per-sample", str(args.tokens_per_sample), "--sample-break-mode", "complete",
        "--num-workers", str(args.num_workers), "--disable-validation",
        "--no-epoch-checkpoints", "--save-interval", "100000", "--no-save-optimizer-state",
        "--save-dir", save_dir, "--log-format", "json", "--log-interval", str(args.log_interval),
    ]
    if args.cpu_dry_run:
        flags += ["--cpu", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"]
    else:
        flags += ["--distributed-backend", "nccl", "--ddp-backend", "pytorch_ddp"]
    return flags


def run_spec(args, kind, mode, data, mlm, plain_bf16=False):
    name = f"{kind}_{mode}" + ("_plain" if plain_bf16 else "")
    if kind == "xlmk":
        task = [data, "--user-dir", os.path.join(ROOT, "xlmk_fairseq"), "--task", "knowledge_pretraining",
                "--criterion", "xlmk", "--arch", "xlmk_tiny" if args.cpu_dry_run else "xlmk_base",
                "--langs", "en", "--knowledge-tokens-per-sample", str(args.knowledge_tokens_per_sample),
                "--queue-size", str(args.queue_size)]
    else:
        task = [mlm, "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base"]
        if args.cpu_dry_run:
            task += TINY_DIMS
    env = {"XLMK_CHECK_FORCE_DDP": "1"}
    if mode == "bf16" and not plain_bf16:
        env["XLMK_CHECK_BF16_NO_TPU"] = "1"
    return {"name": name, "kind": kind, "mode": mode, "task_flags": task, "env": env, "plain_bf16": plain_bf16}


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(args, spec, clock, logs_dir, ckpt_root):
    left = clock.left()
    stop_s = max(5.0, min(args.stop_seconds, left - 40))
    timeout = max(10.0, min(args.run_timeout, left - 5))
    if spec["plain_bf16"]:
        stop_s, timeout = 5.0, min(timeout, 90.0)
    save_dir = os.path.join(ckpt_root, spec["name"])
    stats = os.path.join(logs_dir, spec["name"] + ".stats.json")
    log = os.path.join(logs_dir, spec["name"] + ".log")
    for path in (stats,):
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree(save_dir, ignore_errors=True)
    flags = spec["task_flags"] + common_flags(args, save_dir, stop_s) + MODE_FLAGS[spec["mode"]]
    if args.cpu_dry_run and spec["mode"] == "fp16":
        flags.append("--fp16-no-flatten-grads")  # fairseq flattens fp16 master weights on CUDA only
    if spec["plain_bf16"]:
        flags[flags.index("--max-update") + 1] = "3"
    env = dict(os.environ, **spec["env"], XLMK_CHECK_STATS=stats, PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "1" if args.cpu_dry_run else "4")
    if not args.cpu_dry_run:
        env.setdefault("NCCL_SOCKET_IFNAME", "lo")  # one process on one machine: loopback only
        env.setdefault("NCCL_DEBUG", "WARN")
    if args.launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", TRAIN]
    else:
        cmd = [sys.executable, TRAIN]
        env.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    say(f"{spec['name']}: start (training cap {stop_s:.0f} s, kill after {timeout:.0f} s, "
        f"{clock.left():.0f} s of budget left)")
    t = time.monotonic()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd + flags) + "\n# env: " + json.dumps(spec["env"]) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd + flags, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = proc.returncode
    wall = time.monotonic() - t
    say(f"{spec['name']}: rc={rc}{' (killed: timeout)' if timed_out else ''} in {wall:.0f} s")
    return {"rc": rc, "timed_out": timed_out, "wall_s": round(wall, 1), "log": log, "stats": stats,
            "save_dir": save_dir}


# ---------------------------------------------------------------------------- results

def parse_log(path):
    inner, final, text = [], None, ""
    with open(path, errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        m = LOG_RECORD.search(line)
        if not m:
            continue
        try:
            record = json.loads(m.group(2))
        except json.JSONDecodeError:
            continue
        if m.group(1) == "train_inner":
            inner.append(record)
        else:
            final = record
    tail = [l for l in text.splitlines() if l.strip()][-25:]
    errors = [m.group(1) for m in map(EXCEPTION_LINE.match, text.splitlines())
              if m and "ChildFailedError" not in m.group(1)]
    return {"inner": inner, "final": final, "done": "done training in" in text,
            "overflows": text.count("gradient overflow detected"), "tail": tail, "errors": errors[-8:],
            "stop_reason": next((l.split("|")[-1].strip() for l in text.splitlines() if "Stopping training due to" in l), None)}


def as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def loss_values(log):
    values = []
    for record in log["inner"] + ([log["final"]] if log["final"] else []):
        for key, value in record.items():
            if key.endswith("loss") and key not in ("train_loss_scale", "loss_scale"):
                values.append((key, record.get("num_updates", record.get("train_num_updates")), as_float(value)))
    return values


def read_queues(save_dir):
    import torch
    path = os.path.join(save_dir, "checkpoint_last.pt")
    if not os.path.exists(path):
        return {"error": f"{path} missing"}
    try:  # our own checkpoint, written by this check: full unpickling is fine
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:
        state = torch.load(path, map_location="cpu", weights_only=False)
    model = state["model"]
    out = {"checkpoint_mb": round(os.path.getsize(path) / 2**20, 1)}
    weight = next((v for k, v in model.items() if k.endswith("layers.0.fc1.weight")), None)
    out["encoder_weight_dtype"] = str(weight.dtype) if weight is not None else None
    for q in ("mep_queue", "oe_queue"):
        keys = model.get(f"{q}.keys")
        if keys is None:
            out[q] = {"error": f"{q}.keys not in the checkpoint"}
            continue
        entities = model[f"{q}.entities"]
        out[q] = {"keys_dtype": str(keys.dtype), "shape": list(keys.shape),
                  "entities_dtype": str(entities.dtype),
                  "keys_finite": bool(torch.isfinite(keys.float()).all()),
                  "num_enqueued": int(model[f"{q}.num_enqueued"]),
                  "slots_with_entity": int((entities >= 0).sum()),
                  "key_norm_mean": round(float(keys.float().norm(dim=-1).mean()), 4)}
    return out


def summarize_stats(path, warmup, peak_flops):
    if not os.path.exists(path):
        return {"error": "no stats file (the process died before exit)"}
    with open(path) as f:
        stats = json.load(f)
    steps = stats["steps"]
    out = {"wrapper_chain": stats.get("wrapper_chain"), "process_group": stats.get("process_group"),
           "hooks": stats.get("hooks"), "model": stats.get("model"), "queues": stats.get("queues"),
           "steps": len(steps)}
    if stats.get("cuda"):
        out["peak_memory_allocated_gib"] = round(stats["cuda"]["max_memory_allocated"] / 2**30, 2)
        out["peak_memory_reserved_gib"] = round(stats["cuda"]["max_memory_reserved"] / 2**30, 2)
    skip = min(warmup, len(steps) // 2)
    steady = steps[skip:]
    if steady:
        seconds = sum(s["seconds"] for s in steady)
        tokens = sum(s["tokens"] for s in steady)
        flops = sum(s["flops"] for s in steady)
        ms = sorted(1000 * s["seconds"] for s in steady)
        out.update(
            measured_steps=len(steady), skipped_warmup_steps=skip,
            tokens_per_s=round(tokens / seconds, 1) if seconds else None,
            tokens_per_step=round(tokens / len(steady), 1),
            padding_fraction=round(1 - tokens / max(1, sum(s["slots"] for s in steady)), 4),
            masked_per_step=round(sum(s["masked"] for s in steady) / len(steady), 1),
            step_ms_median=round(ms[len(ms) // 2], 2), step_ms_mean=round(1000 * seconds / len(steady), 2),
            model_tflop_per_step=round(flops / len(steady) / 1e12, 4),
            achieved_tflops=round(flops / seconds / 1e12, 2) if seconds else None,
            mfu=round(flops / seconds / peak_flops, 4) if seconds and flops else None,
        )
    return out


def evaluate(args, spec, launched, clock):
    log = parse_log(launched["log"])
    stats = summarize_stats(launched["stats"], args.warmup_steps, args.peak_tflops * 1e12)
    result = {"name": spec["name"], "kind": spec["kind"], "mode": spec["mode"], **launched,
              "stats": stats, "stop_reason": log["stop_reason"], "fp16_overflows": log["overflows"]}
    final = log["final"] or {}
    last = log["inner"][-1] if log["inner"] else {}
    result["num_updates"] = int(as_float(final.get("train_num_updates", last.get("num_updates", 0))) or 0)
    wps = [as_float(r.get("wps")) for r in log["inner"][1:] or log["inner"]]
    wps = [w for w in wps if w is not None]
    result["fairseq_wps"] = round(sum(wps) / len(wps), 1) if wps else None
    result["fairseq_train_wps"] = as_float(final.get("train_wps"))
    result["final_losses"] = {k: as_float(v) for k, v in final.items() if k.endswith("loss")}
    for key in ("mlm_loss", "mep_loss", "oe_loss", "loss"):
        first = next((as_float(r[key]) for r in log["inner"] if key in r), None)
        if first is not None:
            result.setdefault("first_logged_losses", {})[key] = first
    if log["inner"]:
        for key in ("mep_acc", "oe_acc", "loss_scale"):
            if key in log["inner"][-1]:
                result.setdefault("last_logged", {})[key] = as_float(log["inner"][-1][key])
    checks = []

    def check(name, ok, detail):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    finished = launched["rc"] == 0 and log["done"]
    check("run finished", finished,
          f"rc={launched['rc']}, 'done training' {'seen' if log['done'] else 'missing'}"
          + (", killed at timeout" if launched["timed_out"] else "")
          + ("" if finished else " | " + " / ".join(log["errors"][-3:] or log["tail"][-3:])))
    check("updates", result["num_updates"] >= args.min_updates,
          f"{result['num_updates']} updates (need >= {args.min_updates}; stop: {log['stop_reason']})")
    losses = loss_values(log)
    bad = [(k, u, v) for k, u, v in losses if v is None or not math.isfinite(v)]
    check("losses finite", losses and not bad,
          f"{len(losses)} logged loss values" + (f"; not finite: {bad[:5]}" if bad else "")
          + ("; none logged" if not losses else ""))
    chain = stats.get("wrapper_chain") or []
    backend = (stats.get("process_group") or {}).get("backend")
    want_backend = "gloo" if args.cpu_dry_run else "nccl"
    want_wrapper = "LegacyDistributedDataParallel" if args.cpu_dry_run else "DistributedDataParallel"
    check("DDP", want_wrapper in chain and backend == want_backend,
          f"wrapper chain {' > '.join(chain) or '?'}; process group {stats.get('process_group')}")
    if spec["kind"] == "xlmk":
        try:
            queues = read_queues(launched["save_dir"]) if finished else {"error": "run did not finish"}
        except Exception as e:
            queues = {"error": f"reading checkpoint_last.pt failed: {e!r}"}
        live = stats.get("queues") or {"error": "the training process recorded no queues"}
        result["queues"], result["live_queues"] = queues, live
        expected = EXPECTED_QUEUE_DTYPE[spec["mode"]]
        if args.cpu_dry_run and spec["mode"] == "amp":
            expected = "torch.float32"
        qerr = queues.get("error")
        names = ("mep_queue", "oe_queue")
        ok = not qerr and not live.get("error") and all(
            live.get(q, {}).get("keys_dtype") == expected and live[q].get("entities_dtype") == "torch.int64"
            and live[q].get("keys_finite") and queues.get(q, {}).get("keys_finite") for q in names)
        check("queue dtype", ok, "; ".join(x for x in
            [qerr, live.get("error")]
            + [f"{q}.keys {live.get(q, {}).get('keys_dtype')} in memory (expected {expected}; "
               f"model params {live.get('param_dtype')}), finite in memory {live.get(q, {}).get('keys_finite')} "
               f"and in checkpoint_last.pt {queues.get(q, {}).get('keys_finite')} (saved as "
               f"{queues.get(q, {}).get('keys_dtype')})" for q in names] if x))
        fills = {}
        for q in ("mep", "oe"):
            fills[q] = [as_float(r.get(f"{q}_queue_fill")) for r in log["inner"] if f"{q}_queue_fill" in r]
        fill_ok = all(f and all(v is not None for v in f) and f[-1] > 0 and f[-1] <= args.queue_size
                      and all(a <= b for a, b in zip(f, f[1:])) for f in fills.values())
        if not qerr:
            fill_ok = fill_ok and all(queues.get(f"{q}_queue", {}).get("num_enqueued", 0) >= (fills[q][-1] if fills[q] else 1)
                                      for q in ("mep", "oe"))
        result["queue_fill_logged"] = fills
        check("queue fill", fill_ok,
              "; ".join(f"{q}_queue_fill logged {f[:2]}..{f[-1:]}" for q, f in fills.items())
              + ("" if qerr else "; num_enqueued " + ", ".join(
                  f"{q}={queues.get(f'{q}_queue', {}).get('num_enqueued')}" for q in ("mep", "oe"))))
    result["checks"] = checks
    result["ok"] = all(c["ok"] for c in checks)
    shutil.rmtree(launched["save_dir"], ignore_errors=True)  # the checkpoint was read: free the disk
    say(f"{spec['name']}: " + ("OK" if result["ok"] else "FAILED: " + "; ".join(
        c["check"] for c in checks if not c["ok"])))
    return result


def evaluate_plain_bf16(launched, static):
    log = parse_log(launched["log"])
    errors = log["errors"]
    return {"name": "xlmk_bf16_plain", "rc": launched["rc"], "wall_s": launched["wall_s"],
            "done": log["done"], "static": static,
            "outcome": ("trained" if log["done"] else "failed"),
            "error_lines": errors[-4:] or log["tail"][-4:]}


# ---------------------------------------------------------------------------- report

def fmt(x, spec="{:.0f}"):
    return "-" if x is None else spec.format(x)


def write_report(args, summary):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    runs = summary["runs"]
    lines = [f"# XLM-K GPU check: {'PASS' if summary['ok'] else 'FAIL'}", ""]
    env = summary["environment"]
    lines.append(f"{env.get('gpu', 'no GPU')} ({env.get('gpu_memory_gib', '-')} GiB, cc {env.get('capability', '-')}), "
                 f"torch {env['torch']} (CUDA {env.get('torch_cuda')}, NCCL {env.get('nccl')}), python {env['python']}, "
                 f"numpy {env.get('numpy')}, fairseq {env.get('fairseq')}; {summary['elapsed_s']:.0f} s of "
                 f"{args.budget_s:.0f} s budget" + (" -- CPU DRY RUN (toy sizes)" if args.cpu_dry_run else ""))
    lines.append("")
    lines.append(f"Per GPU batch: {args.batch_size} MLM blocks of {args.tokens_per_sample} tokens "
                 f"(--sample-break-mode complete; data: {summary['data'].get('entities')} synthetic entities, "
                 f"dictionary of {args.vocab_size}); XLM-K adds {args.batch_size} MEP and {args.batch_size} OE "
                 f"examples (4 x {args.batch_size} knowledge sequences, <= {args.knowledge_tokens_per_sample} tokens), "
                 f"queue {args.queue_size}. Up to {args.max_update} updates per run, from random init, one process, "
                 f"{'gloo + legacy_ddp' if args.cpu_dry_run else 'NCCL + --ddp-backend pytorch_ddp'} (DDP forced at world size 1).")
    lines.append("")
    lines.append("| run | ok | updates | tokens/s | step ms (median) | tokens/step | pad | fairseq wps | peak alloc GiB | TFLOP/s | MFU | final loss (mlm/mep/oe) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        s = r.get("stats", {})
        fl = r.get("final_losses", {})
        losses = "/".join(fmt(fl.get(k), "{:.2f}") for k in ("train_mlm_loss", "train_mep_loss", "train_oe_loss")) \
            if r["kind"] == "xlmk" else fmt(fl.get("train_loss"), "{:.2f}")
        lines.append(f"| {r['name']} | {'yes' if r['ok'] else '**NO**'} | {r.get('num_updates')} | "
                     f"{fmt(s.get('tokens_per_s'))} | {fmt(s.get('step_ms_median'), '{:.1f}')} | "
                     f"{fmt(s.get('tokens_per_step'))} | {fmt(s.get('padding_fraction'), '{:.3f}')} | "
                     f"{fmt(r.get('fairseq_wps'))} | {fmt(s.get('peak_memory_allocated_gib'), '{:.2f}')} | "
                     f"{fmt(s.get('achieved_tflops'), '{:.1f}')} | {fmt(s.get('mfu'), '{:.3f}')} | {losses} |")
    lines.append("")
    if summary["ratios"]:
        lines.append("XLM-K vs masked_lm, same mode: " + "; ".join(
            f"{m}: tokens/s x{v['tokens_per_s']:.3f}, updates/s x{v['updates_per_s']:.3f}"
            for m, v in summary["ratios"].items() if v))
        lines.append("")
    lines.append("## Runs")
    lines.append("")
    for r in runs:
        s = r.get("stats", {})
        lines.append(f"- {r['name']}: {r.get('num_updates')} updates, wall {r.get('wall_s')} s, stop: {r.get('stop_reason')}; "
                     f"first logged losses {json.dumps(r.get('first_logged_losses'))}, final {json.dumps(r.get('final_losses'))}; "
                     f"last logged {json.dumps(r.get('last_logged'))}; fp16 overflow notes {r.get('fp16_overflows')}; "
                     f"peak reserved {s.get('peak_memory_reserved_gib')} GiB; {s.get('measured_steps')} steps measured, "
                     f"{s.get('masked_per_step')} masked tokens/step, {s.get('model_tflop_per_step')} TFLOP/step; "
                     f"wrapper {' > '.join(s.get('wrapper_chain') or [])}")
    lines.append("")
    lines.append("## Checks")
    lines.append("")
    for r in runs:
        for c in r["checks"]:
            lines.append(f"- {'ok  ' if c['ok'] else 'FAIL'} {r['name']}: {c['check']}: {c['detail']}")
    for name, why in summary["skipped"]:
        lines.append(f"- SKIP {name}: {why}")
    lines.append("")
    lines.append("## Queues")
    lines.append("")
    lines.append("In memory at the end of training (dtype, fill), and as saved in checkpoint_last.pt (fairseq "
                 "saves float16/bfloat16 tensors as float32: utils.move_to_cpu in Trainer.save_checkpoint).")
    lines.append("")
    for r in runs:
        if r.get("live_queues") or r.get("queues"):
            lines.append(f"- {r['name']}: in memory {json.dumps(r.get('live_queues'))}; "
                         f"checkpoint {json.dumps(r.get('queues'))}")
    lines.append("")
    if "bf16" in args.modes.split(","):
        write_bf16_notes(lines, summary)
    lines.append("## What is measured")
    lines.append("")
    lines.append("- tokens/s: non-padding tokens of every encoder input (masked_lm: its 512-token blocks; XLM-K: the MLM "
                 "blocks plus the MEP sentences, MEP descriptions, OE subject and object descriptions) divided by the "
                 "time of fairseq's Trainer.train_step (forward, backward, optimizer step, queue update), between CUDA "
                 f"synchronisations, over the steps after the first {args.warmup_steps}. Data loading is not included.")
    lines.append("- fairseq wps: fairseq's own words/s over each log interval (its sample's ntokens: the same non-padding "
                 "encoder tokens for both tasks), wall clock including data loading and logging; mean of the intervals "
                 "after the first.")
    model = summary.get("model") or {}
    lines.append("- MFU = model FLOPs / step time / peak, peak = "
                 f"{args.peak_tflops:.0f} TFLOP/s (H100/H200 SXM dense fp16/bf16; the same peak for --amp). Model FLOPs "
                 "per update = sum over sequences of [6 * P_layers * L + 12 * n_layers * d * L^2] + 6 * (d^2 + d * V) per "
                 "masked token (LM head at masked positions only), L = non-padding length; embeddings, norms, the "
                 "knowledge heads and the queue products (< 0.1%) left out. Here: P_layers = "
                 f"{fmt(model.get('layer_params'))}, d = {model.get('dim')}, {model.get('layers')} layers, "
                 f"V = {model.get('vocab')}; all parameters {fmt(model.get('params'))} (XLM-K model).")
    lines.append("- peak memory: torch.cuda.max_memory_allocated() at the end of the run (training process).")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text)
    # what the console shows last: the table, the failed checks, the bf16 outcome (the rest is in summary.md)
    short = [l for l in lines[:lines.index("## Runs")] if l]
    short += [l for l in lines if l.startswith(("- FAIL", "- SKIP", "- Plain `--bf16`"))]
    short.append(f"full report: {os.path.join(args.out, 'summary.md')} (+ summary.json, logs.tar.gz)")
    return "\n".join(short) + "\n"


def write_bf16_notes(lines, summary):
    lines.append("## bf16")
    lines.append("")
    st = summary.get("bf16_static") or {}
    lines.append(f"- fairseq 0.12 argument parsing: {json.dumps(st)} (options.parse_args_and_arch sets "
                 "args.tpu = True whenever --bf16; the trainer then takes its device from torch_xla).")
    lines.append("- The bf16 rows above ran with that implied --tpu cleared (scripts/gpu_train.py, "
                 "XLMK_CHECK_BF16_NO_TPU=1): model in bfloat16, fp32 master weights, no loss scaling.")
    plain = summary.get("bf16_plain")
    if plain:
        lines.append(f"- Plain `--bf16` (no hook), 3 updates: {plain['outcome']} (rc={plain['rc']}, {plain['wall_s']} s): "
                     + " / ".join(plain["error_lines"]))
    lines.append("")


def pack_logs(args, logs_dir):
    with tarfile.open(os.path.join(args.out, "logs.tar.gz"), "w:gz") as tar:
        tar.add(logs_dir, arcname="logs")


def main(argv=None):
    args = parse_args(argv)
    clock = Clock(args.budget_s)
    os.makedirs(args.out, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    logs_dir = os.path.join(args.work, "logs")
    ckpt_root = os.path.join(args.work, "checkpoints")
    os.makedirs(logs_dir)
    summary = {"ok": False, "args": vars(args), "runs": [], "skipped": [], "ratios": {}}
    try:
        summary["environment"] = environment(args)
        say("environment: " + json.dumps(summary["environment"]))
        if not args.cpu_dry_run and not summary["environment"]["cuda_available"]:
            raise SystemExit("gpu_check: CUDA is not available (use --cpu-dry-run on a CPU machine)")
        try:
            summary["bf16_static"] = bf16_static_check()
        except Exception as e:  # informational
            summary["bf16_static"] = {"error": repr(e)}
        data, mlm, summary["data"] = make_data(args, clock)
        specs = []
        for mode in args.modes.split(","):
            specs.append(run_spec(args, "xlmk", mode, data, mlm))
            if not args.no_baseline:
                specs.append(run_spec(args, "masked_lm", mode, data, mlm))
        for spec in specs:
            if clock.left() < args.min_run_s:
                summary["skipped"].append((spec["name"], f"time budget: {clock.left():.0f} s left"))
                say(f"{spec['name']}: skipped (time budget)")
                continue
            launched = launch(args, spec, clock, logs_dir, ckpt_root)
            try:
                summary["runs"].append(evaluate(args, spec, launched, clock))
            except Exception as e:  # a bug here must not cost the other runs
                say(f"{spec['name']}: evaluation failed: {e!r}")
                summary["runs"].append({"name": spec["name"], "kind": spec["kind"], "mode": spec["mode"],
                                        **launched, "ok": False, "stats": {},
                                        "checks": [{"check": "evaluation", "ok": False, "detail": repr(e)}]})
        if "bf16" in args.modes.split(",") and not args.no_bf16_plain:
            if clock.left() >= 35:
                launched = launch(args, run_spec(args, "xlmk", "bf16", data, mlm, plain_bf16=True),
                                  clock, logs_dir, ckpt_root)
                summary["bf16_plain"] = evaluate_plain_bf16(launched, summary.get("bf16_static"))
                shutil.rmtree(launched["save_dir"], ignore_errors=True)
            else:
                summary["skipped"].append(("xlmk_bf16_plain", f"time budget: {clock.left():.0f} s left"))
        by_name = {r["name"]: r for r in summary["runs"]}
        for mode in args.modes.split(","):
            x, b = by_name.get(f"xlmk_{mode}"), by_name.get(f"masked_lm_{mode}")
            if x and b and x["stats"].get("tokens_per_s") and b["stats"].get("tokens_per_s"):
                summary["ratios"][mode] = {
                    "tokens_per_s": x["stats"]["tokens_per_s"] / b["stats"]["tokens_per_s"],
                    "updates_per_s": b["stats"]["step_ms_mean"] / x["stats"]["step_ms_mean"]}
        summary["model"] = next((r["stats"].get("model") for r in summary["runs"]
                                 if r["kind"] == "xlmk" and r["stats"].get("model")), None)
        # a skipped XLM-K run leaves a mode unchecked: that fails; a skipped baseline only warns
        summary["ok"] = (bool(summary["runs"]) and all(r["ok"] for r in summary["runs"])
                         and not any(name.startswith("xlmk_") and not name.endswith("_plain")
                                     for name, _ in summary["skipped"]))
    except BaseException as e:
        summary["fatal"] = repr(e)
        say(f"fatal: {e!r}")
        if not isinstance(e, Exception) and not isinstance(e, SystemExit):
            raise
    finally:
        summary["elapsed_s"] = clock.elapsed()
        summary.setdefault("environment", {"torch": "?", "python": platform.python_version()})
        summary.setdefault("data", {})
        text = write_report(args, summary)
        if summary.get("fatal"):
            with open(os.path.join(args.out, "summary.md"), "a") as f:
                f.write(f"\nFATAL: {summary['fatal']}\n")
            text += f"\nFATAL: {summary['fatal']}\n"
        try:
            pack_logs(args, logs_dir)
        except Exception as e:
            say(f"could not pack the logs: {e!r}")
        print(text, flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
