"""recipes/downstream.sh: run per model into one OUT, and the table shows the models side by side."""

import os
import subprocess
import sys


from xlmk_fairseq.finetune.sample_data import write_data_root

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(REPO, "recipes", "downstream.sh")


def recipe(*args, **env):
    return subprocess.run(["bash", RECIPE, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1", **env})


def test_two_models_into_one_out_give_one_table(exported, tmp_path):
    data = write_data_root(tmp_path / "data", langs=("en", "de"))
    out = tmp_path / "out"
    for name in ("xlmk", "baseline"):
        proc = recipe(exported, data, out, NAME=name, TASKS="xnli", SEEDS="1",
                      FLAGS="--cpu --lr 1e-3 --batch-size 16 --epochs 1")
        assert proc.returncode == 0, proc.stderr[-3000:]
    table = (out / "table.md").read_text()
    assert table.startswith("### XNLI (accuracy)\n\n| model | en | de | avg |")
    assert "| baseline |" in table and "| xlmk |" in table
    assert (out / "xlmk" / "xnli" / "seed-1" / "predictions" / "xnli.test.tsv").exists()


def test_usage_and_missing_data_exit_2(tmp_path):
    assert recipe().returncode == 2
    proc = recipe(tmp_path, tmp_path, tmp_path / "out", TASKS="qa")
    assert proc.returncode == 2 and "missing" in proc.stderr and "squad/train-v1.1.json" in proc.stderr
