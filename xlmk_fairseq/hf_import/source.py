"""The Hugging Face directory to import, read and checked against what fairseq's RoBERTa can
express: refusals come before anything is loaded or written."""

import json
import os

from ..errors import ConfigError
from ..hf_export.cli import refuse_user_defined_symbols
from ..hf_export.weights import LM_HEAD_NAMES
from ..hub import SPM_FILE

MODEL_TYPES = ("xlm-roberta", "roberta")
TOKENIZER_CLASSES = (None, "XLMRobertaTokenizer", "XLMRobertaTokenizerFast")
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # Hugging Face ids 0-3; sentencepiece piece i >= 3 is id i + 1
# what transformers assumes when config.json leaves a field out
DEFAULTS = {"hidden_act": "gelu", "pad_token_id": 1, "position_embedding_type": "absolute"}


def read_config(hf_dir):
    if not os.path.isdir(hf_dir):
        raise ConfigError(f"{hf_dir}: no such directory")
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise ConfigError(f"{hf_dir}: no config.json: not a Hugging Face model directory")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON ({e})") from None
    _check_architecture(config, hf_dir)
    return config


def _check_architecture(config, hf_dir):
    """Refuse what fairseq's post-LayerNorm RoBERTa with learned absolute positions cannot
    compute. Read from config.json itself: transformers ignores fields its class lacks
    (``position_embedding_type`` in transformers 5), and would load such a model as another."""
    model_type = config.get("model_type")
    if model_type == "xlm-roberta-xl":
        problems = ["pre-LayerNorm layers (XLM-R XL/XXL, model_type xlm-roberta-xl)"]
    elif model_type not in MODEL_TYPES:
        problems = [f"model_type {model_type!r} (importable: {', '.join(MODEL_TYPES)})"]
    else:
        value = {k: config.get(k, default) for k, default in DEFAULTS.items()}
        problems = []
        if value["position_embedding_type"] != "absolute":
            problems.append(f"position_embedding_type {value['position_embedding_type']!r} (fairseq's RoBERTa "
                            f"has learned absolute positions)")
        if value["hidden_act"] != "gelu":
            problems.append(f"hidden_act {value['hidden_act']!r} (fairseq's RoBERTa: the exact gelu)")
        if value["pad_token_id"] != 1:
            problems.append(f"pad_token_id {value['pad_token_id']!r} (fairseq's positions start after padding index 1)")
        if config.get("is_decoder") or config.get("add_cross_attention"):
            problems.append("a decoder (is_decoder or add_cross_attention)")
    if problems:
        raise ConfigError(f"{hf_dir}: cannot import: fairseq's RoBERTa cannot express " + "; ".join(problems))


