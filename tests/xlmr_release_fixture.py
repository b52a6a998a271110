"""Write a checkpoint in the shape of the 2019 XLM-R release (``xlmr.base/model.pt``), with
random weights, plus the release's companions (dict.txt, sentencepiece.bpe.model).

What is release-like (and what fairseq 0.12 upgrades on load):

* key names of fairseq 0.9: ``decoder.sentence_encoder.*`` and ``decoder.lm_head.*``
  (RobertaModel.upgrade_state_dict_named renames ``decoder`` -> ``encoder``) and
  ``decoder.sentence_encoder.emb_layer_norm.*`` (renamed there to ``layernorm_embedding``);
  the attention has separate ``k_proj``/``v_proj``/``q_proj`` (as in the 0.9 releases); no
  ``sentence_encoder.version`` key (no final layer norm, as XLM-R's post-LN encoder);
  ``lm_head.weight`` is the same tensor as ``embed_tokens.weight`` (tied, stored once);
* an ``args`` argparse.Namespace of the 0.9 era (arch roberta_base, task masked_lm,
  ``lr`` a list, ``min_lr``, ``max_sentences``, ...) and no ``cfg``: fairseq 0.12's
  ``_upgrade_state_dict`` builds ``cfg`` from it (convert_namespace_to_omegaconf);
* ``optimizer_history`` (criterion/optimizer names, lr scheduler state, num_updates) and a
  ``last_optimizer_state`` stripped of its per-parameter state;
* ``extra_state`` with a ``train_iterator`` (fairseq 0.12 reads its ``epoch`` even with
  --reset-dataloader) and numpy values: np.float64 scalars (``val_loss``, ``best``) and an
  int64 array (a stand-in: which arrays the real release holds is not known here);
* weights in fp16 (``dtype=``), written in torch's legacy (pre-1.6, non-zip) format with
  pickle protocol 2, as torch 1.x wrote them in 2019;
* ``numpy_names="numpy1"`` pickles the numpy values under numpy 1's module names
  (``numpy.core.multiarray.scalar`` / ``_reconstruct``), as a 2019 file has them; the
  default writes the running numpy's names.

Shapes: XLMR_BASE (12 layers, 768, 3072 ffn, 12 heads, 514 positions, 250002 x 768
embeddings); smaller ones for quick checks. ``release_to_model_name`` maps a release key to
the name in a fairseq 0.12 RoBERTa/XLM-K model, written here independently of fairseq's
own upgrade code, so that a test can compare restored tensors against the release's.
"""

import argparse
import os
import pickle
import shutil
import types
from collections import OrderedDict

import numpy as np
import torch

XLMR_BASE = dict(layers=12, dim=768, ffn=3072, heads=12, positions=514, vocab=250002)
# the shapes of fairseq's roberta_base with a small vocabulary (for fast checks)
SMALL = dict(layers=2, dim=64, ffn=128, heads=4, positions=514, vocab=None)

NUM_UPDATES = 1_500_000  # optimizer_history's num_updates (0.9: last update of the run)


def release_state_dict(shape=XLMR_BASE, seed=0, dtype=torch.float16):
    """The 0.9-era model state dict: random weights (std 0.02, layer norms near 1),
    padding rows zero, ``lm_head.weight`` tied to ``embed_tokens.weight``."""
    g = torch.Generator().manual_seed(seed)
    d, f = shape["dim"], shape["ffn"]

    def normal(*size):
        return torch.empty(*size, dtype=dtype).normal_(0.0, 0.02, generator=g)

    def norm(prefix):
        return {prefix + ".weight": 1.0 + normal(d), prefix + ".bias": normal(d)}

    se = "decoder.sentence_encoder."
    sd = OrderedDict()
    embed = normal(shape["vocab"], d)
    embed[1].zero_()  # padding_idx 1
    positions = normal(shape["positions"], d)
    positions[1].zero_()
    sd[se + "embed_tokens.weight"] = embed
    sd[se + "embed_positions.weight"] = positions
    for i in range(shape["layers"]):
        p = f"{se}layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            sd[p + f"self_attn.{proj}.weight"] = normal(d, d)
            sd[p + f"self_attn.{proj}.bias"] = normal(d)
        sd.update(norm(p + "self_attn_layer_norm"))
        sd[p + "fc1.weight"], sd[p + "fc1.bias"] = normal(f, d), normal(f)
        sd[p + "fc2.weight"], sd[p + "fc2.bias"] = normal(d, f), normal(d)
        sd.update(norm(p + "final_layer_norm"))
    sd.update(norm(se + "emb_layer_norm"))
    sd["decoder.lm_head.weight"] = embed  # tied: one storage in the file
    sd["decoder.lm_head.bias"] = normal(shape["vocab"])
    sd["decoder.lm_head.dense.weight"] = normal(d, d)
    sd["decoder.lm_head.dense.bias"] = normal(d)
    sd.update(norm("decoder.lm_head.layer_norm"))
    return sd


