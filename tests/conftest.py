import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
USER_DIR = os.path.join(REPO, "xlmk_fairseq")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    from preprocess.synthetic import make_synthetic_data

    return make_synthetic_data(str(tmp_path_factory.mktemp("data") / "syn"))


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory):
    """The embedded multilingual sample, preprocessed (real text, a trained sentencepiece model)."""
    from preprocess.cli import main

    root = tmp_path_factory.mktemp("sample")
    config = os.path.join(REPO, "recipes", "config", "preprocess_sample.yaml")
    assert main(["all", "--config", config, "--work", str(root / "work"), "--out", str(root / "data")]) == 0
    return root / "data"


@pytest.fixture(scope="session")
def sample_checkpoint(sample_data, tmp_path_factory):
    """An xlmk_tiny checkpoint trained for a few updates on the sample, with all three losses."""
    save_dir = tmp_path_factory.mktemp("sample_ck")
    run_train(sample_data, save_dir, "--max-update", "5")
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="session")
def exported(sample_checkpoint, sample_data, tmp_path_factory):
    """xlmk-export-hf of the sample checkpoint: the tiny Hugging Face model of the export and
    fine-tuning tests (read only)."""
    from xlmk_fairseq.hf_export.cli import main

    out = tmp_path_factory.mktemp("hf") / "export"
    assert main([str(sample_checkpoint), str(sample_data), str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def sample_masked_lm_checkpoint(sample_data, tmp_path_factory):
    """A checkpoint of fairseq's own masked_lm task (no plugin) on the sample's English text,
    for the tools that must also take plain RoBERTa/XLM-R checkpoints."""
    root = tmp_path_factory.mktemp("sample_masked_lm")
    data = root / "data"
    data.mkdir()
    for name in ("train.bin", "train.idx", "valid.bin", "valid.idx"):
        os.symlink(sample_data / "mlm" / "en" / name, data / name)
    os.symlink(sample_data / "dict.txt", data / "dict.txt")
    run_train(data, root / "ck", "--max-update", "2", base=[
        "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base", "--encoder-layers", "1",
        "--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64", "--encoder-attention-heads", "2",
        "--max-positions", "64", "--tokens-per-sample", "64", "--batch-size", "8", "--optimizer", "adam",
        "--lr", "1e-3", "--cpu", "--no-epoch-checkpoints", "--num-workers", "0", "--data-buffer-size", "0"])
    return root / "ck" / "checkpoint_last.pt"


# a tiny, fast configuration of the task; tests add or override flags
TINY = [
    "--user-dir", USER_DIR, "--task", "knowledge_pretraining", "--criterion", "xlmk",
    "--arch", "xlmk_tiny", "--queue-size", "64", "--batch-size", "8",
    "--tokens-per-sample", "64", "--knowledge-tokens-per-sample", "32",
    "--optimizer", "adam", "--lr", "1e-3", "--num-workers", "0", "--cpu", "--seed", "1",
    "--log-format", "json", "--log-interval", "1", "--no-epoch-checkpoints",
    # no prefetch thread: with it, fairseq-train on torch 2.13 may abort at exit (README)
    "--data-buffer-size", "0",
]


def run_train(data, save_dir, *args, check=True, launcher=(), env=None, base=TINY, timeout=None):
    """Run fairseq-train (or ``launcher``, which takes its arguments); return (completed
    process, parsed JSON log records). ``timeout`` (s) turns a hang into a failure."""
    program = list(launcher) or [os.path.join(BIN, "fairseq-train")]
    cmd = [*program, str(data), *base,
           "--save-dir", str(save_dir), *map(str, args)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"fairseq-train failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return proc, parse_json_logs(proc.stdout + proc.stderr)


def parse_json_logs(text):
    records = []
    for line in text.splitlines():
        brace = line.find("{")
        if brace < 0 or "|" not in line[:brace]:
            continue
        tag = line[:brace].rstrip(" |").rsplit("|", 1)[-1].strip()
        try:
            record = json.loads(line[brace:])
        except ValueError:
            continue
        # fairseq prefixes end-of-epoch keys with the tag ("valid_loss"); drop the prefix
        prefix = tag + "_"
        records.append((tag, {k[len(prefix):] if k.startswith(prefix) else k: v
                              for k, v in record.items()}))
    return records


def records(logs, tag):
    return [r for t, r in logs if t == tag]
