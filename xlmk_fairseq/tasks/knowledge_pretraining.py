"""The ``knowledge_pretraining`` task: multilingual MLM + Masked Entity Prediction +
Object Entailment (XLM-K, Jiang et al. 2022) and link prediction on code-switched triples
(knowledge-injected multilingual QA, section III), one sub-batch of each per step."""

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from fairseq.data import (
    ConcatDataset,
    Dictionary,
    MaskTokensDataset,
    NestedDictionaryDataset,
    PrependTokenDataset,
    ResamplingDataset,
    RightPadDataset,
    TokenBlockDataset,
)
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.distributed import utils as distributed_utils
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II, MISSING

from ..data.description_dataset import DescriptionDataset
from ..data.entity_descriptions import EntityDescriptions
from ..data.knowledge_dir import KnowledgeDir
from ..data.link_prediction_dataset import LinkPredictionDataset, separator_tokens
from ..data.masked_entity_dataset import MaskedEntityDataset
from ..data.object_entailment_dataset import ObjectEntailmentDataset
from ..data.xlmk_batch_dataset import XLMKBatchDataset
from ..errors import ConfigError

logger = logging.getLogger(__name__)

KNOWLEDGE_TASKS = ("mep", "oe", "lp")


@dataclass
class KnowledgePretrainingConfig(FairseqDataclass):
    data: str = field(default=MISSING, metadata={"help": "knowledge data directory (docs/data-format.md)"})
    langs: str = field(default="", metadata={"help": "comma-separated languages for MLM and MEP sentences (default: all in manifest.json); descriptions come from every language"})
    knowledge_tasks: str = field(default="mep,oe", metadata={"help": "knowledge losses besides MLM: a comma-separated subset of mep (Masked Entity Prediction), oe (Object Entailment), lp (link prediction on verbalised triples), or 'none'; XLM-K: 'mep,oe'"})
    mep_description_language: ChoiceEnum(["cross", "same"]) = field(default="cross", metadata={"help": "MEP positive description in another language than the sentence (paper) or in the same ('w/o multilingual description')"})
    oe_loss: ChoiceEnum(["contrastive", "classification"]) = field(default="contrastive", metadata={"help": "OE as in the paper, or relation classification from [subject; object] ('OE w/o contrastive loss')"})
    description_mlm: bool = field(default=False, metadata={"help": "add MLM on the description text ('w/o knowledge tasks' with --knowledge-tasks none)"})
    tokens_per_sample: int = field(default=512, metadata={"help": "MLM block length, incl. <s> (paper: 512)"})
    knowledge_tokens_per_sample: int = field(default=256, metadata={"help": "max length of MEP sentences and descriptions, incl. <s> and </s> (paper: 256)"})
    multilang_sampling_alpha: float = field(default=0.3, metadata={"help": "language sampling p_i ~ n_i^alpha for MLM and MEP (XLM-R: 0.3)"})
    sample_break_mode: ChoiceEnum(["none", "complete", "complete_doc", "eos"]) = field(default="complete", metadata={"help": "how MLM blocks are cut (fairseq's TokenBlockDataset)"})
    mask_prob: float = field(default=0.15, metadata={"help": "MLM: probability of masking a token"})
    leave_unmasked_prob: float = field(default=0.1, metadata={"help": "MLM: probability that a masked token is left unchanged"})
    random_token_prob: float = field(default=0.1, metadata={"help": "MLM: probability that a masked token is replaced by a random one"})
    key_encoder: ChoiceEnum(["shared", "momentum"]) = field(default="shared", metadata={"help": "the keys that fill the queues (MEP descriptions, OE objects) from the trained encoder and key heads, as in the paper ('shared'), or from a momentum copy of them, as in MoCo ('momentum': once the queue is in use, the loss adds MoCo's term, the query against the copy's keys of the batch and the queue, to the in-batch term; docs/design.md)"})
    key_momentum: float = field(default=0.999, metadata={"help": "with --key-encoder momentum: after every optimizer step, momentum = m * momentum + (1 - m) * online (MoCo: 0.999)"})
    lp_kind_probs: str = field(default="1,1,1", metadata={"help": "link prediction: relative frequencies of the three kinds of example: one language, one end in another language, the triple in two languages"})
    lp_tokens_per_sample: int = field(default=128, metadata={"help": "link prediction: max length of a verbalised triple, incl. <s> and </s> (labels are cut to fit)"})
    knowledge_buckets: int = field(default=4, metadata={"help": "at most this many length buckets for the knowledge sequences of a batch (a bucket is cut only where it saves >= 2%% of the tokens in padding)"})
    seed: int = II("common.seed")


