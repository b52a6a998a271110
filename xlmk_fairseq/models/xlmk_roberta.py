"""XLM-K: RoBERTa/XLM-R with the knowledge heads and key queues of XLM-K.

Parameter names of the encoder are RoBERTa's (``encoder.sentence_encoder.*``,
``encoder.lm_head.*``), so XLM-R checkpoints restore into this model; the knowledge heads
(``knowledge_heads.*``) and the queues (``mep_queue.*``, ``oe_queue.*``) are the only
additions, and ``upgrade_state_dict_named`` fills exactly those when a checkpoint lacks them.
"""

import logging

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.models.roberta import RobertaEncoder, RobertaModel
from fairseq.models.roberta.hub_interface import RobertaHubInterface
from fairseq.models.roberta.model import base_architecture, roberta_large_architecture
from fairseq.modules.transformer_sentence_encoder import init_bert_params
from fairseq.utils import safe_getattr

from ..data.xlmk_batch_dataset import MASKED_LM_KEYS
from ..errors import ConfigError
from .key_queue import KeyQueue
from .knowledge_heads import KnowledgeHeads, heads_to_build
from .momentum_encoder import MomentumKeyEncoder

logger = logging.getLogger(__name__)

ADDED_PREFIXES = ("knowledge_heads.", "mep_queue.", "oe_queue.", "momentum.")
# what the momentum key encoder follows (and starts as a copy of): the key side
MOMENTUM_SOURCES = {
    "sentence_encoder": "encoder.sentence_encoder",
    "heads.mep": "knowledge_heads.mep_key",
    "heads.oe": "knowledge_heads.oe_key",
}


