"""xlmk-finetune: fine-tune on English, predict every language, score with xlmk-eval, tabulate.

    xlmk-finetune qa   --model HF_DIR --train squad-train-v1.1.json --dev MLQA_V1/dev --test MLQA_V1/test --output-dir OUT
    xlmk-finetune xnli --model HF_DIR --train multinli.train.en.tsv --dev xnli.dev.tsv --test xnli.test.tsv --output-dir OUT
    xlmk-finetune ner  --model HF_DIR --train en.train --dev DEV_FILES --test TEST_FILES --output-dir OUT

Defaults are the paper's settings (XGLUE's): QA 2 epochs, lr 3e-5, batch 12; NER 20 epochs, lr 5e-6,
batch 32; XNLI 10 epochs, lr 5e-6, batch 32. Several GPUs: torchrun --nproc_per_node N -m
xlmk_fairseq.finetune.cli ... (or accelerate launch). Details: docs/finetuning.md.
"""

import argparse
import os
import sys

from ..evaluation.eval_inputs import EvalInputError
from ..evaluation.results_file import write_results
from .tables import summarize, task_markdown

# task: (epochs, learning rate, batch size, maximum sequence length)
PAPER_SETTINGS = {"qa": (2, 3e-5, 12, 384), "ner": (20, 5e-6, 32, 128), "xnli": (10, 5e-6, 32, 128)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlmk-finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="task", required=True)
    helps = {"qa": ("SQuAD v1.1 JSON", "MLQA/XQuAD JSON files or directories (MLQA dev: the c = q files)"),
             "xnli": ("MultiNLI training TSV or JSONL (or XNLI-MT's multinli.train.en.tsv)", "XNLI TSV files"),
             "ner": ("CoNLL 2002/2003, XGLUE or PAN-X file", "CoNLL-style files or directories")}
    for task, (epochs, lr, batch, length) in PAPER_SETTINGS.items():
        p = sub.add_parser(task, help=f"fine-tune for {task.upper()}")
        p.add_argument("--model", required=True, help="xlmk-export-hf output or any local XLM-R-compatible HF model")
        p.add_argument("--train", required=True, help=f"English training data: {helps[task][0]}")
        p.add_argument("--dev", required=True, nargs="+", help=f"dev data, every language: {helps[task][1]}")
        p.add_argument("--test", required=True, nargs="+", help=f"test data, every language: {helps[task][1]}")
        p.add_argument("--output-dir", required=True, help="predictions, results.json, table.md, TensorBoard logs")
        p.add_argument("--seeds", default="1", help="comma-separated seeds; the paper runs 1,2,3,4 and reports "
                       "the mean and the max (default: 1)")
        p.add_argument("--epochs", type=float, default=epochs, help=f"default {epochs}")
        p.add_argument("--lr", type=float, default=lr, help=f"peak learning rate of Adam(W); default {lr}")
        p.add_argument("--batch-size", type=int, default=batch, help=f"per device; default {batch}")
        p.add_argument("--eval-batch-size", type=int, default=64)
        p.add_argument("--gradient-accumulation-steps", type=int, default=1)
        p.add_argument("--warmup-ratio", type=float, default=0.1, help="linear warm-up share of the steps; default 0.1")
        p.add_argument("--weight-decay", type=float, default=0.0)
        p.add_argument("--max-seq-length", type=int, default=length, help=f"default {length}, capped by the model")
        if task == "qa":
            p.add_argument("--doc-stride", type=int, default=128, help="overlap of context windows, in tokens")
            p.add_argument("--max-query-length", type=int, default=64)
            p.add_argument("--n-best", type=int, default=20, help="start and end candidates per window")
            p.add_argument("--max-answer-length", type=int, default=30, help="in tokens")
        p.add_argument("--fp16", action="store_true", help="mixed precision (passed to the Trainer)")
        p.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (passed to the Trainer)")
        p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is visible")
        p.add_argument("--workers", type=int, default=0, help="data loader workers")
        p.add_argument("--logging-steps", type=int, default=50)
        p.add_argument("--name", help="the model's name in tables (default: the model directory's name)")
        p.add_argument("--overwrite", action="store_true", help="replace the results in an existing OUT")
    return parser


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise EvalInputError(f"--seeds {text!r}: expected comma-separated integers such as 1,2,3,4") from None
    if len(set(seeds)) != len(seeds):
        raise EvalInputError(f"--seeds {text!r}: a seed repeats")
    return seeds


def load_task(args):
    import transformers

    from .model_dir import load_tokenizer, max_sequence_length

    if int(transformers.__version__.split(".")[0]) < 5:
        raise EvalInputError(f"xlmk-finetune needs transformers 5 or later (found {transformers.__version__})")
    tokenizer = load_tokenizer(args.model)
    max_length = max_sequence_length(args.model, args.max_seq_length)
    if args.task == "qa":
        from .qa_task import QaTask as Task
    elif args.task == "ner":
        from .ner_task import NerTask as Task
    else:
        from .xnli_task import XnliTask as Task
    return Task(args, tokenizer, max_length)


def run(args) -> dict:
    from .training import run_seed

    seeds = parse_seeds(args.seeds)
    if os.path.exists(os.path.join(args.output_dir, "results.json")) and not args.overwrite:
        raise EvalInputError(f"{args.output_dir} already holds results.json: pass --overwrite or another --output-dir")
    task = load_task(args)
    runs = []
    for seed in seeds:
        run_dir = os.path.join(args.output_dir, f"seed-{seed}")
        runs.append(run_seed(args, task, seed, run_dir))
    name = args.name or os.path.basename(os.path.normpath(args.model))
    summary = summarize(runs)
    results = {"task": args.task, "model": args.model, "name": name, "settings": settings(args),
               "summary": summary, "runs": {str(r["seed"]): r for r in runs}}
    return results, task_markdown(args.task, [(name, summary)])


def settings(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("task", "model", "name", "overwrite")}


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results, table = run(args)
        if is_main_process():
            write_results(os.path.join(args.output_dir, "results.json"), results)
            with open(os.path.join(args.output_dir, "table.md"), "w", encoding="utf-8") as f:
                f.write(table + "\n")
            print(table)
    except EvalInputError as e:
        print(f"xlmk-finetune: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
