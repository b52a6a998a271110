"""One fine-tuning run (one seed): transformers' Trainer, scored on every dev language after each epoch,
keeping the epoch with the best average over languages, then predicting and scoring every test file."""

import os
import shutil
import tempfile

from ..evaluation.results_file import write_results
from .eval_sets import mean
from .selection import dev_history, select_best


def build_trainer_class():
    """Imported late: transformers and accelerate load only when a model is trained."""
    from transformers import Trainer

    class DevLanguagesTrainer(Trainer):
        """evaluate() writes and scores the dev predictions of every language with xlmk-eval's metrics."""

        def __init__(self, *args, task, **kwargs):
            super().__init__(*args, **kwargs)
            self.task = task

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            with tempfile.TemporaryDirectory(prefix="xlmk-dev-") as tmp:
                _, languages = predict_and_score(self, self.task.dev_sets, tmp)
            metric = self.task.metric
            metrics = {f"{metric_key_prefix}_dev_{lang}": s[metric] for lang, s in languages.items()}
            metrics[f"{metric_key_prefix}_dev_average"] = mean(s[metric] for s in languages.values())
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return DevLanguagesTrainer


def predict_and_score(trainer, eval_sets, pred_dir: str, shared: bool = False) -> tuple[dict, dict]:
    """Predict each set, write its prediction file under the gold file's name, score them all.

    Every process gets all predictions; into a ``shared`` directory only the first one writes."""
    os.makedirs(pred_dir, exist_ok=True)
    for eval_set in eval_sets:
        output = trainer.predict(eval_set.features, metric_key_prefix="predict")
        if trainer.is_world_process_zero() or not shared:
            trainer.task.write_predictions(eval_set, output, os.path.join(pred_dir, eval_set.name))
    trainer.accelerator.wait_for_everyone()
    return trainer.task.score(eval_sets, pred_dir)


def training_arguments(args, seed: int, run_dir: str):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=run_dir,  # TensorBoard logs go to run_dir/runs/, epoch checkpoints to run_dir/checkpoint-N
        seed=seed, data_seed=seed, learning_rate=args.lr, num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps, warmup_steps=args.warmup_ratio,  # below 1: a share of the steps
       
        weight_decay=args.weight_decay, max_grad_norm=1.0, optim="adamw_torch",
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
        metric_for_best_model="dev_average", greater_is_better=True, save_only_model=True,
        logging_strategy="steps", logging_steps=args.logging_steps, report_to=["tensorboard"],
        fp16=args.fp16, bf16=args.bf16, use_cpu=args.cpu, dataloader_num_workers=args.workers,
        ddp_find_unused_parameters=False,  # the task heads use every weight: spare DDP a graph walk
        disable_tqdm=False)


def run_seed(args, task, seed: int, run_dir: str) -> dict:
    """Train, keep the best dev epoch, predict every test file into run_dir/predictions; the results dict."""
    import transformers

    from .model_dir import load_model

    transformers.set_seed(seed)
    model = load_model(getattr(transformers, task.model_class), args.model, **task.model_kwargs)
    collator = (transformers.DataCollatorForTokenClassification if task.name == "ner"
                else transformers.DataCollatorWithPadding)(task.tokenizer)
    trainer = build_trainer_class()(
        model=model, args=training_arguments(args, seed, run_dir), train_dataset=task.train_features,
        eval_dataset={s.name: s.features for s in task.dev_sets}, data_collator=collator,
        processing_class=task.tokenizer, task=task)
    trainer.train()
    if trainer.is_world_process_zero():
        trainer.save_model(os.path.join(run_dir, "model"))  # the best dev epoch's weights
        for name in os.listdir(run_dir):
            if name.startswith("checkpoint-"):
                shutil.rmtree(os.path.join(run_dir, name))
    history = dev_history(trainer.state.log_history)
    test, languages = predict_and_score(trainer, task.test_sets, os.path.join(run_dir, "predictions"), shared=True)
    results = {"task": task.name, "model": args.model, "seed": seed, "metric": task.metric,
               "dev_history": history, "best_epoch": select_best(history)["epoch"],
               "best_dev_average": trainer.state.best_metric,
               "test": test, "languages": languages,
               "average": {m: mean(s[m] for s in languages.values()) for m in next(iter(languages.values()))}}
    if trainer.is_world_process_zero():
        write_results(os.path.join(run_dir, "results.json"), results)
    return results