@register_model("xlmk_roberta")
class XLMKRobertaModel(RobertaModel):
    @classmethod
    def hub_models(cls):
        return {}  # no downloads: point from_pretrained at a local directory

    def __init__(self, args, encoder, num_relations,
                 heads=("mep_query", "mep_key", "oe_query", "oe_key"), momentum_tasks=()):
        super().__init__(args, encoder)
        dim, proj = args.encoder_embed_dim, args.knowledge_proj_dim
        self.knowledge_heads = KnowledgeHeads(dim, proj, num_relations, heads)
        self.knowledge_heads.apply(init_bert_params)
        # momentum_tasks: the contrastive tasks whose queue a momentum key encoder fills
        self.momentum = MomentumKeyEncoder(encoder.sentence_encoder, {
            task: getattr(self.knowledge_heads, task + "_key") for task in momentum_tasks
        }) if momentum_tasks else None
        self.mep_queue = KeyQueue(args.queue_size, proj)
        self.oe_queue = KeyQueue(args.queue_size, proj)
        self._pending_keys = None
        self.num_updates = 0

    def set_num_updates(self, num_updates):
        self.num_updates = num_updates
        super().set_num_updates(num_updates)

    @staticmethod
    def add_args(parser):
        RobertaModel.add_args(parser)
        parser.add_argument("--knowledge-proj-dim", type=int, metavar="D",
                            help="width of the MEP/OE projection heads (paper: 768)")
        parser.add_argument("--queue-size", type=int, metavar="N",
                            help="keys kept per queue as extra negatives (paper: 32k)")
        parser.add_argument("--num-relations", type=int, metavar="R",
                            help="rows of the relation table (default: from the data)")

    @classmethod
    def build_model(cls, args, task):
        xlmk_base_architecture(args)
        if safe_getattr(args, "num_relations", None) is None:
            args.num_relations = task.num_relations
        elif args.num_relations < task.num_relations:
            raise ConfigError(
                f"the data has {task.num_relations} relations but --num-relations is "
                f"{args.num_relations}"
            )
        encoder = RobertaEncoder(args, task.source_dictionary)
        oe_loss = getattr(task.cfg, "oe_loss", "contrastive")
        key_encoder = getattr(task.cfg, "key_encoder", "shared")
        heads = heads_to_build(task.knowledge_tasks, oe_loss)
        momentum_tasks = [t for t in ("mep", "oe") if t + "_key" in heads] if key_encoder == "momentum" else []
        return cls(args, encoder, args.num_relations, heads, momentum_tasks)

    @classmethod
    def from_pretrained(cls, model_name_or_path, checkpoint_file="model.pt",
                        data_name_or_path=".", bpe="sentencepiece", **kwargs):
        from fairseq import hub_utils

        x = hub_utils.from_pretrained(
            model_name_or_path, checkpoint_file, data_name_or_path,
            archive_map=cls.hub_models(), bpe=bpe, load_checkpoint_heads=True, **kwargs,
        )
        return RobertaHubInterface(x["args"], x["task"], x["models"][0])

    def forward(self, src_tokens=None, features_only=False, return_all_hiddens=False,
                classification_head_name=None, xlmk_batch=None, oe_classification=False,
                **kwargs):
        # One forward call per step for the whole XLM-K batch, so that every DDP backend
        # (which hooks only forward) sees a single forward before the backward.
        if xlmk_batch is not None:
            return self.forward_xlmk(xlmk_batch, oe_classification)
        return super().forward(src_tokens, features_only, return_all_hiddens,
                               classification_head_name, **kwargs)

    def forward_xlmk(self, batch, oe_classification=False):
        """Encode an XLM-K batch; return MLM logits and the knowledge queries/keys."""
        out = {}
        pad = self.encoder.dictionary.pad()
        for name in MASKED_LM_KEYS:
            if name in batch:
                sub = batch[name]
                masked = sub["target"].ne(pad)
                out[name + "_logits"] = self.encoder(
                    sub["net_input"]["src_tokens"], masked_tokens=masked
                )[0]
        if "knowledge" in batch:
            out.update(self._forward_knowledge(batch["knowledge"], oe_classification))
        if self.training:
            # the keys to enqueue: the momentum copy's, or the online keys, detached
            self._pending_keys = {
                task: ((out.get(task + "_momentum_key") if self.momentum else out[task + "_key"].detach()),
                       batch["knowledge"][task + "_entities"])
                if task + "_key" in out else None for task in ("mep", "oe")
            }
        return out

    def _forward_knowledge(self, k, oe_classification):
        # Each knowledge sequence contributes one vector: the final hidden state at its
        # "pick" position (the mention's first token, or <s> of a description). Sequences
        # arrive in length buckets to limit padding; "order" restores the role order
        # [mep sentences, mep descriptions, oe subjects, oe objects].
        picked = [_pick(self.encoder.extract_features(tokens)[0], positions)
                  for tokens, positions in k["buckets"]]
        vectors = torch.cat(picked)[k["order"]]
        m, o = k["num_mep"], k["num_oe"]
        heads = self.knowledge_heads
        out = {}
        if m:
            out["mep_query"] = heads.mep_query(vectors[:m])
            out["mep_key"] = heads.mep_key(vectors[m : 2 * m])
        if o:
            subjects, objects = vectors[2 * m : 2 * m + o], vectors[2 * m + o : 2 * m + 2 * o]
            if oe_classification:
                out["oe_relation_logits"] = heads.relation_classifier(
                    torch.cat([subjects, objects], dim=-1)
                )
            else:
                relations = heads.relation_embeddings(k["relations"])
                out["oe_query"] = heads.oe_query(subjects + relations)
                out["oe_key"] = heads.oe_key(objects)
        if self.momentum is not None:
            out.update(self._momentum_keys(k, [t for t in ("mep", "oe") if t + "_key" in out]))
        return out

    @torch.no_grad()
    def _momentum_keys(self, k, tasks):
        """``mep_momentum_key``, ``oe_momentum_key``: the momentum key encoder's keys of the
        batch's key sequences (MEP descriptions, OE objects; the last k["key_buckets"]
        buckets hold only those), the keys of MoCo's loss term and of the queue."""
        first_key_bucket = len(k["buckets"]) - k["key_buckets"]
        picked = [
            _pick(self.momentum.features(tokens, self._compute_dtype()), positions).float()
            if i >= first_key_bucket else
            tokens.new_zeros((tokens.size(0), self.args.encoder_embed_dim), dtype=torch.float)
            for i, (tokens, positions) in enumerate(k["buckets"])
        ]
        vectors = torch.cat(picked)[k["order"]]
        m, o = k["num_mep"], k["num_oe"]
        rows = {"mep": vectors[m : 2 * m], "oe": vectors[2 * m + o : 2 * m + 2 * o]}
        return {t + "_momentum_key": self.momentum.keys(t, rows[t]) for t in tasks}

    def _compute_dtype(self):
        """The momentum copy computes in the online model's precision (fp16 under --fp16)."""
        return self.encoder.sentence_encoder.embed_tokens.weight.dtype

    @torch.no_grad()
    def update_momentum_encoder(self, momentum):
        """After an optimizer step: momentum = m * momentum + (1 - m) * online (MoCo)."""
        if self.momentum is not None:
            self.momentum.update({name: self.get_submodule(source) for name, source in
                                  self._momentum_sources().items()}, momentum)

    def _momentum_sources(self):
        """{momentum submodule: online module it follows} for the copies this model has."""
        present = {"sentence_encoder", *(f"heads.{task}" for task in self.momentum.heads)}
        return {name: source for name, source in MOMENTUM_SOURCES.items() if name in present}

    @torch.no_grad()
    def enqueue_pending_keys(self, skip: bool = False):
        """Push the keys of the last training forward into the queues (after backward).

        Called on every worker at every training step; ``skip`` (a dummy batch) still joins
        the collective, with zero keys, so that no worker waits for another.
        """
        pending = self._pending_keys or {}
        self._pending_keys = None
        for name, queue in (("mep", self.mep_queue), ("oe", self.oe_queue)):
            keys, entities = pending.get(name) or (None, None)
            if keys is None or skip:
                keys = queue.keys.new_zeros((0, queue.keys.size(1)))
                entities = queue.entities.new_zeros((0,))
            queue.enqueue(keys, entities)

    def upgrade_state_dict_named(self, state_dict, name):
        prefix = name + "." if name != "" else ""
        # fairseq's upgrade of every submodule (inside super) writes a "version" entry for
        # the momentum copy's encoder when the checkpoint has none: decide before it runs
        has_momentum = any(k.startswith(prefix + "momentum.") for k in state_dict)
        super().upgrade_state_dict_named(state_dict, name)
        own = self.state_dict()
        self._reset_empty_queues_of_another_size(state_dict, prefix, own)
        filled, copied = [], []
        for key, value in own.items():
            if not key.startswith(ADDED_PREFIXES):
                continue
            full = prefix + key
            if key.startswith("momentum.") and not has_momentum:
                copied.append(key)  # after the heads: its sources must be complete first
            elif full in state_dict:
                if state_dict[full].shape != value.shape:
                    raise ConfigError(_shape_mismatch_message(key, state_dict[full].shape, value.shape))
            else:
                state_dict[full] = value.clone()
                filled.append(key)
        for key in copied:
            state_dict[prefix + key] = state_dict[prefix + _momentum_source(key)].float().clone()
        if filled:
            logger.info(
                "checkpoint has no XLM-K knowledge heads/queues; initialised %d tensors "
                "freshly: %s", len(filled), ", ".join(sorted({_head_name(k) for k in filled})),
            )
        if copied:
            logger.info("momentum key encoder initialised as a copy of the restored encoder "
                        "and query heads (%d tensors)", len(copied))
        unused = [k for k in state_dict if k.startswith((prefix + "knowledge_heads.", prefix + "momentum."))
                  and k[len(prefix):] not in own]
        for key in unused:
            del state_dict[key]
        if unused:
            logger.warning(
                "checkpoint holds knowledge heads or a momentum key encoder that this "
                "configuration does not use; left out: %s",
                ", ".join(sorted({_head_name(k[len(prefix):]) for k in unused})),
            )

    @staticmethod
    def _reset_empty_queues_of_another_size(state_dict, prefix, own):
        """A queue that never held a key (an MLM-only run, say) carries nothing worth
        keeping: drop it, so that the next stage may choose its own --queue-size."""
        for queue in ("mep_queue", "oe_queue"):
            keys, count = f"{prefix}{queue}.keys", f"{prefix}{queue}.num_enqueued"
            if (keys in state_dict and state_dict[keys].shape != own[f"{queue}.keys"].shape
                    and int(state_dict.get(count, 0)) == 0):
                for name in ("keys", "entities", "ptr", "num_enqueued"):
                    state_dict.pop(f"{prefix}{queue}.{name}", None)