def release_to_model_name(key):
    """A release key -> its name in a fairseq 0.12 RoBERTa model (and in XLM-K's)."""
    assert key.startswith("decoder."), key
    return "encoder." + key[len("decoder."):].replace(".emb_layer_norm.", ".layernorm_embedding.")


def release_args(shape=XLMR_BASE, data="/private/home/xlmr/data-bin/cc100"):
    """The ``args`` Namespace of a fairseq 0.9 masked_lm run (names and types of that era)."""
    return argparse.Namespace(
        activation_dropout=0.0, activation_fn="gelu", adam_betas="(0.9, 0.98)", adam_eps=1e-06,
        arch="roberta_base", attention_dropout=0.1, best_checkpoint_metric="loss", bpe="sentencepiece",
        bucket_cap_mb=25, clip_norm=0.0, cpu=False, criterion="masked_lm", curriculum=0, data=data,
        dataset_impl="mmap", ddp_backend="c10d", device_id=0, disable_validation=False,
        distributed_backend="nccl", distributed_init_method=None, distributed_no_spawn=False,
        distributed_port=-1, distributed_rank=0, distributed_world_size=256, dropout=0.1,
        empty_cache_freq=0, encoder_attention_heads=shape["heads"], encoder_embed_dim=shape["dim"],
        encoder_ffn_embed_dim=shape["ffn"], encoder_layerdrop=0, encoder_layers=shape["layers"],
        encoder_layers_to_keep=None, end_learning_rate=0.0, find_unused_parameters=False,
        fix_batches_to_gpus=False, fixed_validation_seed=None, force_anneal=None, fp16=True,
        fp16_init_scale=128, fp16_scale_tolerance=0.0, fp16_scale_window=None,
        freq_weighted_replacement=False, keep_interval_updates=-1, keep_last_epochs=-1,
        leave_unmasked_prob=0.1, log_format="json", log_interval=100, lr=[0.0006],
        lr_scheduler="polynomial_decay", mask_prob=0.15, mask_whole_words=False, max_epoch=0,
        max_positions=shape["positions"] - 2, max_sentences=16, max_sentences_valid=16,
        max_tokens=None, max_tokens_valid=None, max_update=NUM_UPDATES,
        maximize_best_checkpoint_metric=False, memory_efficient_fp16=False, min_loss_scale=0.0001,
        min_lr=-1, no_epoch_checkpoints=False, no_last_checkpoints=False, no_progress_bar=False,
        no_save=False, no_save_optimizer_state=False, num_workers=2, optimizer="adam",
        optimizer_overrides="{}", pooler_activation_fn="tanh", pooler_dropout=0.0, power=1.0,
        random_token_prob=0.1, required_batch_size_multiple=8, reset_dataloader=False,
        reset_lr_scheduler=False, reset_meters=False, reset_optimizer=False,
        restore_file="checkpoint_last.pt", sample_break_mode="complete", save_dir="checkpoints",
        save_interval=1, save_interval_updates=0, seed=1, sentence_avg=False,
        skip_invalid_size_inputs_valid_test=False, task="masked_lm", tbmf_wrapper=False,
        tensorboard_logdir="", threshold_loss_scale=None, tokenizer=None,
        tokens_per_sample=shape["positions"] - 2, total_num_update=NUM_UPDATES, train_subset="train",
        update_freq=[1], use_bmuf=False, user_dir=None, valid_subset="valid", validate_interval=1,
        warmup_updates=10000, weight_decay=0.01,
    )


def release_checkpoint(shape=XLMR_BASE, seed=0, dtype=torch.float16, numpy_array=True):
    """The whole checkpoint dict (model, args, optimizer_history, last_optimizer_state,
    extra_state)."""
    model = release_state_dict(shape, seed, dtype)
    val_loss = np.float64(1.7431640625)
    extra_state = {
        "train_iterator": {"epoch": 2, "iterations_in_epoch": 0, "shuffle": True},
        "val_loss": val_loss,
        "best": val_loss,
    }
    if numpy_array:
        extra_state["sampled_sentences_per_lang"] = np.arange(100, dtype=np.int64) * 1000 + 7
    num_params = len({id(t) for t in model.values()})
    return {
        "args": release_args(shape),
        "model": model,
        "optimizer_history": [{
            "criterion_name": "MaskedLmLoss",
            "optimizer_name": "FP16Optimizer",
            "lr_scheduler_state": {"best": val_loss},
            "num_updates": NUM_UPDATES,
        }],
        # the release keeps the optimizer's hyper-parameters but no per-parameter state
        "last_optimizer_state": {
            "state": {},
            "param_groups": [{"lr": 0.0, "betas": (0.9, 0.98), "eps": 1e-06, "weight_decay": 0.01,
                              "amsgrad": False, "params": list(range(num_params))}],
            "loss_scale": 4.0,
        },
        "extra_state": extra_state,
    }