def check_tokenizer(hf_dir, vocab_size):
    """The sentencepiece model of ``hf_dir``, checked to give XLM-R's ids: fairseq id =
    Hugging Face id = sentencepiece id + 1, <mask> last."""
    import sentencepiece as spm

    spm_path = os.path.join(hf_dir, SPM_FILE)
    if not os.path.isfile(spm_path):
        found = [n for n in ("tokenizer.json", "tokenizer_config.json") if os.path.isfile(os.path.join(hf_dir, n))]
        raise ConfigError(
            f"{hf_dir}: no {SPM_FILE}{' (only ' + ', '.join(found) + ')' if found else ''}: fairseq tokenizes "
            f"with the sentencepiece model itself; copy in the {SPM_FILE} this model's vocabulary was built "
            f"from (XLM-R's for xlm-roberta-base/-large and models trained from them)")
    tokenizer_class = _read_json(os.path.join(hf_dir, "tokenizer_config.json")).get("tokenizer_class")
    if tokenizer_class not in TOKENIZER_CLASSES:
        raise ConfigError(f"{hf_dir}: cannot import: tokenizer_class {tokenizer_class!r}; fairseq's XLM-R "
                          f"tokenizes as XLMRobertaTokenizer (sentencepiece, XLM-R's ids)")
    try:
        sp = spm.SentencePieceProcessor(model_file=spm_path)
    except (OSError, RuntimeError) as e:
        raise ConfigError(f"{spm_path}: not a sentencepiece model ({e})") from None
    first = [sp.id_to_piece(i) for i in range(min(3, sp.get_piece_size()))]
    if first != ["<unk>", "<s>", "</s>"]:
        raise ConfigError(f"{spm_path}: the first pieces are {first}, not XLM-R's <unk>, <s>, </s>: "
                          f"its ids cannot map to fairseq's by the offset of 1")
    refuse_user_defined_symbols(spm_path)
    pieces = sp.get_piece_size()
    if vocab_size != pieces + 2:
        raise ConfigError(f"{hf_dir}: config.json's vocab_size is {vocab_size}, but {SPM_FILE} has {pieces} "
                          f"pieces, which make {pieces + 2} ids in XLM-R's layout (+ <pad>, <mask>): "
                          f"not this model's sentencepiece model")
    expected = SPECIALS + [sp.id_to_piece(i) for i in range(3, pieces)] + ["<mask>"]
    _check_tokenizer_json(os.path.join(hf_dir, "tokenizer.json"), expected)
    return sp


def _check_tokenizer_json(path, expected):
    """A tokenizer.json beside the sentencepiece model must hold the same vocabulary in the same
    order: the model's embedding rows follow tokenizer.json, fairseq's ids the sentencepiece model."""
    tokenizer = _read_json(path)
    if not tokenizer:
        return
    model = tokenizer.get("model") or {}
    if model.get("type") != "Unigram":
        raise ConfigError(f"{path}: cannot import: a {model.get('type')} tokenizer; XLM-R's is a sentencepiece "
                          f"Unigram model")
    tokens = {i: entry[0] for i, entry in enumerate(model.get("vocab") or [])}
    tokens.update({t["id"]: t["content"] for t in tokenizer.get("added_tokens") or []})
    for i in range(max(len(expected), max(tokens, default=-1) + 1)):
        want, got = (expected[i] if i < len(expected) else None), tokens.get(i)
        if got != want:
            raise ConfigError(f"{path}: the vocabulary's order does not match {SPM_FILE}: id {i} is {got!r} in "
                              f"tokenizer.json but {want!r} in XLM-R's layout of the sentencepiece model")


def _read_json(path):
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON ({e})") from None


def load_model(hf_dir):
    """(``XLMRobertaForMaskedLM`` in float32, eval mode; whether the directory has its LM head;
    the directory's tensors that the import leaves out, e.g. a pooler). .bin files are read with
    ``weights_only``."""
    import torch
    from transformers import AutoModelForMaskedLM

    try:
        model, info = AutoModelForMaskedLM.from_pretrained(hf_dir, dtype=torch.float32, weights_only=True,
                                                           output_loading_info=True)
    except Exception as e:  # no weights, a damaged file, an unsafe pickle: say which, not where it broke
        first_line = str(e).strip().split("\n")[0]
        raise ConfigError(f"{hf_dir}: transformers cannot load the weights ({type(e).__name__}: {first_line})") from None
    head = {name for name in LM_HEAD_NAMES.values() if name != "lm_head.decoder.weight"}
    missing = set(info["missing_keys"])
    absent = [k for k in sorted(missing - head) if not k.startswith("lm_head.decoder.")]  # tied to other tensors
    if absent:
        raise ConfigError(f"{hf_dir}: the weights lack {len(absent)} tensor(s) of the encoder: {', '.join(absent[:5])}")
    if missing & head and not head <= missing:
        raise ConfigError(f"{hf_dir}: the LM head is incomplete: it lacks {', '.join(sorted(missing & head))}")
    return model.eval(), not missing & head, sorted(info["unexpected_keys"])
