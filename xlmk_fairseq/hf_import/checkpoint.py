"""The fairseq checkpoint that ``xlmk-import-hf`` writes, in the shape of the 2019 XLM-R
release: the ``args`` of a fairseq ``masked_lm`` run, the model in fairseq's names, and an
optimizer history without optimizer state, so that ``--restore-file`` (with or without the
``--reset-*`` flags) and ``--finetune-from-model`` take it as they take the release."""

import argparse

import torch

from ..hf_export.weights import LM_HEAD, POSITION_OFFSET

XLMK_ARCHS = ("xlmk_base", "xlmk_large", "xlmk_tiny")


def shape_of(config):
    """The fairseq architecture arguments of a Hugging Face config."""
    return {
        "encoder_layers": config.num_hidden_layers,
        "encoder_embed_dim": config.hidden_size,
        "encoder_ffn_embed_dim": config.intermediate_size,
        "encoder_attention_heads": config.num_attention_heads,
        "max_positions": config.max_position_embeddings - POSITION_OFFSET,
    }


def matching_arch(shape):
    """The ``--arch`` of this plugin that restores a model of this shape, or None."""
    from fairseq.models import ARCH_CONFIG_REGISTRY

    for name in XLMK_ARCHS:
        defaults = argparse.Namespace()
        ARCH_CONFIG_REGISTRY[name](defaults)
        if all(getattr(defaults, k) == v for k, v in shape.items()):
            return name
    return None


def fairseq_args(shape, config, data, arch):
    """``args`` as fairseq's own parser gives them for a masked_lm run of this model."""
    from fairseq import options

    flags = [data, "--task", "masked_lm", "--criterion", "masked_lm",
             "--arch", "roberta_large" if arch == "xlmk_large" else "roberta_base",
             "--tokens-per-sample", str(shape["max_positions"]),
             "--dropout", str(config.hidden_dropout_prob), "--attention-dropout", str(config.attention_probs_dropout_prob)]
    for name, value in shape.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    return options.parse_args_and_arch(options.get_training_parser(), flags)


def fresh_lm_head(embed_tokens, seed=0):
    """fairseq's LM head as a new RoBERTa model initialises it, tied to ``embed_tokens``."""
    from fairseq.models.roberta.model import RobertaLMHead
    from fairseq.modules.transformer_sentence_encoder import init_bert_params

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = RobertaLMHead(embed_tokens.size(1), embed_tokens.size(0), "gelu", weight=embed_tokens)
        head.apply(init_bert_params)
    state = {LM_HEAD + name: tensor.detach() for name, tensor in head.state_dict().items()}
    state[LM_HEAD + "weight"] = embed_tokens
    return state


def release_checkpoint(args, model_state):
    return {
        "args": args,
        "model": model_state,
        # no "last_optimizer_state": nothing to restore into the optimizer, with or without --reset-optimizer
        "optimizer_history": [{"criterion_name": "MaskedLmLoss", "optimizer_name": "none",
                               "lr_scheduler_state": {}, "num_updates": 0}],
        "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0, "shuffle": False}},
    }
