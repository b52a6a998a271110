"""The model side of entity linking: a fairseq checkpoint of this plugin or its Hugging Face
export, reduced to what linking needs.

- text -> token ids, and a character span -> the token span of the tokens that overlap it,
  exactly as the preprocessing maps a link's span onto the sentence's sentencepiece pieces
  (preprocess/tokenizer.py), so a query looks like a training sentence;
- the final hidden state at chosen positions, through the MEP heads: the key head on a
  description's <s>, the query head on a mention's first token (XLM-K's Eq. 1-2);
- a fingerprint of the weights those use, the same for a checkpoint and its export, so an
  index refuses a model it was not built with.

Both backends run the encoder in eval mode without gradients; the loaders are xlmk-probe's
(``masked_lm_scorers``), which give the same token ids for a checkpoint and its export.
"""

import hashlib
import os

import torch
from preprocess.tokenizer import byte_offsets

from ..evaluation.masked_lm_scorers import ModelLoadError, load_scorer, pad_batch
from ..hf_export.knowledge_heads_file import HEADS_FILE
from ..hf_export.weights import ENCODER, fairseq_state_dict, name_pairs
from .errors import LinkingError

SPM_FILE = "sentencepiece.bpe.model"
MEP_HEADS = ("mep_query", "mep_key")
NO_HEADS = ("has no XLM-K MEP heads (a masked_lm checkpoint, a Hugging Face model without "
            "xlmk_knowledge_heads.safetensors, or a run without --knowledge-tasks mep)")


def load_model(model, data=None, device="cpu"):
    """``model``: a checkpoint file (``data``: its data directory, for dict.txt and the
    sentencepiece model) or a Hugging Face directory."""
    try:
        scorer = load_scorer(model, data)
    except ModelLoadError as e:
        raise LinkingError(str(e)) from None
    except SystemExit as e:  # ConfigError from fairseq loading: its one-line message
        raise LinkingError(getattr(e, "message", str(e))) from None
    return LinkingModel(scorer, device)


class LinkingModel:
    def __init__(self, scorer, device="cpu"):
        self.scorer = scorer
        self.name = scorer.name
        self.kind = "huggingface" if os.path.isdir(scorer.name) else "fairseq"
        self.bos, self.eos, self.pad, self.mask = scorer.bos, scorer.eos, scorer.pad, scorer.mask
        self.max_positions = scorer.max_positions
        self.vocab_size = scorer.vocab_size
        self.device = torch.device(device)
        if self.kind == "fairseq":
            self.network = scorer.model
            heads = getattr(scorer.model, "knowledge_heads", None)
            self.sp = scorer.tokenize.sp
            dictionary = scorer.tokenize.dictionary
            self._piece_ids = lambda pieces: [dictionary.index(p) for p in pieces]
        else:
            self.network = scorer.model
            heads = None
            if os.path.isfile(os.path.join(scorer.name, HEADS_FILE)):
                from ..hf_export.knowledge_heads_file import load_knowledge_heads

                heads = load_knowledge_heads(scorer.name)
            spm_path = os.path.join(scorer.name, SPM_FILE)
            self.sp = _load_spm(spm_path) if os.path.isfile(spm_path) else None
            self._piece_ids = scorer.tokenizer.convert_tokens_to_ids
        self.heads = heads if heads is not None and all(h in heads for h in MEP_HEADS) else None
        self.network.to(self.device).eval()
        if self.heads is not None:
            self.heads.to(self.device).eval()

    @property
    def has_mep_heads(self):
        return self.heads is not None

    # ---- text ---------------------------------------------------------------------------------

    def tokenize(self, text):
        return self.scorer.tokenize(text)

    def tokenize_with_span(self, text, start, end):
        """(ids of ``text``, (first, end) token span of the characters [start, end)): the tokens
        that overlap the span, as the preprocessing finds a link's tokens. LinkingError when no
        token does (an empty or white-space mention)."""
        if self.sp is not None:
            proto = self.sp.encode(text, return_type="proto")
            ids = self._piece_ids([p.piece for p in proto.pieces])
            byte_at = byte_offsets(text)
            bs, be = byte_at[start], byte_at[end]
            hit = [i for i, p in enumerate(proto.pieces) if p.begin < be and p.end > bs]
        else:  # a Hugging Face directory without the sentencepiece model: the fast tokenizer's offsets
            enc = self.scorer.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = enc["input_ids"]
            hit = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a < end and b > start]
        if not hit:
            raise LinkingError(f"the mention {text[start:end]!r} has no token")
        return list(ids), (hit[0], hit[-1] + 1)

    # ---- vectors ------------------------------------------------------------------------------

    @torch.no_grad()
    def hidden(self, sequences, positions):
        """Final hidden state [B, C] (float32, on the CPU) of each sequence at its position."""
        tokens = pad_batch(sequences, self.pad).to(self.device)
        if self.kind == "fairseq":
            features, _ = self.network.encoder.extract_features(tokens)
        else:
            features = self.network.base_model(input_ids=tokens, attention_mask=tokens.ne(self.pad).long()
                                               ).last_hidden_state
        rows = torch.arange(len(sequences), device=self.device)
        return features[rows, torch.as_tensor(positions, device=self.device)].float()

    @torch.no_grad()
    def key_vectors(self, sequences, vectors="mep_key"):
        """Descriptions (<s> ... </s>) -> "mep_key": the MEP key head on <s>; "cls": <s> itself."""
        h = self.hidden(sequences, [0] * len(sequences))
        return (self.heads.mep_key(h) if vectors == "mep_key" else h).float().cpu()

    @torch.no_grad()
    def query_vectors(self, sequences, positions, vectors="mep_key"):
        """Mentions -> the MEP query head on the mention's first token (for an index of MEP keys),
        or that token's hidden state itself (for an index of <s> states)."""
        h = self.hidden(sequences, positions)
        return (self.heads.mep_query(h) if vectors == "mep_key" else h).float().cpu()

    def require_mep_heads(self, what):
        if self.heads is None:
            raise LinkingError(f"{self.name} {NO_HEADS}; {what}")

    # ---- identity -----------------------------------------------------------------------------

    def fingerprint(self):
        """sha256 over the encoder's tensors under fairseq's names and the MEP heads' tensors,
        as float32 (a checkpoint and its Hugging Face export give the same value)."""
        state = self._encoder_state()
        if self.heads is not None:
            state.update({f"knowledge_heads.{k}": v for k, v in self.heads.state_dict().items()
                          if k.split(".")[0] in MEP_HEADS})
        h = hashlib.sha256()
        for name in sorted(state):
            t = state[name].detach().float().cpu().contiguous() + 0.0  # -0.0 -> 0.0
            h.update(f"{name}\0{tuple(t.shape)}\0".encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()

    def _encoder_state(self):
        if self.kind == "fairseq":
            own = self.network.state_dict()
            layers = len(self.network.encoder.sentence_encoder.layers)
            names = [ours for ours, _ in name_pairs(layers, lm_head=False)]
            if all(n in own for n in names):
                return {n: own[n] for n in names}
            return {n: t for n, t in own.items() if n.startswith(ENCODER)}
        own = self.network.state_dict()
        try:
            return fairseq_state_dict(own, self.network.config.num_hidden_layers, lm_head=False)
        except (KeyError, AttributeError):  # not XLM-R's layout: its own names
            prefix = self.network.base_model_prefix + "."
            return {n: t for n, t in own.items() if n.startswith(prefix)}


def _load_spm(path):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=path)
