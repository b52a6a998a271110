"""``xlmk-import-hf HF_DIR OUT_DIR``: a Hugging Face XLM-R-family directory -> a fairseq
checkpoint that XLM-K training restores as it restores the 2019 fairseq XLM-R release.

OUT_DIR gets ``model.pt``, ``dict.txt`` (XLM-R's layout) and ``sentencepiece.bpe.model``,
written to OUT_DIR.partial and renamed only after fairseq's hub interface on the written files
gave the Hugging Face model's token ids and logits (final hidden states for a model without an
LM head) on sentences in several scripts: a directory at OUT_DIR is always a verified import.
"""

import argparse
import json
import logging
import os
import shutil
import sys

import torch

from preprocess.tokenizer import DICT_FILE, write_dict

from ..errors import ConfigError
from ..hf_export.cli import VERIFY_SENTENCES, compare_with_fairseq, read_sentences
from ..hf_export.weights import ENCODER, LAYER_NORM_EPS, LM_HEAD, TOKEN_TYPES, fairseq_state_dict
from ..hub import SPM_FILE, load_fairseq_hub
from .checkpoint import fairseq_args, fresh_lm_head, matching_arch, release_checkpoint, shape_of
from .source import check_tokenizer, load_model, read_config

PROG = "xlmk-import-hf"
MARKER = "xlmk_import.json"  # in every directory this tool writes: the only ones it replaces
logger = logging.getLogger(__name__)


def import_hf(hf_dir, out_dir, sentences=VERIFY_SENTENCES, overwrite=False):
    """Check, convert, write to OUT_DIR.partial, verify, rename; the record (xlmk_import.json)."""
    config = read_config(hf_dir)
    sp = check_tokenizer(hf_dir, config.get("vocab_size"))
    tmp = _check_out_dir(out_dir, overwrite)
    model, has_lm_head, dropped = load_model(hf_dir)
    state, record = _convert(model, has_lm_head, dropped)
    record = {"hf_dir": os.path.abspath(hf_dir), "model_type": config["model_type"],
              "architectures": config.get("architectures"), **record}
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)  # an earlier run's, with the marker (checked above)
    os.makedirs(tmp)
    try:
        _write_json(os.path.join(tmp, MARKER), {"complete": False})
        shutil.copy(os.path.join(hf_dir, SPM_FILE), os.path.join(tmp, SPM_FILE))
        write_dict(sp, os.path.join(tmp, DICT_FILE))
        args = fairseq_args(record["shape"], model.config, os.path.abspath(out_dir), record["fairseq_arch"])
        torch.save(release_checkpoint(args, state), os.path.join(tmp, "model.pt"))
        del state  # before the hub loads the model again
        record.update(_verify(hf_dir, model, has_lm_head, tmp, sentences))
        _write_json(os.path.join(tmp, MARKER), {**record, "complete": True})
        if os.path.lexists(out_dir):
            shutil.rmtree(out_dir)  # an earlier import (checked above)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _check_out_dir(out_dir, overwrite):
    """OUT_DIR.partial; refuse to replace anything that this tool did not write."""
    if os.path.lexists(out_dir):
        if not overwrite:
            raise ConfigError(f"{out_dir} exists; pass --overwrite to replace an earlier import")
        if not os.path.isfile(os.path.join(out_dir, MARKER)):
            raise ConfigError(f"{out_dir} exists and holds no {MARKER}: not written by {PROG}, not replacing it")
    tmp = out_dir.rstrip("/") + ".partial"
    if os.path.lexists(tmp) and not os.path.isfile(os.path.join(tmp, MARKER)):
        raise ConfigError(f"{tmp} exists and holds no {MARKER}: not written by {PROG}; remove it or choose "
                          f"another OUT_DIR")
    return tmp


