"""``xlmk-export-hf CHECKPOINT DATA OUT_DIR``: a fairseq checkpoint (this plugin's or fairseq's
own ``masked_lm``) -> a Hugging Face ``XLMRobertaForMaskedLM`` directory, verified.

The export is written to ``OUT_DIR.partial`` and renamed only after the Hugging Face model,
loaded back from disk with its tokenizer, gave the fairseq model's token ids and logits on
multilingual sentences and on lines of the data's own text: a directory at OUT_DIR is always a
verified export.
"""

import argparse
import json
import logging
import os
import shutil
import sys

from ..errors import ConfigError
from ..hub import SPM_FILE, load_fairseq_hub
from .data_text import MAX_TOKENS, sample_data_text
from .knowledge_heads_file import RELATIONS_FILE, save_knowledge_heads
from .weights import hf_config, hf_state_dict

# One sentence per language of the paper's MLQA set (plus a mask-free check of scripts).
VERIFY_SENTENCES = [
    "Berlin is the capital and largest city of Germany.",
    "Madrid es la capital de España y su ciudad más poblada.",
    "Die Donau fließt durch Wien, Bratislava und Budapest.",
    "القاهرة هي عاصمة مصر وأكبر مدنها.",
    "नई दिल्ली भारत की राजधानी है।",
    "Hà Nội là thủ đô của Việt Nam.",
    "北京是中华人民共和国的首都。",
]
TOLERANCE = 1e-4
# training state that a Hugging Face model has no place for, and that inference does not need
TRAINING_STATE = {"momentum.": "the momentum key encoder", "mep_queue.": "the MEP key queue",
                  "oe_queue.": "the OE key queue"}


