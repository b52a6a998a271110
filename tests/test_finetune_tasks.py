"""xlmk-finetune end to end on the tiny export: each task learns a set that is learnable by construction,
and results.json holds exactly what xlmk-eval computes from the written predictions."""

import json
import os
import subprocess
import sys

import pytest

from xlmk_fairseq.evaluation import eval_cli
from xlmk_fairseq.finetune.cli import main
from xlmk_fairseq.finetune.sample_data import write_mlqa, write_ner, write_nli_train, write_squad, write_xnli
from xlmk_fairseq.finetune.selection import select_best

# the tiny model learns these sets in a few epochs at a learning rate far above the paper's
FAST = ["--cpu", "--lr", "1e-3", "--batch-size", "16", "--logging-steps", "5"]


def xlmk_eval(capsys, tmp_path, *argv) -> dict:
    out = tmp_path / "xlmk-eval.json"
    assert eval_cli.main([*map(str, argv), "--output", str(out)]) == 0
    capsys.readouterr()
    results = json.loads(out.read_text())
    del results["task"]
    return results


def check_selection(run: dict):
    """The kept model is the epoch with the best average dev score over languages."""
    assert [entry["epoch"] for entry in run["dev_history"]] == list(range(1, len(run["dev_history"]) + 1))
    best = select_best(run["dev_history"])
    assert run["best_epoch"] == best["epoch"] and run["best_dev_average"] == pytest.approx(best["average"])


