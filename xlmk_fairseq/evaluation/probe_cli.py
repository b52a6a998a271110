"""xlmk-probe: knowledge probing (LAMA, mLAMA typed querying) and cross-lingual entity
retrieval of a fairseq checkpoint or a Hugging Face model directory (docs/probing.md).

    xlmk-probe MODEL --mlama PROBE_DIR [--langs en,de] [--data DATA] [--output results.json]
    xlmk-probe MODEL --lama LAMA_DIR [--common-vocab common_vocab_cased.txt] [--data DATA]
    xlmk-probe MODEL --retrieval --data DATA [--langs en,de,zh]
"""

import argparse
import os
import sys

from .masked_lm_scorers import ModelLoadError, load_scorer
from .probe_sets import ProbeSetError, read_lama, read_mlama
from .probing import macro_average, probe_lama, probe_typed, vocabulary_filter
from .results_file import write_results
from .retrieval import RetrievalError, evaluate_retrieval

PROG = "xlmk-probe"


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Output: a results JSON (--output) and a markdown table of P@1 per "
                                       "relation and language on stdout. See docs/probing.md.")
    p.add_argument("model", metavar="MODEL",
                   help="a fairseq checkpoint (.pt, task knowledge_pretraining or masked_lm) or a Hugging Face "
                        "model directory (XLMRobertaForMaskedLM and its tokenizer, as xlmk-export-hf writes it)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--lama", metavar="DIR", help="LAMA layout: relations.jsonl and <relation>.jsonl; one mask, "
                                                     "single-token objects, ranking over the vocabulary")
    mode.add_argument("--mlama", metavar="DIR", help="mLAMA layout: <lang>/templates.jsonl, <lang>/<relation>.jsonl "
                                                      "[, <lang>/<relation>.candidates.json]; typed querying")
    p.add_argument("--retrieval", action="store_true",
                   help="cross-lingual entity retrieval on the descriptions of --data (acc@1, MRR per language pair)")
    p.add_argument("--data", metavar="DATA",
                   help="the knowledge data directory (dict.txt, sentencepiece.bpe.model; desc/ for --retrieval); "
                        "required for a fairseq checkpoint and for --retrieval")
    p.add_argument("--langs", help="comma-separated languages (default: all of the probe set / data); "
                                   "with --lama, the language key of the results (default en)")
    p.add_argument("--common-vocab", metavar="FILE",
                   help="--lama: rank only these words (one per line) that are one vocabulary item")
    p.add_argument("--output", metavar="FILE", help="write the results JSON here")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="sequences per forward pass (default 32)")
    p.add_argument("--max-facts-per-relation", type=int, metavar="N", help="score only the first N facts of a relation")
    p.add_argument("--max-tokens", type=int, default=256, metavar="N",
                   help="--retrieval: descriptions are cut to N tokens including <s> and </s> (default 256)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.lama or args.mlama or args.retrieval):
        parser.error("choose --lama DIR, --mlama DIR and/or --retrieval")
    if args.retrieval and not args.data:
        parser.error("--retrieval needs --data DATA (the descriptions are read from it)")
    if args.common_vocab and not args.lama:
        parser.error("--common-vocab applies to --lama only")
    for name in ("batch_size", "max_facts_per_relation"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_tokens < 3:
        parser.error("--max-tokens must be at least 3")
    langs = [x.strip() for x in (args.langs or "").split(",") if x.strip()] or None
    try:
        results = run(args, langs)
        if args.output:
            os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
            write_results(args.output, results)
    except (ModelLoadError, ProbeSetError, RetrievalError, OSError) as e:
        parser.exit(1, f"{PROG}: error: {e}\n")
    print(markdown_table(results))
    return 0


def run(args, langs):
    """Read the probe set first (cheap, fails early), then load the model and score."""
    if args.lama and langs and len(langs) > 1:
        raise ProbeSetError("--lama probes one language: give at most one in --langs")
    relations = read_lama(args.lama) if args.lama else read_mlama(args.mlama, langs) if args.mlama else {}
    common_vocab = _read_words(args.common_vocab) if args.common_vocab else None
    scorer = load_scorer(args.model, args.data)
    mode = "lama" if args.lama else "mlama" if args.mlama else "retrieval"
    results = {"model": scorer.name, "mode": mode, "p_at_1": {}, "relations": {}}
    if args.lama:
        lang = langs[0] if langs else "en"
        per_language = {lang: probe_lama(scorer, relations, vocabulary_filter(scorer, common_vocab),
                                         args.batch_size, args.max_facts_per_relation)}
    elif args.mlama:
        per_language = {lang: probe_typed(scorer, rels, args.batch_size, args.max_facts_per_relation, f"{lang}/")
                        for lang, rels in relations.items()}
    else:
        per_language = {}
    for lang, per_relation in per_language.items():
        results["relations"][lang] = per_relation
        results["p_at_1"][lang] = macro_average(per_relation)
    if args.retrieval:
        results["retrieval"] = evaluate_retrieval(scorer, args.data, langs if not args.lama else None,
                                                  args.max_tokens, args.batch_size)
    return results


def markdown_table(results):
    """P@1 (facts scored) per relation x language, then the macro-averages; then retrieval."""
    lines = []
    langs = list(results["relations"])
    if langs:
        relations = sorted({r for per in results["relations"].values() for r in per}, key=_relation_order)
        lines += [f"| relation | {' | '.join(langs)} |", "|---" * (len(langs) + 1) + "|"]
        for rel in relations:
            cells = [_cell(results["relations"][lang].get(rel)) for lang in langs]
            lines.append(f"| {rel} | {' | '.join(cells)} |")
        lines.append(f"| **macro P@1** | {' | '.join(_percent(results['p_at_1'][lang]) for lang in langs)} |")
    for method, part in (results.get("retrieval") or {}).items():
        if not isinstance(part, dict):
            continue
        if "skipped" in part:
            lines.append(f"\nretrieval ({method}): skipped: {part['skipped']}")
            continue
        lines += ["", f"| retrieval ({method}) | acc@1 | MRR | queries |", "|---|---|---|---|"]
        for pair, m in part["pairs"].items():
            lines.append(f"| {pair} | {_percent(m['acc@1'])} | {_percent(m['mrr'])} | {m['n']} |")
        avg = part["average"]
        lines.append(f"| **average** | {_percent(avg['acc@1'])} | {_percent(avg['mrr'])} | |")
    return "\n".join(lines)


def _relation_order(name):
    return (0, int(name[1:])) if name[:1] == "P" and name[1:].isdigit() else (1, name)


def _cell(result):
    if result is None:
        return ""
    return f"{_percent(result['p_at_1'])} ({result['n']})"


def _percent(value):
    return "-" if value is None else f"{100 * value:.1f}"


def _read_words(path):
    if not os.path.isfile(path):
        raise ProbeSetError(f"{path}: no such common vocabulary file")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


if __name__ == "__main__":
    sys.exit(main())