def export(checkpoint, data, out_dir, verify=True, sentences=VERIFY_SENTENCES, overwrite=False):
    if os.path.exists(out_dir) and not overwrite:
        raise ConfigError(f"{out_dir} exists; pass --overwrite to replace it")
    hub = load_fairseq_hub(checkpoint, data)
    args, state = hub.model.args, hub.model.state_dict()
    vocab_size = len(hub.task.source_dictionary)
    if state["encoder.sentence_encoder.embed_tokens.weight"].size(0) != vocab_size:
        raise ConfigError(f"{checkpoint} has {state['encoder.sentence_encoder.embed_tokens.weight'].size(0)} "
                          f"embeddings but {data}/dict.txt gives {vocab_size} symbols: wrong DATA directory?")
    refuse_user_defined_symbols(os.path.join(data, SPM_FILE))
    data_text = sample_data_text(hub, data, min(MAX_TOKENS, hub.model.max_positions() - 2)) if verify else []
    tmp = out_dir.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        _write(hub, args, state, vocab_size, data, tmp)
        report = verify_export(hub, tmp, sentences, data_text) if verify else {"verified": False}
        report["left_out"] = [what for prefix, what in TRAINING_STATE.items()
                              if any(key.startswith(prefix) for key in state)]
        with open(os.path.join(tmp, "xlmk_export.json"), "w", encoding="utf-8") as f:
            json.dump({"checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data), **report}, f, indent=2)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _write(hub, args, state, vocab_size, data, out):
    from transformers import AutoTokenizer, XLMRobertaForMaskedLM

    config = hf_config(args, vocab_size)
    model = XLMRobertaForMaskedLM(config)
    missing, unexpected = model.load_state_dict(hf_state_dict(state, config.num_hidden_layers), strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ConfigError(f"weight conversion incomplete: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out)
    shutil.copy(os.path.join(data, SPM_FILE), os.path.join(out, SPM_FILE))
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": args.max_positions,
                   "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}, f, indent=2)
    # tokenizer.json as well, so that loading needs no sentencepiece -> tokenizers conversion
    AutoTokenizer.from_pretrained(out).save_pretrained(out)
    if hasattr(hub.model, "knowledge_heads"):
        save_knowledge_heads(state, args.encoder_embed_dim, args.knowledge_proj_dim,
                             args.num_relations, out)
        if os.path.isfile(os.path.join(data, RELATIONS_FILE)):
            shutil.copy(os.path.join(data, RELATIONS_FILE), os.path.join(out, RELATIONS_FILE))


def refuse_user_defined_symbols(spm_path):
    """Hugging Face's XLM-R tokenizer splits user-defined sentencepiece symbols out of the text as
    added tokens and drops the "▁" piece that sentencepiece emits before them, so its ids would
    differ from fairseq's on any text that holds one (docs/hf-export.md)."""
    from sentencepiece import sentencepiece_model_pb2

    with open(spm_path, "rb") as f:
        proto = sentencepiece_model_pb2.ModelProto.FromString(f.read())
    symbols = [p.piece for p in proto.pieces if p.type == p.USER_DEFINED]
    if symbols:
        raise ConfigError(
            f"{spm_path} has {len(symbols)} user-defined symbol(s) ({' '.join(symbols[:5])}): not convertible, "
            f"Hugging Face's tokenizer splits them out as added tokens and drops the \"▁\" sentencepiece "
            f"emits before them, so its token ids would differ from fairseq's")


def verify_export(hub, export_dir, sentences, data_text=()):
    """Reload the export from disk and compare token ids and logits with the fairseq model, on
    ``sentences`` and on ``data_text``, (where, text) pairs of the data's own text."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    model = AutoModelForMaskedLM.from_pretrained(export_dir).eval()
    texts = [("", s) for s in sentences] + [(f" ({w} of the data)", t) for w, t in data_text]
    worst = compare_with_fairseq(hub, tokenizer, lambda ids: model(input_ids=ids).logits, texts, "export")
    return {"verified": True, "sentences": len(sentences), "data_sentences": len(data_text),
            "max_abs_logit_diff": worst}


def compare_with_fairseq(hub, tokenizer, hf_forward, texts, what, fairseq_forward=None, output="logits"):
    """Token ids of ``tokenizer`` and outputs of ``hf_forward`` against fairseq's hub interface
    (``fairseq_forward``; default: its logits) on ``texts``, (where, text) pairs; the largest
    difference, or a ConfigError "``what`` verification failed" above TOLERANCE."""
    import torch

    fairseq_forward = fairseq_forward or (lambda ids: hub.model(ids)[0])
    worst = 0.0
    for where, sentence in texts:
        ours = hub.encode(sentence)
        if len(ours) > hub.model.max_positions():
            raise ConfigError(f"cannot verify on {sentence!r}{where}: {len(ours)} tokens, more than the "
                              f"model's {hub.model.max_positions()} positions")
        theirs = tokenizer(sentence, return_tensors="pt")["input_ids"][0]
        if ours.tolist() != theirs.tolist():
            raise ConfigError(f"{what} verification failed: token ids differ on {sentence!r}{where}: "
                              f"fairseq {ours.tolist()} vs Hugging Face {theirs.tolist()}")
        with torch.no_grad():
            expected = fairseq_forward(ours.unsqueeze(0))
            got = hf_forward(theirs.unsqueeze(0))
        worst = max(worst, (expected - got).abs().max().item())
        if worst > TOLERANCE:
            raise ConfigError(f"{what} verification failed: {output} differ by {worst:.2e} (> {TOLERANCE}) "
                              f"on {sentence!r}{where}")
    return worst


def read_sentences(path):
    """The non-empty lines of a --sentences file."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file")
    with open(path, encoding="utf-8") as f:
        return [s.strip() for s in f if s.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="xlmk-export-hf", description=__doc__.split("\n\n")[0],
        epilog="The export holds model.safetensors, config.json, sentencepiece.bpe.model, tokenizer files, "
               "and (for XLM-K checkpoints) xlmk_knowledge_heads.safetensors + relations.tsv.")
    parser.add_argument("checkpoint", help="fairseq checkpoint (.pt)")
    parser.add_argument("data", help="data directory with the dict.txt and sentencepiece.bpe.model of the checkpoint")
    parser.add_argument("out_dir", help="Hugging Face model directory to write")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip the token-id and logit comparison (default: verify, fail above 1e-4)")
    parser.add_argument("--sentences", help="file with one sentence per line to verify on (default: 7 built-in, one "
                                            "per MLQA language); lines of DATA's mlm/*/valid text are verified on too")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        sentences = read_sentences(args.sentences) if args.sentences else VERIFY_SENTENCES
        report = export(args.checkpoint, args.data, args.out_dir, args.verify, sentences, args.overwrite)
    except ImportError as e:
        print(f"xlmk-export-hf: error: {e}; install the Hugging Face extra: pip install -e '.[hf]'", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(str(e).replace("xlmk_fairseq:", "xlmk-export-hf:", 1), file=sys.stderr)
        return 1
    if report["verified"]:
        data_text = (f"{report['data_sentences']} lines of the data's mlm/*/valid text" if report["data_sentences"]
                     else "no data text: DATA has no mlm/*/valid text")
        print(f"exported {args.checkpoint} -> {args.out_dir} (verified on {report['sentences']} sentences and "
              f"{data_text}, max |logit diff| {report['max_abs_logit_diff']:.1e})")
    else:
        print(f"exported {args.checkpoint} -> {args.out_dir} (not verified)")
    if report["left_out"]:
        print(f"left out (training state, not part of the model): {', '.join(report['left_out'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
