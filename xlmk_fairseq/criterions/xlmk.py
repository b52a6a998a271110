"""The XLM-K loss: L = L_MLM + w_e * L_e + w_o * L_o (Eq. 5-6 of the paper), + w_l * L_lp.

L_lp (link prediction, --knowledge-tasks lp) is the MLM head's cross-entropy over the masked
label tokens of verbalised triples, a mean per masked token, as L_MLM.

Normalisation. Eq. 6 adds three means: MLM per masked token, L_e and L_o per example.
fairseq sums the losses of all micro-batches (--update-freq) and workers and divides the
gradient by the sum of their ``sample_size``. Each micro-batch therefore returns the sum of
its three means with ``sample_size = 1``: the update then follows the average over
micro-batches and workers of the per-micro-batch Eq. 6 (a dummy batch counts 0, fairseq
zeroes its sample size and loss). The logged metrics are exact global means, computed from
sums and counts.
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass


LOG_KEYS = (
    "loss", "nsentences", "ntokens", "sample_size", "skipped_oom",
    *(f"{task}_{what}" for task in ("mlm", "desc_mlm", "lp") for what in ("loss", "tokens")),
    "lp_correct", "lp_examples", "lp_fell_back", "lp_kind1", "lp_kind2", "lp_kind3",
    *(f"{task}_{what}" for task in ("mep", "oe")
      for what in ("loss", "correct", "count", "queue_fill", "queue_reports")),
)


@dataclass
class XLMKCriterionConfig(FairseqDataclass):
    mep_weight: float = field(default=1.0, metadata={"help": "weight of L_e (Masked Entity Prediction)"})
    oe_weight: float = field(default=1.0, metadata={"help": "weight of L_o (Object Entailment)"})
    lp_weight: float = field(default=1.0, metadata={"help": "weight of the link prediction loss (--knowledge-tasks lp)"})
    normalize_keys: bool = field(default=False, metadata={"help": "L2-normalise queries and keys (cosine similarity); the paper uses the plain dot product"})
    temperature: float = field(default=1.0, metadata={"help": "divide the similarities by this (use with --normalize-keys, e.g. 0.05)"})
    queue_warmup_updates: int = field(default=0, metadata={"help": "use only in-batch negatives for this many updates before the queue's keys join (keys are enqueued from the start)"})


def contrastive_loss(query, key, entities, queue_keys=None, queue_entities=None,
                     normalize=False, temperature=1.0):
    """Eq. 5: -log exp(q.k+) / sum_k exp(q.k), summed over the batch.

    Candidates are the batch's keys (row i is the positive of query i) and the queue.
    A candidate of the positive's own entity is not a negative (an in-batch duplicate, or
    a queued key of that entity): it is masked out. Returns (loss sum, number correct).

    Scores and cross-entropy are computed in fp32 with autocast off: under --amp autocast
    would run the products in fp16, whose range (65504) plain dot products of growing
    vectors leave, and no loss scale can bring an inf score back.
    """
    with torch.autocast(device_type=query.device.type, enabled=False):
        return _contrastive_loss_fp32(query.float(), key.float(), entities, queue_keys,
                                      queue_entities, normalize, temperature)


def _contrastive_loss_fp32(q, k, entities, queue_keys, queue_entities, normalize, temperature):
    if normalize:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    # 1/T scales the B queries, not the B x (B + queue) logits: one pass less each way
    q = q / temperature
    target = torch.arange(q.size(0), device=q.device)
    same_entity = entities.unsqueeze(1) == entities.unsqueeze(0)
    same_entity[target, target] = False
    logits = (q @ k.t()).masked_fill(same_entity, float("-inf"))
    if queue_keys is not None:
        # the queue holds no gradient: a separate product keeps the backward pass from
        # materialising a gradient for every queued key; its output is masked in place
        # (the product's backward does not need it)
        queued = queue_keys.float()
        if normalize:
            queued = F.normalize(queued, dim=-1)
        queue_logits = (q @ queued.t()).masked_fill_(
            entities.unsqueeze(1) == queue_entities.unsqueeze(0), float("-inf"))
        logits = torch.cat([logits, queue_logits], dim=1)
    loss = F.cross_entropy(logits, target, reduction="sum")
    correct = (logits.detach().argmax(dim=-1) == target).sum()
    return loss, correct


@register_criterion("xlmk", dataclass=XLMKCriterionConfig)
class XLMKCriterion(FairseqCriterion):
    def __init__(self, cfg: XLMKCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg
        self.oe_classification = getattr(task.cfg, "oe_loss", "contrastive") == "classification"

    def forward(self, model, sample, reduce=True):
        out = model(xlmk_batch=sample, oe_classification=self.oe_classification)
        log = {**self.empty_logging_output(), "nsentences": sample["nsentences"],
               "ntokens": sample["ntokens"], "sample_size": 1}
        loss = 0.0
        for name in ("mlm", "desc_mlm", "lp"):
            if name + "_logits" in out:
                target = sample[name]["target"]
                target = target[target.ne(self.padding_idx)]
                logits = out[name + "_logits"].view(-1, out[name + "_logits"].size(-1)).float()
                total = F.cross_entropy(logits, target, reduction="sum")
                weight = self.cfg.lp_weight if name == "lp" else 1.0
                loss = loss + weight * total / max(target.numel(), 1)
                log[name + "_loss"] = total.item()
                log[name + "_tokens"] = target.numel()
                if name == "lp":
                    log["lp_correct"] = int((logits.detach().argmax(-1) == target).sum())
                    self._log_lp_examples(log, sample["lp"])

        use_queue = self.queue_in_use(model.num_updates)
        knowledge = sample.get("knowledge", {})
        for name, weight, queue in (("mep", self.cfg.mep_weight, model.mep_queue),
                                    ("oe", self.cfg.oe_weight, model.oe_queue)):
            if name + "_query" in out:
                total, correct = self._contrastive(out, name, knowledge[name + "_entities"], queue, use_queue)
                loss = loss + weight * total / knowledge["num_" + name]
                self._log_task(log, name, total, correct, knowledge["num_" + name], queue)
        if "oe_relation_logits" in out:
            logits = out["oe_relation_logits"].float()
            total = F.cross_entropy(logits, knowledge["relations"], reduction="sum")
            correct = (logits.argmax(-1) == knowledge["relations"]).sum()
            loss = loss + self.cfg.oe_weight * total / knowledge["num_oe"]
            self._log_task(log, "oe", total, correct, knowledge["num_oe"], None)
        log["loss"] = loss.item() if torch.is_tensor(loss) else loss
        return loss, 1, log

    @staticmethod
    def empty_logging_output():
        """Every key that forward logs, at zero. A worker that skips a batch (out of
        memory) returns this: fairseq sums the logging outputs of all workers key by key
        in one collective, which needs the same keys, in the same order, on every worker."""
        return dict.fromkeys(LOG_KEYS, 0)

    @staticmethod
    def _log_lp_examples(log, lp):
        log["lp_examples"], log["lp_fell_back"] = lp["nsentences"], lp["fell_back"]
        for kind, count in enumerate(lp["kinds"].tolist(), start=1):
            log[f"lp_kind{kind}"] = count

    def queue_in_use(self, num_updates):
        return num_updates >= self.cfg.queue_warmup_updates

    def _contrastive(self, out, name, entities, queue, use_queue):
        """Eq. 5 over the batch's online keys and the queue; with a momentum key encoder,
        the in-batch term plus MoCo's (the copy's keys of the batch and the queue), whose
        candidates all come from one encoder: a query could otherwise tell the online
        positive from the copy's negatives by their encoder alone. Accuracy is that of
        the term that holds the queue."""
        use_queue = use_queue and queue.size > 0
        query, key = out[name + "_query"], out[name + "_key"]
        momentum_key = out.get(name + "_momentum_key")
        options = dict(normalize=self.cfg.normalize_keys, temperature=self.cfg.temperature)
        if not use_queue:
            return contrastive_loss(query, key, entities, **options)
        if momentum_key is None:
            return contrastive_loss(query, key, entities, queue.keys, queue.entities, **options)
        in_batch, _ = contrastive_loss(query, key, entities, **options)
        moco, correct = contrastive_loss(query, momentum_key, entities, queue.keys, queue.entities, **options)
        return in_batch + moco, correct

    @staticmethod
    def _log_task(log, name, total, correct, count, queue):
        log[name + "_loss"] = total.item()
        log[name + "_correct"] = int(correct)
        log[name + "_count"] = count
        if queue is not None:
            log[name + "_queue_fill"] = queue.fill
            log[name + "_queue_reports"] = 1

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        """Losses in bits (base 2), as fairseq reports them; accuracies in [0, 1]."""
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        sample_size = total("sample_size")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / math.log(2), sample_size, round=3)
        for name in ("mlm", "desc_mlm", "lp"):
            n = total(name + "_tokens")
            if n:
                metrics.log_scalar(name + "_loss", total(name + "_loss") / n / math.log(2), n, round=3)
        if total("lp_tokens"):
            # token accuracy; the share of examples per kind, and of those that wanted two
            # languages but had one (counted as kind 1)
            metrics.log_scalar("lp_acc", total("lp_correct") / total("lp_tokens"), total("lp_tokens"), round=4)
            examples = total("lp_examples")
            for what in ("lp_kind1", "lp_kind2", "lp_kind3", "lp_fell_back"):
                metrics.log_scalar(what, total(what) / examples, examples, round=3)
        for name in ("mep", "oe"):
            n = total(name + "_count")
            if n:
                metrics.log_scalar(name + "_loss", total(name + "_loss") / n / math.log(2), n, round=3)
                metrics.log_scalar(name + "_acc", total(name + "_correct") / n, n, round=4)
            reports = total(name + "_queue_reports")
            if reports:
                metrics.log_scalar(name + "_queue_fill", total(name + "_queue_fill") / reports, 0, round=0)
        if total("skipped_oom"):
            metrics.log_scalar_sum("skipped_oom", total("skipped_oom"), round=0)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
