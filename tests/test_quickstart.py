"""The main job (recipes/quickstart.sh) and the ablation table, end to end at a few updates:
every step runs, the summary is printed, and a second run reuses every finished step."""

import json
import os
import subprocess
import sys

from conftest import BIN, REPO


def run(script, out, *args, **env):
    full_env = {**os.environ, "PY": os.path.join(BIN, "python"), "OUT": str(out), "OMP_NUM_THREADS": "1",
                **{k: str(v) for k, v in env.items()}}
    proc = subprocess.run(["bash", os.path.join(REPO, "recipes", script), *args], capture_output=True,
                          text=True, env=full_env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_quickstart_runs_every_step_and_reuses_them(tmp_path):
    out = tmp_path / "qs"
    printed = run("quickstart.sh", out, MLM_UPDATES=3, XLMK_UPDATES=3)
    for step in range(1, 9):
        assert f"== [{step}/8]" in printed
    assert "probe P@1" in printed and "cross-lingual retrieval (cls)" in printed
    assert "Berlin ist die Hauptstadt von <mask>." in printed  # the fill-mask step's output
    # entity linking: the two mentions ranked by both models, and both scored
    assert printed.count("[[东京]]是日本的首都。") == 2 and "| # | QID | label | score |" in printed
    assert "entity linking, " in printed and "MLM only (<s> vectors)" in printed
    assert json.load(open(out / "index_mlm" / "index.json"))["vectors"] == "cls"
    for name in ("mlm", "xlmk"):
        assert json.load(open(out / f"linking_{name}.json"))["sets"]["mep-valid"]["all"]["n"] > 0
    assert json.load(open(out / "hf" / "xlmk_export.json"))["verified"]
    for name in ("mlm", "xlmk"):
        assert (out / name / "checkpoint_last.pt").exists() and (out / f"{name}.log").exists()
        assert set(json.load(open(out / f"probe_{name}.json"))["p_at_1"]) == {"en", "de", "es", "ar", "hi", "vi", "zh"}

    # the XLM-K stage ran with the momentum queue, joining half-way, and was scored without it
    xlmk_log = (out / "xlmk.log").read_text()
    assert "key_encoder='momentum'" in xlmk_log and "queue_warmup_updates=1," in xlmk_log
    assert (out / "xlmk" / "in_batch.log").is_file()

    again = run("quickstart.sh", out, MLM_UPDATES=3, XLMK_UPDATES=3)
    # data, probe set, 2 stages, the in-batch score, 2 probes, 2 indexes, 2 linking scores, export
    assert again.count("done before: reused") == 12


def test_ablation_table_smoke(tmp_path):
    out = tmp_path / "abl"
    printed = run("ablation_table.sh", out, "--smoke")
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "variant" not in line]
    assert len(rows) == 9 and rows[-1].startswith("| XLM-K + LP | 1 |")
    assert rows[4].startswith("| XLM-K (MEP + OE), in-batch negatives only | 1 |")
    assert rows[5].startswith("| XLM-K, queue, shared encoder (paper) | 1 |")
    assert rows[6].startswith("| XLM-K, queue, momentum encoder | 1 |")
    assert rows[7].startswith("| LP only (MLM + link prediction) | 1 |")
    header = next(line for line in printed.splitlines() if line.startswith("| variant"))
    assert "| valid MEP acc | valid OE acc | valid LP acc |" in header
    assert "| P@1 seen facts | P@1 held-out facts |" in header
    # valid accuracies (the runs validate at the end): none for MLM only, MEP and OE for XLM-K,
    # LP for LP only, all three for XLM-K + LP
    cells = [row.split(" | ")[2:5] for row in rows]
    assert cells[0] == ["-", "-", "-"] and cells[4][2] == "-" and "-" not in cells[4][:2]
    assert cells[7][:2] == ["-", "-"] and cells[7][2] != "-" and "-" not in cells[8]
    assert (out / "probe_split" / "held_out").is_dir() and (out / "lp" / "seed1" / "probe_held_out.json").is_file()
    assert "in-batch chance 1/16" in printed
    table = (out / "table.md").read_text()
    assert all(row in table for row in rows)
    # the queue rows are also scored with in-batch negatives only, like the others
    assert all((out / name / "seed1" / "in_batch.log").is_file() for name in ("xlmk_queue", "xlmk_momentum"))
    assert not (out / "xlmk" / "seed1" / "in_batch.log").exists()
    # the momentum row's runs used the momentum key encoder
    assert "momentum" in (out / "xlmk_momentum" / "seed1.log").read_text()


def test_summary_adds_in_batch_accuracies_of_a_queue_stage(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "recipes"))
    from quickstart_summary import training_table

    def line(tag, record):
        return f"2026-11-30 01:00:00 | INFO | {tag} | {json.dumps(record)}\n"

    train = [{"epoch": 1, "update": u, "loss": "9", "mep_acc": acc, "oe_acc": acc, "bsz": "16"}
             for u, acc in ((25, "0.05"), (900, "0.02"))]
    (tmp_path / "xlmk").mkdir()
    (tmp_path / "mlm.log").write_text(line("train_inner", {"epoch": 1, "update": 25, "loss": "12"}))
    (tmp_path / "xlmk.log").write_text("".join(line("train_inner", r) for r in train)
                                       + line("valid", {"epoch": 9, "valid_mep_acc": "0.03", "valid_oe_acc": "0.01"}))
    lines = training_table(str(tmp_path))
    assert lines[-1] == "(in-batch chance of mep_acc / oe_acc: 0.0625)" and "in-batch" in lines[0]
    (tmp_path / "xlmk" / "in_batch.log").write_text(
        line("valid", {"valid_loss": "3", "valid_mep_acc": "0.2188", "valid_oe_acc": "0.4375"}))
    lines = training_table(str(tmp_path))
    mep = next(l for l in lines if "mep_acc" in l)
    assert mep.split() == ["xlmk", "mep_acc", "0.05", "0.02", "0.03", "0.2188"]
    assert "in-batch against the batch alone" in lines[-1]
