"""Markdown tables shaped like the paper's Tables 1-3 (one row per model, one column per language,
then the average), and the MLQA G-XLT grid; also the comparison of several models' output directories.

    python -m xlmk_fairseq.finetune.tables OUT [OUT ...]     (OUT/<model>/<task>/results.json)
"""

import json
import os
import sys

from .eval_sets import mean

# the paper's column order; other languages follow alphabetically
PAPER_ORDER = {"qa": ["en", "es", "de", "ar", "hi", "vi", "zh"],
               "ner": ["en", "de", "es", "nl"],
               "xnli": ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]}
TITLES = {"qa": "MLQA (F1 / EM)", "ner": "NER (F1)", "xnli": "XNLI (accuracy)"}


def ordered(task: str, languages) -> list[str]:
    order = PAPER_ORDER[task]
    return [l for l in order if l in languages] + sorted(l for l in languages if l not in order)


def cell(task: str, scores: dict) -> str:
    return f"{scores['f1']:.1f} / {scores['exact_match']:.1f}" if task == "qa" else f"{scores[task_metric(task)]:.1f}"


def task_metric(task: str) -> str:
    return {"qa": "f1", "ner": "f1", "xnli": "accuracy"}[task]


def summary_rows(summary: dict, name: str) -> list[tuple[str, dict, dict]]:
    """(row label, {lang: scores}, average scores) for the mean over seeds and, with several seeds, the max."""
    seeds = len(summary["seeds"])
    rows = [(f"{name} (mean of {seeds} seeds)" if seeds > 1 else name,
             {l: {m: v["mean"] for m, v in s.items()} for l, s in summary["languages"].items()},
             {m: v["mean"] for m, v in summary["average"].items()})]
    if seeds > 1:
        rows.append((f"{name} (max over seeds)",
                     {l: {m: v["max"] for m, v in s.items()} for l, s in summary["languages"].items()},
                     {m: v["max"] for m, v in summary["average"].items()}))
    return rows


def language_table(task: str, named_summaries: list[tuple[str, dict]]) -> str:
    rows = [row for name, summary in named_summaries for row in summary_rows(summary, name)]
    languages = ordered(task, {l for _, langs, _ in rows for l in langs})
    lines = ["| model | " + " | ".join(languages) + " | avg |", "|---" * (len(languages) + 2) + "|"]
    for label, langs, average in rows:
        cells = [cell(task, langs[l]) if l in langs else "-" for l in languages]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {cell(task, average)} |")
    return "\n".join(lines)


def grid_table(grid: dict) -> str:
    """G-XLT: F1 per context language (rows) and question language (columns), mean over seeds."""
    questions = ordered("qa", {q for row in grid.values() for q in row})
    lines = ["| context \\ question | " + " | ".join(questions) + " |", "|---" * (len(questions) + 1) + "|"]
    for c in ordered("qa", grid):
        lines.append(f"| {c} | " + " | ".join(f"{grid[c][q]:.1f}" if q in grid[c] else "-" for q in questions) + " |")
    return "\n".join(lines)


def summarize(runs: list[dict]) -> dict:
    """Mean and max over seeds of every language's scores and of their average; the mean G-XLT grid."""
    def spread(values):
        return {"mean": mean(values), "max": max(values)}

    languages = sorted(set.intersection(*(set(r["languages"]) for r in runs)))
    metrics = list(runs[0]["average"])
    summary = {"task": runs[0]["task"], "model": runs[0]["model"], "seeds": [r["seed"] for r in runs],
               "languages": {l: {m: spread([r["languages"][l][m] for r in runs]) for m in metrics} for l in languages},
               "average": {m: spread([r["average"][m] for r in runs]) for m in metrics}}
    grids = [r["test"]["grid"]["grid"] for r in runs if "grid" in r["test"]]
    if len(grids) == len(runs):
        summary["gxlt_f1"] = {c: {q: mean(g[c][q]["f1"] for g in grids) for q in row} for c, row in grids[0].items()}
    return summary


def task_markdown(task: str, named_summaries: list[tuple[str, dict]]) -> str:
    text = f"### {TITLES[task]}\n\n" + language_table(task, named_summaries)
    for name, summary in named_summaries:
        if "gxlt_f1" in summary:
            text += f"\n\nG-XLT F1, {name}:\n\n" + grid_table(summary["gxlt_f1"])
    return text


def compare(out_dirs: list[str]) -> str:
    """One table per task over every OUT/<model>/<task>/results.json found."""
    found = {}
    for out in out_dirs:
        for model in sorted(os.listdir(out)):
            for task in PAPER_ORDER:
                path = os.path.join(out, model, task, "results.json")
                if os.path.exists(path):
                    with open(path, encoding="utf-8") as f:
                        found.setdefault(task, []).append((model, json.load(f)["summary"]))
    return "\n\n".join(task_markdown(task, found[task]) for task in PAPER_ORDER if task in found)


if __name__ == "__main__":
    print(compare(sys.argv[1:]) or "no OUT/<model>/<task>/results.json found")
