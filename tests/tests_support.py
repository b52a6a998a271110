"""Helpers shared by tests that build the plugin's objects in-process."""

import os

USER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "xlmk_fairseq")


def build_xlmk_tiny_training(data, *extra):
    """(task with train and valid loaded, xlmk_tiny model, criterion) as fairseq-train
    would build them."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--user-dir", USER_DIR, "--task", "knowledge_pretraining", "--criterion", "xlmk",
        "--arch", "xlmk_tiny", "--queue-size", "64", "--tokens-per-sample", "64",
        "--knowledge-tokens-per-sample", "32", *extra,
    ])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    task.load_dataset("valid")
    return task, task.build_model(cfg.model), task.build_criterion(cfg.criterion)


def build_xlmk_tiny_model(data, *extra):
    """(task with train and valid loaded, xlmk_tiny model)."""
    return build_xlmk_tiny_training(data, *extra)[:2]


def first_batch(task, batch_size, split="train"):
    """The first batch of ``split`` in a fixed order, as the trainer collates it."""
    itr = task.get_batch_iterator(task.datasets[split], max_sentences=batch_size, seed=1, epoch=1,
                                  required_batch_size_multiple=1, disable_iterator_cache=True)
    return next(iter(itr.next_epoch_itr(shuffle=False)))