def _pick(features, positions):
    """features[i, positions[i]] for every row i: one vector per sequence."""
    return features[torch.arange(features.size(0), device=features.device), positions]


def _momentum_source(key):
    """'momentum.heads.mep.dense.weight' -> 'knowledge_heads.mep_query.dense.weight'."""
    for name, source in MOMENTUM_SOURCES.items():
        if key.startswith(f"momentum.{name}."):
            return source + key[len(f"momentum.{name}"):]
    raise KeyError(key)


def _head_name(key):
    """'knowledge_heads.mep_key.dense.weight' -> 'knowledge_heads.mep_key'."""
    parts = key.split(".")
    return ".".join(parts[:2]) if parts[0] == "knowledge_heads" else parts[0]


def _shape_mismatch_message(key, ckpt_shape, model_shape):
    if key == "knowledge_heads.relation_embeddings.weight":
        return (
            f"the data's relation vocabulary needs {model_shape[0]} rows but the checkpoint's "
            f"relation table has {ckpt_shape[0]}; restore with data whose relations.tsv has "
            f"the same relations as the checkpoint's data"
        )
    if key.endswith(".keys") or key.endswith(".entities"):
        return (
            f"checkpoint queue {key} has shape {tuple(ckpt_shape)} and holds keys, but the "
            f"model's is {tuple(model_shape)}; use the checkpoint's --queue-size and "
            f"--knowledge-proj-dim"
        )
    return f"checkpoint tensor {key} has shape {tuple(ckpt_shape)}, model {tuple(model_shape)}"


