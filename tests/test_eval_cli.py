"""xlmk-eval: tables on stdout, JSON on --output, one-line errors with a non-zero exit."""

import json
import os
import subprocess
import sys

import pytest

from eval_files import squad_json, write_json, write_tsv, write_xnli_gold

from xlmk_fairseq.evaluation.eval_cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_mlqa_file_prints_a_table_and_writes_json(tmp_path, capsys):
    gold = write_json(tmp_path / "test-context-es-question-en.json", squad_json({"q1": ["la casa"], "q2": ["Madrid"]}))
    pred = write_json(tmp_path / "pred.json", {"q1": "Casa", "q2": "Sevilla"})
    code, out, _ = run(capsys, "mlqa", "--gold", gold, "--pred", pred, "--output", tmp_path / "r.json")
    assert code == 0
    assert "| test-context-es-question-en.json | es | 50.00 | 50.00 | 2 | 0 | 0 |" in out
    results = json.loads((tmp_path / "r.json").read_text())
    assert (results["task"], results["lang"], results["exact_match"]) == ("mlqa", "es", 50.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    # --lang overrides the name: under English rules "la" stays and q1 is no longer exact
    code, out, _ = run(capsys, "mlqa", "--gold", gold, "--pred", pred, "--lang", "en")
    assert "| en | 0.00 | 33.33 |" in out


def test_mlqa_directory_prints_the_grid(tmp_path, capsys):
    gold_dir, pred_dir = tmp_path / "gold", tmp_path / "pred"
    gold_dir.mkdir()
    pred_dir.mkdir()
    for c, q in (("en", "en"), ("en", "zh"), ("zh", "zh")):
        write_json(gold_dir / f"dev-context-{c}-question-{q}.json", squad_json({"q": ["北京"]}))
        write_json(pred_dir / f"dev-context-{c}-question-{q}.json", {"q": "北京市"})
    code, out, _ = run(capsys, "mlqa", "--gold", gold_dir, "--pred", pred_dir)
    assert code == 0
    # zh splits characters (F1 0.8); en keeps one word (F1 0)
    assert "| **en** | 0.00 / 0.00 | 0.00 / 0.00 |" in out
    assert "| **zh** | - | 80.00 / 0.00 |" in out
    assert "xlt: F1 40.00 / EM 0.00 over 2 cell(s)" in out


def test_xnli_and_ner_tables(tmp_path, capsys):
    gold = write_xnli_gold(tmp_path / "gold.tsv")
    pred = write_tsv(tmp_path / "pred.tsv", ["language", "pairID", "label"], [["en", "1", "entailment"]])
    code, out, _ = run(capsys, "xnli", "--gold", gold, "--pred", pred, "--output", tmp_path / "x.json")
    assert code == 0 and "| **all** | 16.67 | 6 | 5 |" in out
    assert json.loads((tmp_path / "x.json").read_text())["languages"]["en"]["correct"] == 1
    (tmp_path / "n.txt").write_text("Paris B-LOC B-LOC\nis O B-PER\n")
    code, out, _ = run(capsys, "ner", "--gold", tmp_path / "n.txt")
    assert code == 0
    assert "| **overall** | 50.00 | 100.00 | 66.67 | 1 | 2 | 1 |" in out
    assert "scheme iob" in out


@pytest.mark.parametrize("argv, message", [
    (["mlqa", "--gold", "{d}/absent.json", "--pred", "{d}/p.json"], "absent.json: no such file or directory"),
    (["mlqa", "--gold", "{d}/bad.json", "--pred", "{d}/p.json", "--lang", "en"], "bad.json: malformed JSON"),
    (["mlqa", "--gold", "{d}/squad.json", "--pred", "{d}/p.json"], "cannot tell the answer language"),
    (["mlqa", "--gold", "{d}", "--pred", "{d}", "--lang", "en"], "--lang applies to one file"),
    (["xnli", "--gold", "{d}/absent.tsv", "--pred", "{d}/p.json"], "absent.tsv: no such file"),
    (["ner", "--gold", "{d}/g.txt", "--pred", "{d}/p.txt"], "p.txt:2: token 'C' differs"),
    (["ner", "--gold", "{d}/g.txt", "--pred", "{d}/p.txt", "--output", "{d}/no/such/dir/r.json"], None),
])
def test_errors_are_one_line_with_status_2(tmp_path, capsys, argv, message):
    (tmp_path / "bad.json").write_text("{oops")
    write_json(tmp_path / "squad.json", squad_json({"q": ["x"]}))
    (tmp_path / "p.json").write_text("{}")
    (tmp_path / "g.txt").write_text("A O\nB O\n")
    (tmp_path / "p.txt").write_text("A O\nC O\n" if message else "A O\nB O\n")
    code, _, err = run(capsys, *(a.format(d=tmp_path) for a in argv))
    assert code == 2
    assert err.startswith("xlmk-eval: error: ") and err.count("\n") == 1
    assert (message or "cannot write") in err


def test_module_entry_point_exits_non_zero_without_traceback(tmp_path):
    """Through the interpreter, as the console script runs it."""
    (tmp_path / "pred.json").write_text("[1,")
    write_json(tmp_path / "xquad.de.json", squad_json({"q": ["x"]}))
    proc = subprocess.run([sys.executable, "-m", "xlmk_fairseq.evaluation.eval_cli", "mlqa",
                           "--gold", str(tmp_path / "xquad.de.json"), "--pred", str(tmp_path / "pred.json")],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("xlmk-eval: error: ")
    assert "pred.json: malformed JSON" in proc.stderr
