"""Helpers shared by tests that build the plugin's objects in-process."""

from conftest import USER_DIR


def build_xlmk_tiny_model(data, *extra):
    """(task with train and valid loaded, xlmk_tiny model) as fairseq-train would build them."""
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
    return task, task.build_model(cfg.model)
