"""Tiny random Hugging Face XLM-R directories, built with transformers (nothing downloaded),
for the import tests and the recipe's import path."""

import os
import shutil

import torch

# xlmk_tiny's shape, with XLM-R's 512 + 2 positions
TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4,
            max_position_embeddings=514)


def write_hf_dir(out, spm_model, model_class="XLMRobertaForMaskedLM", tokenizer_files=True, seed=0, **config):
    """A ``model_class`` directory on ``spm_model``'s vocabulary (XLM-R's layout: pieces + <pad>,
    <mask>), random weights; with ``tokenizer_files``, also tokenizer.json and tokenizer_config.json
    as transformers saves them. Returns ``out``."""
    import sentencepiece as spm
    import transformers

    pieces = spm.SentencePieceProcessor(model_file=str(spm_model)).get_piece_size()
    settings = {**TINY, "vocab_size": pieces + 2, "layer_norm_eps": 1e-5, "type_vocab_size": 1, **config}
    torch.manual_seed(seed)
    getattr(transformers, model_class)(transformers.XLMRobertaConfig(**settings)).save_pretrained(out)
    shutil.copy(spm_model, os.path.join(out, "sentencepiece.bpe.model"))
    if tokenizer_files:
        transformers.XLMRobertaTokenizer.from_pretrained(out).save_pretrained(out)
    return out