def _knowledge_defaults(args, proj_dim):
    args.knowledge_proj_dim = safe_getattr(args, "knowledge_proj_dim", proj_dim)
    args.queue_size = safe_getattr(args, "queue_size", 32768)
    args.max_positions = safe_getattr(args, "max_positions", 512)


@register_model_architecture("xlmk_roberta", "xlmk_base")
def xlmk_base_architecture(args):
    """XLM-R base: 12 layers, 768 hidden, 12 heads, 512 (+2) learned positions."""
    _knowledge_defaults(args, 768)
    base_architecture(args)


@register_model_architecture("xlmk_roberta", "xlmk_large")
def xlmk_large_architecture(args):
    """XLM-R large: 24 layers, 1024 hidden, 16 heads."""
    _knowledge_defaults(args, 1024)
    roberta_large_architecture(args)


@register_model_architecture("xlmk_roberta", "xlmk_tiny")
def xlmk_tiny_architecture(args):
    """For tests and the CPU demo: XLM-R's layout at toy size."""
    args.encoder_layers = safe_getattr(args, "encoder_layers", 2)
    args.encoder_embed_dim = safe_getattr(args, "encoder_embed_dim", 64)
    args.encoder_ffn_embed_dim = safe_getattr(args, "encoder_ffn_embed_dim", 256)
    args.encoder_attention_heads = safe_getattr(args, "encoder_attention_heads", 4)
    _knowledge_defaults(args, 64)
    base_architecture(args)
