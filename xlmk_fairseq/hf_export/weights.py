"""fairseq RoBERTa/XLM-R encoder weights -> Hugging Face ``XLMRobertaForMaskedLM`` weights.

Both are post-LayerNorm BERT encoders with learned positions that start after the padding
index, so the conversion is a renaming; the checks below refuse the variants that are not
(pre-LayerNorm, sinusoidal positions, no embedding LayerNorm).
"""

import torch

from ..errors import ConfigError

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
        max_position_embeddings=args.max_positions + 2,  # fairseq: pad index 1 + 1 offset
        type_vocab_size=1,
        layer_norm_eps=1e-5,  # fairseq's LayerNorm default
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
    src = "encoder.sentence_encoder."
    embed = fairseq_state[src + "embed_tokens.weight"]
    out = {
        "roberta.embeddings.word_embeddings.weight": embed,
        "roberta.embeddings.position_embeddings.weight": fairseq_state[src + "embed_positions.weight"],
        "roberta.embeddings.token_type_embeddings.weight": torch.zeros(1, embed.size(1), dtype=embed.dtype),
        "roberta.embeddings.LayerNorm.weight": fairseq_state[src + "layernorm_embedding.weight"],
        "roberta.embeddings.LayerNorm.bias": fairseq_state[src + "layernorm_embedding.bias"],
        "lm_head.dense.weight": fairseq_state["encoder.lm_head.dense.weight"],
        "lm_head.dense.bias": fairseq_state["encoder.lm_head.dense.bias"],
        "lm_head.layer_norm.weight": fairseq_state["encoder.lm_head.layer_norm.weight"],
        "lm_head.layer_norm.bias": fairseq_state["encoder.lm_head.layer_norm.bias"],
        "lm_head.decoder.weight": fairseq_state["encoder.lm_head.weight"],
        "lm_head.bias": fairseq_state["encoder.lm_head.bias"],
        "lm_head.decoder.bias": fairseq_state["encoder.lm_head.bias"],  # tied to lm_head.bias in HF
    }
    for i in range(num_layers):
        for theirs, ours in LAYER_NAMES.items():
            for kind in ("weight", "bias"):
                out[f"roberta.encoder.layer.{i}.{ours}.{kind}"] = fairseq_state[f"{src}layers.{i}.{theirs}.{kind}"]
    return {k: v.detach().clone().contiguous() for k, v in out.items()}