def _convert(model, has_lm_head, dropped):
    """fairseq's state dict of ``model`` and what the record says about the conversion."""
    config, hf_state = model.config, model.state_dict()
    state = fairseq_state_dict(hf_state, config.num_hidden_layers, lm_head=has_lm_head)
    embed = state[ENCODER + "embed_tokens.weight"]
    if has_lm_head:
        if not torch.equal(state[LM_HEAD + "weight"], embed):
            raise ConfigError("cannot import: the LM head's decoder is not tied to the input embeddings "
                              "(tie_word_embeddings false); XLM-K's architectures tie them, so training would "
                              "keep only one of the two")
        state[LM_HEAD + "weight"] = embed  # one tensor, as fairseq ties them
        lm_head = "imported"
    else:
        state.update(fresh_lm_head(embed))
        lm_head = ("new: the directory has none (an XLMRobertaModel); dense and layer_norm initialised as "
                   "fairseq initialises RoBERTa (seed 0), bias zero, decoder tied to the input embeddings")
        logger.warning("no LM head in the weights: a new one, tied to the input embeddings, with a fresh "
                       "transform layer and bias; verifying the final hidden states")
    token_type = hf_state[TOKEN_TYPES][0].abs().max().item()
    if token_type:
        logger.info("token_type_embeddings[0] (max |value| %.3g) added to every position embedding: fairseq "
                    "has no token types", token_type)
    if dropped:
        logger.info("left out (fairseq's RoBERTa has no place for them): %s", ", ".join(dropped))
    shape = shape_of(config)
    record = {
        "fairseq_arch": matching_arch(shape), "shape": shape, "vocab_size": config.vocab_size, "lm_head": lm_head,
        "token_type_embedding": f"row 0 (max |value| {token_type:.3g}) added to every row of the position "
                                f"embeddings: Hugging Face adds it at every token, fairseq has no token types",
        "dropped": dropped, "layer_norm_eps": config.layer_norm_eps,
    }
    if config.layer_norm_eps != LAYER_NORM_EPS:
        logger.warning("layer_norm_eps is %g; fairseq's RoBERTa uses %g: the verification decides whether "
                       "the difference matters", config.layer_norm_eps, LAYER_NORM_EPS)
    return state, record


def _verify(hf_dir, model, has_lm_head, tmp, sentences):
    """fairseq's hub interface on the written files against transformers on HF_DIR."""
    from transformers import XLMRobertaTokenizer

    tokenizer = XLMRobertaTokenizer.from_pretrained(hf_dir)
    hub = load_fairseq_hub(os.path.join(tmp, "model.pt"), tmp)
    texts = [("", s) for s in sentences]
    try:
        if has_lm_head:
            output = "logits"
            worst = compare_with_fairseq(hub, tokenizer, lambda ids: model(input_ids=ids).logits, texts, "import")
        else:
            output = "final hidden states"
            worst = compare_with_fairseq(hub, tokenizer, lambda ids: model.roberta(input_ids=ids).last_hidden_state,
                                         texts, "import", lambda ids: hub.model(ids, features_only=True)[0], output)
    except ConfigError as e:
        eps = model.config.layer_norm_eps
        raise ConfigError(e.message + (f" (the model's layer_norm_eps is {eps:g}, fairseq's {LAYER_NORM_EPS:g})"
                                       if eps != LAYER_NORM_EPS else "")) from None
    return {"verified": True, "sentences": len(sentences), "compared": output, "max_abs_diff": worst}


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Encode the data with the result: xlmk-preprocess spm --spm-model OUT_DIR/sentencepiece.bpe.model "
               "--dict OUT_DIR/dict.txt; train with --restore-file OUT_DIR/model.pt (docs/hf-import.md).")
    parser.add_argument("hf_dir", help="Hugging Face directory: config.json, model.safetensors or pytorch_model.bin "
                                       "(XLMRobertaForMaskedLM or XLMRobertaModel), sentencepiece.bpe.model")
    parser.add_argument("out_dir", help="directory to write: model.pt, dict.txt, sentencepiece.bpe.model, " + MARKER)
    parser.add_argument("--sentences", help="file with one sentence per line to verify on (default: 7 built-in, "
                                            "one per MLQA language)")
    parser.add_argument("--overwrite", action="store_true", help=f"replace OUT_DIR if it is an earlier import "
                                                                 f"(holds {MARKER})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)  # importing fairseq left it at DEBUG
    logger.setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # its load report on a model without LM head: we say it ourselves
        hf_logging.disable_progress_bar()
        sentences = read_sentences(args.sentences) if args.sentences else VERIFY_SENTENCES
        if not sentences:
            raise ConfigError(f"{args.sentences} has no sentence to verify on")
        record = import_hf(args.hf_dir, args.out_dir, sentences, args.overwrite)
    except ImportError as e:
        print(f"{PROG}: error: {e}; install the Hugging Face extra: pip install -e '.[hf]'", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(str(e).replace("xlmk_fairseq:", f"{PROG}:", 1), file=sys.stderr)
        return 1
    arch = f"--arch {record['fairseq_arch']}" if record["fairseq_arch"] else "no --arch of this plugin has its shape"
    head = "LM head imported" if record["lm_head"] == "imported" else "no LM head: a new one"
    print(f"imported {args.hf_dir} -> {args.out_dir} ({arch}; {head}; verified on {record['sentences']} sentences, "
          f"max |{record['compared']} diff| {record['max_abs_diff']:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
