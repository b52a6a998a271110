"""Opening the model directory, so that a wrong --model is one clear error, not a traceback."""

import os

from ..evaluation.eval_inputs import EvalInputError


def load_tokenizer(model_dir: str):
    """The fast tokenizer of a local model directory; offsets (QA) and word ids (NER) need the fast one."""
    from transformers import AutoConfig, AutoTokenizer

    if not os.path.isdir(model_dir):
        raise EvalInputError(f"{model_dir}: no such model directory")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        raise EvalInputError(f"{model_dir}: not a Hugging Face model directory (no config.json); "
                             "pass a directory written by xlmk-export-hf or an XLM-R-compatible model")
    try:
        AutoConfig.from_pretrained(model_dir, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EvalInputError(f"{model_dir}: cannot load the model's config or tokenizer ({first_line})") from None
    if not tokenizer.is_fast:
        raise EvalInputError(f"{model_dir}: needs a fast tokenizer (tokenizer.json) for offsets and word ids")
    return tokenizer


def load_model(model_class, model_dir: str, **kwargs):
    """A task head on the pre-trained encoder; the head is new, the encoder weights must load."""
    try:
        return model_class.from_pretrained(model_dir, local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EvalInputError(f"{model_dir}: cannot load the model weights ({first_line})") from None


def max_sequence_length(model_dir: str, requested: int) -> int:
    """``requested``, capped by what the position embeddings hold (XLM-R's 514 minus the padding offset)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    offset = (getattr(config, "pad_token_id", None) or 0) + 1 if config.model_type in ("xlm-roberta", "roberta") else 0
    return min(requested, config.max_position_embeddings - offset)