class _Numpy1Pickler(pickle._Pickler):
    """Pickles ``numpy._core.*`` globals under numpy 1's names (``numpy.core.*``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        write = self.write

        def renaming_write(data):
            # protocol 2 writes a global as one GLOBAL opcode: b"c" module "\n" name "\n"
            if data[:13] == b"cnumpy._core.":
                data = b"cnumpy.core." + data[13:]
            return write(data)

        self.write = renaming_write


NUMPY1_PICKLE = types.SimpleNamespace(Pickler=_Numpy1Pickler, dump=pickle.dump, load=pickle.load,
                                      Unpickler=pickle.Unpickler, __name__="numpy1_pickle")


def write_release_checkpoint(path, shape=XLMR_BASE, seed=0, dtype=torch.float16,
                             numpy_names="current", numpy_array=True):
    """Write model.pt at ``path``; return the checkpoint dict that was written."""
    if numpy_names not in ("current", "numpy1"):
        raise ValueError(f"numpy_names: 'current' or 'numpy1', not {numpy_names!r}")
    ckpt = release_checkpoint(shape, seed, dtype, numpy_array)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(ckpt, path, pickle_protocol=2, _use_new_zipfile_serialization=False,
               pickle_module=NUMPY1_PICKLE if numpy_names == "numpy1" else pickle)
    return ckpt


def pickled_globals(path):
    """The globals (``module.name``) that the main pickle of a legacy-format checkpoint
    names (it follows three small pickles: magic number, protocol version, sys info)."""
    import pickletools

    found = set()
    with open(path, "rb") as f:
        for _ in range(4):
            for opcode, arg, _pos in pickletools.genops(f):
                if opcode.name == "GLOBAL":
                    found.add(arg.replace(" ", "."))
    return found


def write_sentencepiece_for_dict(dict_path, model_path):
    """A unigram sentencepiece model whose pieces are <unk>, <s>, </s> and then the symbols
    of ``dict_path`` in order: XLM-R's layout (fairseq id = sentencepiece id + 1), so that
    fairseq's and Hugging Face's tokenizers agree on every id. Text that is not made of
    those symbols encodes to <unk>."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    for piece, kind in (("<unk>", pb.ModelProto.SentencePiece.UNKNOWN),
                        ("<s>", pb.ModelProto.SentencePiece.CONTROL),
                        ("</s>", pb.ModelProto.SentencePiece.CONTROL)):
        m.pieces.add(piece=piece, score=0.0, type=kind)
    with open(dict_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            m.pieces.add(piece=line.rsplit(" ", 1)[0], score=-10.0 - i * 1e-6)
    m.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    m.trainer_spec.vocab_size = len(m.pieces)
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id, m.trainer_spec.pad_id = 0, 1, 2, -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = True
    m.normalizer_spec.escape_whitespaces = True
    with open(model_path, "wb") as f:
        f.write(m.SerializeToString())
    return model_path


def write_release_dir(out_dir, dict_path, shape=XLMR_BASE, **kwargs):
    """``out_dir`` as the release tarball unpacks: model.pt, dict.txt (a copy of
    ``dict_path``) and sentencepiece.bpe.model matching it. ``shape["vocab"]`` None: the
    dictionary's size. Returns (model.pt path, the checkpoint dict written)."""
    from fairseq.data import Dictionary

    os.makedirs(out_dir, exist_ok=True)
    vocab = len(Dictionary.load(dict_path)) + 1  # + <mask>, as masked_lm adds it
    if shape.get("vocab") is None:
        shape = dict(shape, vocab=vocab)
    elif shape["vocab"] != vocab:
        raise ValueError(f"{dict_path} gives {vocab} symbols (with <mask>), the shape {shape['vocab']}")
    shutil.copy(dict_path, os.path.join(out_dir, "dict.txt"))
    write_sentencepiece_for_dict(dict_path, os.path.join(out_dir, "sentencepiece.bpe.model"))
    path = os.path.join(out_dir, "model.pt")
    return path, write_release_checkpoint(path, shape, **kwargs)
