"""fairseq RoBERTa/XLM-R encoder weights <-> Hugging Face ``XLMRobertaForMaskedLM`` weights.

Both are post-LayerNorm BERT encoders with learned positions that start after the padding
index, so the conversion is a renaming, one table for both directions (``xlmk-export-hf``
and ``xlmk-import-hf``). The checks below refuse the fairseq variants that are not
(pre-LayerNorm, sinusoidal positions, no embedding LayerNorm).
"""

import torch

from ..errors import ConfigError

# both models start positions at pad index 1 + 1: max_position_embeddings = max_positions + 2
POSITION_OFFSET = 2
LAYER_NORM_EPS = 1e-5  # fairseq's LayerNorm, which RoBERTa's layers use without a flag

EMBEDDING_NAMES = {
    "embed_tokens.weight": "roberta.embeddings.word_embeddings.weight",
    "embed_positions.weight": "roberta.embeddings.position_embeddings.weight",
    "layernorm_embedding.weight": "roberta.embeddings.LayerNorm.weight",
    "layernorm_embedding.bias": "roberta.embeddings.LayerNorm.bias",
}
LAYER_NAMES = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.output.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "final_layer_norm": "output.LayerNorm",
}
LM_HEAD_NAMES = {
    "dense.weight": "lm_head.dense.weight",
    "dense.bias": "lm_head.dense.bias",
    "layer_norm.weight": "lm_head.layer_norm.weight",
    "layer_norm.bias": "lm_head.layer_norm.bias",
    "weight": "lm_head.decoder.weight",  # the word embeddings, tied on both sides
    "bias": "lm_head.bias",
}
ENCODER, LM_HEAD = "encoder.sentence_encoder.", "encoder.lm_head."
TOKEN_TYPES = "roberta.embeddings.token_type_embeddings.weight"


def name_pairs(num_layers, lm_head=True):
    """(fairseq name, Hugging Face name) of every tensor the two models share."""
    pairs = [(ENCODER + ours, theirs) for ours, theirs in EMBEDDING_NAMES.items()]
    for i in range(num_layers):
        for ours, theirs in LAYER_NAMES.items():
            for kind in ("weight", "bias"):
                pairs.append((f"{ENCODER}layers.{i}.{ours}.{kind}", f"roberta.encoder.layer.{i}.{theirs}.{kind}"))
    if lm_head:
        pairs += [(LM_HEAD + ours, theirs) for ours, theirs in LM_HEAD_NAMES.items()]
    return pairs


def hf_config(args, vocab_size):
    """An ``XLMRobertaConfig`` equal to the fairseq model's architecture."""
    from transformers import XLMRobertaConfig

    _check_convertible(args)
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=args.encoder_embed_dim,
        num_hidden_layers=args.encoder_layers,
        num_attention_heads=args.encoder_attention_heads,
        intermediate_size=args.encoder_ffn_embed_dim,
        hidden_act="gelu",
        hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.attention_dropout,
        max_position_embeddings=args.max_positions + POSITION_OFFSET,
        type_vocab_size=1,
        layer_norm_eps=LAYER_NORM_EPS,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
        tie_word_embeddings=not getattr(args, "untie_weights_roberta", False),
        architectures=["XLMRobertaForMaskedLM"],
    )


def _check_convertible(args):
    problems = []
    if getattr(args, "encoder_normalize_before", False):
        problems.append("pre-LayerNorm layers (--encoder-normalize-before)")
    if not getattr(args, "encoder_learned_pos", True) or getattr(args, "no_token_positional_embeddings", False):
        problems.append("positions that are not learned embeddings")
    if not getattr(args, "layernorm_embedding", True):
        problems.append("no embedding LayerNorm")
    if getattr(args, "activation_fn", "gelu") != "gelu":
        problems.append(f"activation {args.activation_fn!r}")
    if getattr(args, "encoder_layers_to_keep", None) or getattr(args, "quant_noise_pq", 0):
        problems.append("layer pruning or quant-noise")
    if problems:
        raise ConfigError("cannot export to XLMRobertaForMaskedLM: the checkpoint has " + "; ".join(problems))


def hf_state_dict(fairseq_state, num_layers):
    """Rename the encoder's tensors to ``XLMRobertaForMaskedLM``'s names."""
    out = {theirs: fairseq_state[ours] for ours, theirs in name_pairs(num_layers)}
    out["lm_head.decoder.bias"] = out["lm_head.bias"]  # tied to lm_head.bias in HF
    embed = out[EMBEDDING_NAMES["embed_tokens.weight"]]
    out[TOKEN_TYPES] = torch.zeros(1, embed.size(1), dtype=embed.dtype)  # fairseq has none
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def fairseq_state_dict(hf_state, num_layers, lm_head=True):
    """Rename ``XLMRobertaForMaskedLM``'s tensors (``lm_head=False``: its encoder's) to fairseq's.

    Hugging Face adds ``token_type_embeddings[0]`` to every position (token type ids default
    to 0); fairseq has no token types, so that row is added to every row of the position
    table, which gives the same sum.
    """
    out = {ours: hf_state[theirs].detach().clone().contiguous() for ours, theirs in name_pairs(num_layers, lm_head)}
    out[ENCODER + "embed_positions.weight"] += hf_state[TOKEN_TYPES][0]
    return out