@register_task("knowledge_pretraining", dataclass=KnowledgePretrainingConfig)
class KnowledgePretrainingTask(FairseqTask):
    cfg: KnowledgePretrainingConfig

    def __init__(self, cfg, dictionary, kdir):
        super().__init__(cfg)
        self.dictionary = dictionary
        self.mask_idx = dictionary.add_symbol("<mask>")
        self.kdir = kdir
        self.langs = kdir.select_languages(cfg.langs)
        self.knowledge_tasks = parse_knowledge_tasks(cfg.knowledge_tasks)
        if not 0.0 <= cfg.key_momentum < 1.0:
            raise ConfigError(f"--key-momentum {cfg.key_momentum}: use a value in [0, 1), e.g. 0.999")
        self.num_relations = kdir.num_relations()
        self._descriptions = None
        self._momentum = cfg.key_momentum

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        kdir = KnowledgeDir(cfg.data)
        dictionary = Dictionary.load(kdir.path("dict.txt"))
        kdir.check_dictionary(dictionary)
        logger.info("dictionary: %d types; languages: %s", len(dictionary), ", ".join(kdir.languages))
        return cls(cfg, dictionary, kdir)

    @property
    def descriptions(self):
        if self._descriptions is None:
            d = self.dictionary
            self._descriptions = EntityDescriptions(
                self.kdir, d.bos(), d.eos(), len(d), self.cfg.knowledge_tokens_per_sample
            )
        return self._descriptions

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        train = split == "train"
        datasets = OrderedDict()
        datasets["mlm"] = self._masked_lm(self._mlm_blocks(split, train), split)
        if "mep" in self.knowledge_tasks:
            mep = self._masked_entities(split, train)
            if mep is not None:
                datasets["mep"] = mep
        if "oe" in self.knowledge_tasks:
            triples = self.kdir.npy("oe", f"{split}.npy")
            if len(triples) == 0:
                self._empty(split, "oe/" + split + ".npy")
            else:
                datasets["oe"] = ObjectEntailmentDataset(
                    triples, self.descriptions, self.num_relations, self.cfg.seed,
                    name=f"oe/{split}.npy",
                )
        if "lp" in self.knowledge_tasks:
            triples = self.kdir.npy("oe", f"{split}.npy")
            if len(triples) == 0:
                self._empty(split, "oe/" + split + ".npy")
            elif (lp := self._link_prediction(triples, split)) is not None:
                datasets["lp"] = lp
        if self.cfg.description_mlm:
            datasets["desc_mlm"] = self._masked_lm(DescriptionDataset(self.descriptions), split)
        self.datasets[split] = XLMKBatchDataset(
            datasets, self.dictionary.pad(), seed=self.cfg.seed,
            num_buckets=self.cfg.knowledge_buckets,
            separate_keys=self.cfg.key_encoder == "momentum",
        )
        logger.info("%s: %s", split, ", ".join(f"{k} {len(v)}" for k, v in datasets.items()))

    def _link_prediction(self, triples, split):
        """The training triples (valid: the held-out ones), written with the labels of the
        --langs languages; a data directory without labels/ stops here, saying how to make them."""
        entity_labels, relation_labels = self.kdir.labels(self.langs, len(self.dictionary))
        try:
            kind_probs = [float(x) for x in self.cfg.lp_kind_probs.split(",")]
        except ValueError:
            raise ConfigError(f"--lp-kind-probs {self.cfg.lp_kind_probs!r}: use three numbers, e.g. 1,1,1") from None
        lp = LinkPredictionDataset(
            triples, entity_labels, relation_labels, self.dictionary, self.mask_idx,
            separator_tokens(self.kdir.root, self.dictionary), kind_probs,
            self.cfg.lp_tokens_per_sample, self.cfg.seed, name=f"lp ({self.kdir.path('oe', split + '.npy')})",
        )
        if lp.num_skipped:
            logger.warning("lp/%s: %d of %d triples have no language with all three labels; left out",
                           split, lp.num_skipped, len(triples))
        if len(lp) == 0:
            self._empty(split, f"oe/{split}.npy (with labels in {', '.join(self.langs)})")
            return None
        return lp

    def _empty(self, split, what):
        if split == "train":
            raise ConfigError(f"{self.kdir.path(what)} holds no examples")
        logger.warning("%s holds no examples; not evaluated on %s", what, split)

    def _mlm_blocks(self, split, train):
        per_lang = []
        for lang in self.langs:
            tokens = self.kdir.indexed("mlm", lang, split)
            self.kdir.check_token_ids(tokens, self.kdir.path("mlm", lang, f"{split}.bin"), len(self.dictionary))
            if len(tokens) == 0:
                continue
            blocks = TokenBlockDataset(
                tokens, tokens.sizes, self.cfg.tokens_per_sample - 1,  # one less for <s>
                pad=self.dictionary.pad(), eos=self.dictionary.eos(),
                break_mode=self.cfg.sample_break_mode,
            )
            per_lang.append(PrependTokenDataset(blocks, self.dictionary.bos()))
        if not per_lang:
            raise ConfigError(f"mlm/*/{split} holds no text for languages {', '.join(self.langs)}")
        return self._sample_languages(per_lang, train)

    def _masked_entities(self, split, train):
        per_lang = []
        for lang in self.langs:
            sentences = self.kdir.indexed("mep", lang, split)
            self.kdir.check_token_ids(sentences, self.kdir.path("mep", lang, f"{split}.bin"), len(self.dictionary))
            mentions = self.kdir.indexed("mep", lang, f"{split}.mentions")
            if len(sentences) == 0:
                continue
            per_lang.append(MaskedEntityDataset(
                sentences, mentions, self.kdir.path("mep", lang, f"{split}.mentions.bin"),
                self.kdir.languages.index(lang), self.descriptions, self.dictionary,
                self.mask_idx, self.cfg.knowledge_tokens_per_sample,
                cross_lingual=self.cfg.mep_description_language == "cross",
                seed=self.cfg.seed, name=f"mep/{lang}/{split}",
            ))
        if not per_lang:
            self._empty(split, f"mep/*/{split}")
            return None
        return self._sample_languages(per_lang, train)

    def _sample_languages(self, per_lang, train):
        """XLM-R's language sampling: p_i ~ n_i^alpha, resampled every epoch."""
        if not train or len(per_lang) == 1:
            return ConcatDataset(per_lang) if len(per_lang) > 1 else per_lang[0]
        ratios = language_size_ratios([len(d) for d in per_lang], self.cfg.multilang_sampling_alpha)
        return ConcatDataset([
            ResamplingDataset(d, size_ratio=r, seed=self.cfg.seed, epoch=1, replace=r >= 1.0)
            for d, r in zip(per_lang, ratios)
        ])

    def _masked_lm(self, dataset, split):
        src, tgt = MaskTokensDataset.apply_mask(
            dataset, self.dictionary, pad_idx=self.dictionary.pad(), mask_idx=self.mask_idx,
            seed=self.cfg.seed, mask_prob=self.cfg.mask_prob,
            leave_unmasked_prob=self.cfg.leave_unmasked_prob,
            random_token_prob=self.cfg.random_token_prob,
        )
        return NestedDictionaryDataset(
            {
                "net_input": {"src_tokens": RightPadDataset(src, pad_idx=self.dictionary.pad())},
                "target": RightPadDataset(tgt, pad_idx=self.dictionary.pad()),
            },
            sizes=[src.sizes],
        )

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        """fairseq's step, then the queue update; a batch that runs out of memory is
        skipped here, on this worker alone, without leaving the others waiting.

        The queues take part in this step's loss graph: they are updated only after the
        backward pass (an in-place update before it breaks autograd). The update gathers
        keys from every worker, so it runs on every path. fairseq's own recovery from an
        out-of-memory error does not suffice with several workers: the skipping worker
        would join neither the key gather nor, with the same keys, fairseq's summing of
        the logging outputs, and the others would wait (NCCL) or fail (gloo).
        """
        # the momentum copy equals the online weights until the queue joins (m = 0), and
        # moves at --key-momentum from there: its averaging starts where the queue does
        self._momentum = self.cfg.key_momentum if criterion.queue_in_use(update_num) else 0.0
        skipped = True
        try:
            result = super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
            skipped = False
        except RuntimeError as e:
            if "out of memory" not in str(e) or distributed_utils.get_data_parallel_world_size() == 1:
                raise  # one worker: fairseq skips the whole update itself
            logger.warning("out of memory; skipping this batch on this worker: %s", str(e).splitlines()[0])
        finally:
            model.enqueue_pending_keys(skip=ignore_grad or skipped)
        if not skipped:
            return result
        # outside the except block, so that the traceback's tensors are freed first
        optimizer.zero_grad()  # what a partial backward left (fairseq does the same)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log = criterion.empty_logging_output()
        log["skipped_oom"] = 1
        return torch.zeros(()), 0, log

    def get_batch_iterator(self, dataset, max_tokens=None, max_sentences=None, *args, **kwargs):
        for flag, value in (("--max-tokens", max_tokens), ("--batch-size", max_sentences)):
            if value is not None and value <= 0:  # fairseq would make the whole split one batch
                raise ConfigError(f"{flag} {value}: use a positive number")
        return super().get_batch_iterator(dataset, max_tokens, max_sentences, *args, **kwargs)

    def optimizer_step(self, optimizer, model, update_num):
        # once per update (after the last of --update-freq micro-batches), on every worker
        super().optimizer_step(optimizer, model, update_num)
        model.update_momentum_encoder(self._momentum)

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        if not hasattr(model, "enqueue_pending_keys"):
            raise ConfigError("--task knowledge_pretraining needs an xlmk_* architecture (e.g. --arch xlmk_base)")
        self._check_lengths(model.max_positions())
        return model

    def _check_lengths(self, model_positions):
        """Refuse at start-up what the position table cannot hold: fairseq would otherwise
        drop every longer block and stop with "dataset is empty", or index past the table."""
        for flag, value in (("--tokens-per-sample", self.cfg.tokens_per_sample),
                            ("--knowledge-tokens-per-sample", self.cfg.knowledge_tokens_per_sample)):
            if value > model_positions:
                raise ConfigError(
                    f"{flag} {value} exceeds the model's {model_positions} positions "
                    f"(--max-positions); use at most {model_positions}"
                )
            if value < 3:
                raise ConfigError(f"{flag} {value} is too short: <s>, one token and </s> need 3")

    def max_positions(self):
        return self.cfg.tokens_per_sample

    @property
    def source_dictionary(self):
        return self.dictionary

    @property
    def target_dictionary(self):
        return self.dictionary


def parse_knowledge_tasks(value):
    names = [x.strip() for x in value.split(",") if x.strip()]
    if names == ["none"]:
        return ()
    unknown = [x for x in names if x not in KNOWLEDGE_TASKS]
    if unknown or not names:
        raise ConfigError(
            f"--knowledge-tasks {value!r}: use a comma-separated subset of "
            f"{', '.join(KNOWLEDGE_TASKS)}, or 'none'"
        )
    return tuple(x for x in KNOWLEDGE_TASKS if x in names)


def language_size_ratios(sizes, alpha):
    """Per-language resampling ratios so that language i is drawn with p_i ~ n_i^alpha
    (n_i its share of examples) while the epoch keeps its total size."""
    sizes = np.asarray(sizes, dtype=np.float64)
    p = sizes / sizes.sum()
    q = p ** alpha
    q /= q.sum()
    return q * sizes.sum() / sizes