def test_qa_learns_the_marker_span_and_scores_the_gxlt_grid(exported, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    train = write_squad(data / "train.json", 300, 1)
    dev = write_mlqa(data / "dev", "dev", ["en", "de"], 20, 100)  # the c != q dev files are not used for selection
    test = write_mlqa(data / "test", "test", ["en", "de"], 20, 200)
    xquad = write_squad(data / "xquad.es.json", 10, 300)  # a file beside the grid, scored alone
    out = tmp_path / "out"
    assert main(["qa", "--model", str(exported), "--train", train, "--dev", dev, "--test", test, xquad,
                 "--output-dir", str(out), "--epochs", "3", "--max-seq-length", "48", "--doc-stride", "16",
                 "--max-query-length", "8", *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    run = results["runs"]["1"]
    # windows of 48 tokens over contexts of up to 55 words: most questions span several windows
    assert run["dev_history"][0]["languages"].keys() == {"de", "en"}
    check_selection(run)
    # a model that learned nothing: the answer's words (country names) occur nowhere else in the
    # context, so a span that ignores the marker shares no token with it: F1 0, EM 0
    assert results["summary"]["average"]["f1"]["mean"] > 60 and results["summary"]["average"]["exact_match"]["mean"] > 30
    predictions = out / "seed-1" / "predictions"
    assert sorted(os.listdir(predictions)) == sorted(os.listdir(test) + ["xquad.es.json"])
    assert run["test"]["grid"] == xlmk_eval(capsys, tmp_path, "mlqa", "--gold", test, "--pred", predictions)
    assert run["test"]["files"]["xquad.es.json"] == xlmk_eval(
        capsys, tmp_path, "mlqa", "--gold", xquad, "--pred", predictions / "xquad.es.json")
    assert run["languages"].keys() == {"en", "de", "es"}
    for lang in ("en", "de"):
        assert run["languages"][lang]["f1"] == run["test"]["grid"]["grid"][lang][lang]["f1"]
    table = (out / "table.md").read_text()
    assert "| model | en | es | de | avg |" in table and "G-XLT F1" in table and "| context \\ question | en | de |" in table
    assert os.listdir(out / "seed-1" / "runs")  # TensorBoard logs
    assert os.path.exists(out / "seed-1" / "model" / "model.safetensors")


def test_xnli_learns_the_keyword_with_two_seeds(exported, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    train = write_nli_train(data / "multinli.train.en.tsv", 300, 1)
    dev = write_xnli(data / "xnli.dev.tsv", ["en", "de", "zh"], 20, 2)
    test = write_xnli(data / "xnli.test.tsv", ["en", "de", "zh"], 30, 3)
    out = tmp_path / "out"
    assert main(["xnli", "--model", str(exported), "--train", train, "--dev", dev, "--test", test,
                 "--output-dir", str(out), "--epochs", "3", "--seeds", "1,2", *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    # a model that learned nothing: 3 balanced labels, chance accuracy 33 % (the majority label at most ~45 %)
    assert summary["average"]["accuracy"]["mean"] > 80
    for seed in ("1", "2"):
        run = results["runs"][seed]
        check_selection(run)
        assert run["test"]["files"]["xnli.test.tsv"] == xlmk_eval(
            capsys, tmp_path, "xnli", "--gold", test, "--pred", out / f"seed-{seed}" / "predictions" / "xnli.test.tsv")
    en = [results["runs"][s]["languages"]["en"]["accuracy"] for s in ("1", "2")]
    assert summary["languages"]["en"]["accuracy"] == {"mean": pytest.approx(sum(en) / 2), "max": max(en)}
    table = (out / "table.md").read_text()
    assert "export (mean of 2 seeds)" in table and "export (max over seeds)" in table

    # the same seed gives the same model: predictions and dev scores repeat exactly
    again = tmp_path / "again"
    assert main(["xnli", "--model", str(exported), "--train", train, "--dev", dev, "--test", test,
                 "--output-dir", str(again), "--epochs", "3", "--seeds", "2", *FAST]) == 0
    assert (again / "seed-2" / "predictions" / "xnli.test.tsv").read_text() == \
        (out / "seed-2" / "predictions" / "xnli.test.tsv").read_text()
    assert json.loads((again / "results.json").read_text())["runs"]["2"]["dev_history"] == \
        results["runs"]["2"]["dev_history"]


def test_ner_learns_the_type_words_in_three_layouts(exported, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    train = write_ner(data / "en.train", 300, 1, "conll")
    dev = [write_ner(data / "en.dev", 20, 2, "xglue"), write_ner(data / "dev-de.tsv", 20, 3, "panx", "de")]
    test = [write_ner(data / "en.test", 30, 4, "xglue"), write_ner(data / "test-de.tsv", 30, 5, "panx", "de")]
    out = tmp_path / "out"
    assert main(["ner", "--model", str(exported), "--train", train, "--dev", *dev, "--test", *test,
                 "--output-dir", str(out), "--epochs", "4", "--lr", "3e-3", *FAST[:1], *FAST[3:]]) == 0
    results = json.loads((out / "results.json").read_text())
    run = results["runs"]["1"]
    check_selection(run)
    assert run["dev_history"][0]["languages"].keys() == {"en", "de"}  # XGLUE name, PAN-X prefix
    # a model that learned nothing tags everything O (the commonest tag): no entity, F1 0
    assert results["summary"]["average"]["f1"]["mean"] > 60
    for path in test:
        name = os.path.basename(path)
        assert run["test"]["files"][name] == xlmk_eval(
            capsys, tmp_path, "ner", "--gold", path, "--pred", out / "seed-1" / "predictions" / name)


def test_xnli_under_torchrun_with_two_processes(exported, tmp_path, capsys):
    """Data-parallel on CPU (gloo): every dev/test row is predicted once, and the results are xlmk-eval's."""
    data = tmp_path / "data"
    data.mkdir()
    train = write_nli_train(data / "multinli.train.en.tsv", 200, 1)
    dev = write_xnli(data / "xnli.dev.tsv", ["en", "de"], 15, 2)
    test = write_xnli(data / "xnli.test.tsv", ["en", "de"], 15, 3)
    out = tmp_path / "out"
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc_per_node", "2",
                           "-m", "xlmk_fairseq.finetune.cli", "xnli", "--model", str(exported), "--train", train,
                           "--dev", dev, "--test", test, "--output-dir", str(out), "--epochs", "2", *FAST],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "results.json").read_text())["runs"]["1"]
    result = run["test"]["files"]["xnli.test.tsv"]
    assert (result["examples"], result["missing_predictions"], result["unknown_predictions"]) == (30, 0, 0)
    assert result == xlmk_eval(capsys, tmp_path, "xnli", "--gold", test, "--pred",
                               out / "seed-1" / "predictions" / "xnli.test.tsv")
