"""Every recipe runs, scaled down (--smoke), for a few updates, so that none rots."""

import os
import subprocess

import pytest

from conftest import BIN, REPO
from hf_fixtures import write_hf_dir

ABLATIONS = {
    "mep_only": {"knowledge_tasks": "mep"},
    "oe_only": {"knowledge_tasks": "oe"},
    "wo_multilingual_description": {"mep_description_language": "same"},
    "oe_wo_contrastive": {"oe_loss": "classification"},
    "wo_knowledge_tasks": {"knowledge_tasks": "none", "description_mlm": True},
    "link_prediction": {"knowledge_tasks": "lp"},
    "xlmk_lp": {"knowledge_tasks": "mep,oe,lp"},
}


def run(script, *args, data=None, env=None):
    env = {**os.environ, "PY": os.path.join(BIN, "python"), "OMP_NUM_THREADS": "1", **(env or {})}
    if data:
        env["SMOKE_DATA"] = str(data)
    return subprocess.run(["bash", os.path.join(REPO, "recipes", script), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO)


def saved_task_config(save_dir):
    from fairseq import checkpoint_utils

    import xlmk_fairseq  # noqa: F401  (safe-globals checkpoint loading)

    state = checkpoint_utils.load_checkpoint_to_cpu(str(save_dir / "checkpoint_last.pt"))
    return state["cfg"]["task"], state["optimizer_history"][-1]["num_updates"]


@pytest.mark.parametrize("script", ["xlmk_base.sh", *(f"ablations/{name}.sh" for name in ABLATIONS)])
def test_recipe_smoke_run(script, sample_data, tmp_path):
    proc = run(script, "--smoke", tmp_path / "ck", data=sample_data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    task, updates = saved_task_config(tmp_path / "ck")
    assert updates == 3
    expected = ABLATIONS.get(os.path.basename(script)[: -len(".sh")], {"knowledge_tasks": "mep,oe"})
    for key, value in {"key_encoder": "shared", **expected}.items():  # the paper's keys, stated
        assert task[key] == value


def test_base_recipe_imports_a_hugging_face_directory_once(sample_data, synthetic_data, tmp_path):
    hf_dir = write_hf_dir(tmp_path / "hf", sample_data / "sentencepiece.bpe.model")  # xlmk_tiny's shape
    save = tmp_path / "ck"
    proc = run("xlmk_base.sh", "--smoke", save, data=sample_data, env={"XLMR_CHECKPOINT": str(hf_dir)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"imported {hf_dir} -> {save}/xlmr_import" in proc.stdout and "initialised" in proc.stderr
    assert saved_task_config(save)[1] == 3
    imported = save / "xlmr_import" / "model.pt"
    written = imported.stat().st_mtime_ns
    # reused, not imported again; data encoded with another vocabulary, or another shape, is refused
    proc = run("xlmk_base.sh", "--smoke", save, data=synthetic_data, env={"XLMR_CHECKPOINT": str(hf_dir)})
    assert proc.returncode == 2 and "reusing" in proc.stderr
    assert f"{synthetic_data}/dict.txt is not the vocabulary of {save}/xlmr_import/dict.txt" in proc.stderr
    proc = run("xlmk_base.sh", sample_data, hf_dir, save)
    assert proc.returncode == 2 and "does not have xlmk_base's shape (its import says fairseq_arch xlmk_tiny" in proc.stderr
    assert imported.stat().st_mtime_ns == written


def test_hydra_config_of_the_base_recipe(sample_data, sample_checkpoint, tmp_path):
    checkpoint = sample_checkpoint
    overrides = [
        f"task.data={sample_data}", f"common.user_dir={REPO}/xlmk_fairseq",
        f"checkpoint.finetune_from_model={checkpoint}", f"checkpoint.save_dir={tmp_path}/ck",
        f"hydra.run.dir={tmp_path}/hydra", "common.fp16=false", "common.cpu=true",
        "model._name=xlmk_tiny", "model.queue_size=64", "dataset.batch_size=4",
        "optimization.update_freq=[1]", "optimization.max_update=2", "task.tokens_per_sample=64",
        "task.knowledge_tokens_per_sample=64", "dataset.num_workers=0", "dataset.data_buffer_size=0",
        "dataset.disable_validation=true",
    ]
    proc = subprocess.run([os.path.join(BIN, "fairseq-hydra-train"), "--config-dir", os.path.join(REPO, "recipes", "config"),
                           "--config-name", "xlmk_base", *overrides],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    task, updates = saved_task_config(tmp_path / "ck")
    assert updates == 2 and task["_name"] == "knowledge_pretraining" and task["tokens_per_sample"] == 64
    assert task["key_encoder"] == "shared"


def test_base_recipe_refuses_missing_inputs(sample_data, tmp_path):
    proc = run("xlmk_base.sh")
    assert proc.returncode == 2 and "usage: recipes/xlmk_base.sh DATA XLMR_CHECKPOINT SAVE_DIR" in proc.stderr
    proc = run("xlmk_base.sh", tmp_path, tmp_path / "model.pt", tmp_path / "ck")
    assert proc.returncode == 2 and "manifest.json: no such file" in proc.stderr
    proc = run("xlmk_base.sh", sample_data, tmp_path / "model.pt", tmp_path / "ck")
    assert proc.returncode == 2 and "model.pt: no such file, nor a Hugging Face directory" in proc.stderr
    assert not (tmp_path / "ck").exists()


def test_a_relaunched_base_recipe_resumes_instead_of_starting_over(sample_data, sample_checkpoint, tmp_path):
    """After a crash the same command runs again: it must continue from checkpoint_last.pt,
    not restore the starting checkpoint with reset optimizer and data (--restore-file would)."""
    save = tmp_path / "ck"
    env = {"XLMR_CHECKPOINT": str(sample_checkpoint)}
    queue = ["--queue-size", "64"]  # the checkpoint's, whose queue holds keys
    proc = run("xlmk_base.sh", "--smoke", save, *queue, data=sample_data, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert saved_task_config(save)[1] == 3
    proc = run("xlmk_base.sh", "--smoke", save, *queue, "--max-update", "5", data=sample_data, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Loaded checkpoint {save}/checkpoint_last.pt (epoch" in proc.stdout + proc.stderr
    assert saved_task_config(save)[1] == 5
