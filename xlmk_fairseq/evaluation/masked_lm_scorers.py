"""The model backends of xlmk-probe: a fairseq checkpoint or a Hugging Face directory.

Both give the same token ids for the same text when the Hugging Face directory is an export
of the checkpoint: fairseq ids are the sentencepiece pieces looked up in dict.txt (XLM-R's
layout, id = sentencepiece id + 1), which is what XLM-R's Hugging Face tokenizer computes.
Every model runs on the CPU in eval mode without gradients.
"""

import os

import torch


class ModelLoadError(ValueError):
    """MODEL or DATA cannot be used; the message says why."""


def load_scorer(model, data=None):
    """A fairseq checkpoint file (needs ``data``) or a Hugging Face model directory."""
    if os.path.isdir(model):
        return HuggingFaceScorer(model)
    if os.path.isfile(model):
        if not data:
            raise ModelLoadError(f"{model} is a fairseq checkpoint: --data DATA must name the data "
                                 f"directory with its dict.txt and sentencepiece.bpe.model")
        return FairseqScorer(model, data)
    raise ModelLoadError(f"{model}: no such checkpoint file or model directory")


def pad_batch(sequences, pad):
    """Right-padded LongTensor [B, longest]."""
    batch = torch.full((len(sequences), max(map(len, sequences))), pad, dtype=torch.long)
    for i, tokens in enumerate(sequences):
        batch[i, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
    return batch


def _split_rows(rows, tokens, mask):
    """Rows [all masks of the batch, V] -> per sequence [its masks, V] (log-softmax)."""
    counts = tokens.eq(mask).sum(dim=1).tolist()
    return list(torch.log_softmax(rows.float(), dim=-1).split(counts))


class SentencepieceDictTokenizer:
    """Text -> fairseq ids, as RobertaHubInterface with bpe=sentencepiece tokenises:
    sentencepiece pieces, looked up in the fairseq dictionary (unknown pieces -> <unk>)."""

    def __init__(self, spm_path, dictionary):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=spm_path)
        self.dictionary = dictionary

    def __call__(self, text):
        pieces = self.sp.encode(text, out_type=str)
        return self.dictionary.encode_line(" ".join(pieces), add_if_not_exist=False, append_eos=False).long().tolist()


class FairseqScorer:
    """A checkpoint of the knowledge_pretraining task or of fairseq's masked_lm task."""

    def __init__(self, checkpoint, data):
        from ..errors import ConfigError
        from ..hub import SPM_FILE, load_fairseq_hub

        try:
            hub = load_fairseq_hub(checkpoint, data)
        except ConfigError as e:
            raise ModelLoadError(e.message) from None
        self.name = os.path.abspath(checkpoint)
        self.model = hub.model
        self.dictionary = hub.task.source_dictionary
        self.tokenize = SentencepieceDictTokenizer(os.path.join(data, SPM_FILE), self.dictionary)
        d = self.dictionary
        self.bos, self.eos, self.pad, self.mask = d.bos(), d.eos(), d.pad(), d.index("<mask>")
        if self.mask == d.unk():
            raise ModelLoadError(f"{checkpoint}: its dictionary has no <mask> symbol")
        self.special_ids = {*range(d.nspecial), self.mask}
        self.vocab_size = len(d)
        self.max_positions = self.model.max_positions()
        heads = getattr(self.model, "knowledge_heads", None)
        self.has_knowledge_heads = heads is not None and "mep_query" in heads

    @torch.no_grad()
    def mask_log_probs(self, sequences):
        tokens = pad_batch(sequences, self.pad)
        rows, _ = self.model.encoder(tokens, masked_tokens=tokens.eq(self.mask))
        return _split_rows(rows, tokens, self.mask)

    @torch.no_grad()
    def cls_features(self, sequences):
        """Final hidden state at <s> (position 0), [B, C]."""
        features, _ = self.model.encoder.extract_features(pad_batch(sequences, self.pad))
        return features[:, 0]

    @torch.no_grad()
    def mep_keys(self, cls_features):
        """The MEP key head applied to <s> states (XLM-K checkpoints only)."""
        return self.model.knowledge_heads.mep_key(cls_features)


class HuggingFaceScorer:
    """A directory with an XLMRobertaForMaskedLM (or another masked LM) and its tokenizer."""

    has_knowledge_heads = False

    def __init__(self, directory):
        if not os.path.isfile(os.path.join(directory, "config.json")):
            raise ModelLoadError(f"{directory}: not a Hugging Face model directory (no config.json)")
        try:
            from transformers import AutoModelForMaskedLM, AutoTokenizer
        except ImportError:
            raise ModelLoadError(f"{directory} is a Hugging Face model directory: install transformers "
                                 f"(pip install -e .[hf])") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(directory)
            self.model = AutoModelForMaskedLM.from_pretrained(directory).eval()
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"cannot load the Hugging Face model in {directory}: {e}") from None
        t, config = self.tokenizer, self.model.config
        if t.mask_token_id is None:
            raise ModelLoadError(f"{directory}: the tokenizer has no mask token")
        self.name = os.path.abspath(directory)
        self.bos, self.eos, self.pad, self.mask = t.cls_token_id, t.sep_token_id, t.pad_token_id, t.mask_token_id
        self.special_ids = set(t.all_special_ids)
        self.vocab_size = config.vocab_size
        # RoBERTa-style positions start after the padding index
        self.max_positions = config.max_position_embeddings - (self.pad + 1 if config.model_type in
                                                               ("roberta", "xlm-roberta") else 0)

    def tokenize(self, text):
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _inputs(self, sequences):
        tokens = pad_batch(sequences, self.pad)
        return tokens, {"input_ids": tokens, "attention_mask": tokens.ne(self.pad).long()}

    @torch.no_grad()
    def mask_log_probs(self, sequences):
        tokens, inputs = self._inputs(sequences)
        logits = self.model(**inputs).logits
        return _split_rows(logits[tokens.eq(self.mask)], tokens, self.mask)

    @torch.no_grad()
    def cls_features(self, sequences):
        _, inputs = self._inputs(sequences)
        return self.model.base_model(**inputs).last_hidden_state[:, 0]
