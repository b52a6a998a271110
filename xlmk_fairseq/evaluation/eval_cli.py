"""xlmk-eval: downstream metrics (MLQA/XQuAD EM and F1, XNLI accuracy, NER entity F1).

    xlmk-eval mlqa --gold test-context-de-question-de.json --pred predictions.json [--lang de]
    xlmk-eval mlqa --gold MLQA_V1/test --pred PREDICTIONS_DIR            (the G-XLT grid)
    xlmk-eval xnli --gold xnli.test.tsv --pred predictions.tsv
    xlmk-eval ner  --gold test.conll [--pred predictions.conll] [--scheme auto]

Prints a markdown table; --output also writes the results as JSON. File layouts and metric
definitions: docs/evaluation-metrics.md.
"""

import argparse
import os
import sys

from .eval_inputs import EvalInputError
from .results_file import write_results


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str, results: dict):
    try:
        write_results(path, results)
    except OSError as e:
        raise EvalInputError(f"cannot write {path}: {e.strerror}") from None


def _mlqa(args) -> tuple[dict, str]:
    from .qa_metrics import answer_language, evaluate_directory, evaluate_file

    if not os.path.exists(args.gold):
        raise EvalInputError(f"{args.gold}: no such file or directory")
    if os.path.isdir(args.gold):
        if args.lang:
            raise EvalInputError("--lang applies to one file; in a directory the file names give the languages")
        results = evaluate_directory(args.gold, args.pred)
        grid = results["grid"]
        questions = sorted({q for row in grid.values() for q in row})
        rows = [[f"**{c}**", *(f"{row[q]['f1']:.2f} / {row[q]['exact_match']:.2f}" if q in row else "-"
                               for q in questions)] for c, row in sorted(grid.items())]
        text = markdown_table(["context \\ question (F1 / EM)", *questions], rows)
        for name in ("xlt", "grid_average"):
            if results[name]:
                r = results[name]
                text += f"\n\n{name}: F1 {r['f1']:.2f} / EM {r['exact_match']:.2f} over {r['cells']} cell(s)"
        if results["missing_prediction_files"]:
            text += f"\n\nno prediction file for: {', '.join(results['missing_prediction_files'])}"
        return results, text
    lang = args.lang or answer_language(args.gold)
    if not lang:
        raise EvalInputError(f"cannot tell the answer language from the name {os.path.basename(args.gold)}: "
                             "pass --lang")
    results = evaluate_file(args.gold, args.pred, lang)
    text = markdown_table(["gold", "lang", "EM", "F1", "questions", "missing", "unknown"],
                          [[os.path.basename(args.gold), lang, results["exact_match"], results["f1"],
                            results["questions"], results["missing_predictions"], results["unknown_predictions"]]])
    return results, text


def _xnli(args) -> tuple[dict, str]:
    from .classification_metrics import evaluate_xnli

    results = evaluate_xnli(args.gold, args.pred)
    rows = [[lang, r["accuracy"], r["examples"], r["missing_predictions"]] for lang, r in results["languages"].items()]
    rows.append(["**all**", results["accuracy"], results["examples"], results["missing_predictions"]])
    text = markdown_table(["language", "accuracy", "examples", "missing"], rows)
    if results["unknown_predictions"]:
        text += f"\n\n{results['unknown_predictions']} prediction(s) for no gold example, ignored"
    return results, text


def _ner(args) -> tuple[dict, str]:
    from .ner_metrics import evaluate_ner

    results = evaluate_ner(args.gold, args.pred, args.scheme)
    header = ["type", "precision", "recall", "F1", "gold", "predicted", "correct"]
    rows = [[t, *r.values()] for t, r in results["types"].items()]
    rows.append(["**overall**", *results["overall"].values()])
    text = markdown_table(header, rows)
    text += (f"\n\n{results['sentences']} sentences, {results['tokens']} tokens, tag accuracy "
             f"{results['accuracy']:.2f}, scheme {results['scheme']}")
    return results, text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlmk-eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("mlqa", help="MLQA / XQuAD exact match and F1 (MLQA's per-language normalisation)")
    p.add_argument("--gold", required=True, help="SQuAD v1.1 JSON file, or an MLQA directory of "
                   "<split>-context-<c>-question-<q>.json files (scored as the G-XLT grid)")
    p.add_argument("--pred", required=True, help="JSON object {question id: answer}; for a gold directory, "
                   "a directory holding one such file per gold file, under the gold file's name")
    p.add_argument("--lang", help="answer language for one file (default: from an MLQA or xquad.<lang>.json name)")
    p.set_defaults(func=_mlqa)
    p = sub.add_parser("xnli", help="XNLI accuracy, overall and per language")
    p.add_argument("--gold", required=True, help="official XNLI TSV (xnli.dev.tsv, xnli.test.tsv)")
    p.add_argument("--pred", required=True, help="TSV with a header, or .jsonl: label plus pairID "
                   "(with language) or index")
    p.set_defaults(func=_xnli)
    p = sub.add_parser("ner", help="entity-level precision/recall/F1 as conlleval computes it")
    p.add_argument("--gold", required=True, help="CoNLL-style file: token ... tag (or token ... gold predicted)")
    p.add_argument("--pred", help="predictions with the same tokens and sentences, tag in the last column; "
                   "without it the gold file's last two columns are gold and predicted tags")
    p.add_argument("--scheme", choices=("iob1", "iob2", "iobes", "auto"), default="auto",
                   help="tag prefixes allowed (iob1/iob2: B, I; iobes and auto: B, I, E, S); default auto")
    p.set_defaults(func=_ner)
    for p in sub.choices.values():
        p.add_argument("--output", help="also write the results to this JSON file")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results, text = args.func(args)
        print(text)
        if args.output:
            write_json(args.output, {"task": args.command, **results})
    except EvalInputError as e:
        print(f"xlmk-eval: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
