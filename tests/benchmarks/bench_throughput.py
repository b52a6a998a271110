"""Training throughput of knowledge_pretraining (MLM + MEP + OE) against fairseq's masked_lm.

Both tasks train the same architecture on the same machine, measured alternately in one
run (rounds of N updates each), so that machine noise hits all alike; XLM-K once per
--key-encoder (shared: keys with gradient; momentum: the same, plus a no-grad forward of the
key sequences through the momentum copy, whose keys fill the queue and form MoCo's loss term,
and the copy's update after each optimizer step). Reported per setting: encoder tokens/s (non-padding
tokens of every encoder input), seconds per update, padding fraction, the XLM-K/masked_lm
ratio, the share of the shared XLM-K step spent in the projection heads, the contrastive
loss against the queue and the enqueue, and the memory of the momentum copy (fp32 buffers:
no gradients, no optimizer state).

    python tests/benchmarks/bench_throughput.py [--dims tiny,base] [--rounds 3] [--queue-size 32768]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import xlmk_fairseq  # noqa: E402,F401
from fairseq import options, optim, tasks  # noqa: E402
from fairseq.dataclass.utils import convert_namespace_to_omegaconf  # noqa: E402

from preprocess.synthetic import make_synthetic_data  # noqa: E402
from xlmk_fairseq.criterions.xlmk import contrastive_loss  # noqa: E402

DIMS = {
    "tiny": ["--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "256",
             "--encoder-attention-heads", "4"],
    "base": ["--encoder-layers", "12", "--encoder-embed-dim", "768", "--encoder-ffn-embed-dim", "3072",
             "--encoder-attention-heads", "12"],
}


class Runner:
    def __init__(self, argv):
        args = options.parse_args_and_arch(options.get_training_parser(), argv)
        self.cfg = convert_namespace_to_omegaconf(args)
        self.task = tasks.setup_task(self.cfg.task)
        self.model = self.task.build_model(self.cfg.model)
        self.criterion = self.task.build_criterion(self.cfg.criterion)
        self.optimizer = optim.build_optimizer(self.cfg.optimizer, list(self.model.parameters()))
        self.task.load_dataset("train")
        self.batches = self._batches()
        self.updates = 0

    def _batches(self):
        epoch = 1
        while True:
            itr = self.task.get_batch_iterator(
                self.task.datasets["train"], max_sentences=self.cfg.dataset.batch_size,
                seed=1, epoch=epoch, disable_iterator_cache=True,
            ).next_epoch_itr(shuffle=True)
            for batch in itr:
                if batch and batch.get("nsentences", 0) == self.cfg.dataset.batch_size:
                    yield batch
            epoch += 1

    def step(self):
        sample = next(self.batches)
        start = time.perf_counter()
        self.task.train_step(sample, self.model, self.criterion, self.optimizer, self.updates)
        self.task.optimizer_step(self.optimizer, self.model, self.updates)
        self.optimizer.zero_grad()
        self.updates += 1
        return time.perf_counter() - start, encoder_token_counts(sample, self.task.dictionary.pad())


def encoder_token_counts(sample, pad):
    inputs = []
    for key in ("mlm", "desc_mlm"):
        if key in sample:
            inputs.append(sample[key]["net_input"]["src_tokens"])
    if "net_input" in sample:  # masked_lm
        inputs.append(sample["net_input"]["src_tokens"])
    if "knowledge" in sample:
        inputs += [tokens for tokens, _ in sample["knowledge"]["buckets"]]
    real = sum(int(t.ne(pad).sum()) for t in inputs)
    slots = sum(t.numel() for t in inputs)
    return real, slots


def knowledge_overhead(runner, batch_size, reps=5):
    """Seconds per update of the heads, the contrastive losses against the full queues and
    the enqueue, timed alone at the step's shapes (forward and backward)."""
    model = runner.model
    dim = model.args.encoder_embed_dim
    heads = model.knowledge_heads
    total = 0.0
    for _ in range(reps):
        x = torch.randn(4 * batch_size, dim, requires_grad=True)
        ents = torch.randint(0, 10**6, (batch_size,))
        start = time.perf_counter()
        q = heads.mep_query(x[:batch_size])
        k = heads.mep_key(x[batch_size:2 * batch_size])
        oq = heads.oe_query(x[2 * batch_size:3 * batch_size])
        ok = heads.oe_key(x[3 * batch_size:])
        l1, _ = contrastive_loss(q, k, ents, model.mep_queue.keys, model.mep_queue.entities)
        l2, _ = contrastive_loss(oq, ok, ents, model.oe_queue.keys, model.oe_queue.entities)
        (l1 + l2).backward()
        with torch.no_grad():
            model.mep_queue.enqueue(k.detach(), ents)
            model.oe_queue.enqueue(ok.detach(), ents)
        total += time.perf_counter() - start
        heads.zero_grad()
    return total / reps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", default="tiny,base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queue-size", type=int, default=32768)
    parser.add_argument("--tokens-per-sample", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--updates-per-round", type=int, default=None)
    parser.add_argument("--knowledge-buckets", type=int, default=None,
                        help="override the task's default number of length buckets")
    parser.add_argument("--key-encoders", default="shared,momentum",
                        help="XLM-K runs, one per --key-encoder, each against masked_lm")
    cli = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    work = tempfile.mkdtemp(prefix="xlmk_bench_")
    try:
        data = make_synthetic_data(os.path.join(work, "data"), num_entities=256, sentences_per_entity=8)
        mlm_data = os.path.join(work, "mlm_en")
        os.makedirs(mlm_data)
        shutil.copy(os.path.join(data, "dict.txt"), mlm_data)
        for split in ("train", "valid"):
            for ext in ("bin", "idx"):
                shutil.copy(os.path.join(data, "mlm", "en", f"{split}.{ext}"), os.path.join(mlm_data, f"{split}.{ext}"))
        common = ["--optimizer", "adam", "--lr", "1e-4", "--batch-size", str(cli.batch_size), "--cpu",
                  "--tokens-per-sample", str(cli.tokens_per_sample), "--max-positions", "512",
                  "--sample-break-mode", "complete", "--seed", "1"]
        print(f"# threads={torch.get_num_threads()} batch={cli.batch_size} tokens_per_sample="
              f"{cli.tokens_per_sample} queue={cli.queue_size}")
        print("| dims | task | tokens/s | s/update | padding | vs masked_lm | heads+queue share | momentum copy |")
        print("|---|---|---|---|---|---|---|---|")
        for dims in cli.dims.split(","):
            runners = {f"xlmk {key_encoder}": Runner(
                [data, "--task", "knowledge_pretraining", "--criterion", "xlmk",
                 "--arch", "xlmk_base", "--queue-size", str(cli.queue_size), "--langs", "en",
                 "--knowledge-proj-dim", DIMS[dims][3], "--key-encoder", key_encoder,
                 "--knowledge-tokens-per-sample", str(min(256, cli.tokens_per_sample)),
                 *(["--knowledge-buckets", str(cli.knowledge_buckets)] if cli.knowledge_buckets else []),
                 *DIMS[dims], *common]) for key_encoder in cli.key_encoders.split(",")}
            runners["masked_lm"] = Runner([mlm_data, "--task", "masked_lm", "--criterion", "masked_lm",
                                           "--arch", "roberta_base", *DIMS[dims], *common])
            per_round = cli.updates_per_round or (20 if dims == "tiny" else 3)
            stats = {name: [0.0, 0, 0, 0] for name in runners}
            for runner in runners.values():  # warm-up
                runner.step()
            for _ in range(cli.rounds):  # alternating, so that machine noise hits all alike
                for name, runner in runners.items():
                    for _ in range(per_round):
                        seconds, (real, slots) = runner.step()
                        s = stats[name]
                        s[0] += seconds; s[1] += real; s[2] += slots; s[3] += 1
            rate = {k: v[1] / v[0] for k, v in stats.items()}
            for name, runner in runners.items():
                s = stats[name]
                step = s[0] / s[3]
                ratio = f"{rate[name] / rate['masked_lm']:.3f}" if name != "masked_lm" else ""
                share = (f"{100 * knowledge_overhead(runner, cli.batch_size) / step:.2f}%"
                         if name == "xlmk shared" else "")
                momentum = getattr(runner.model, "momentum", None)
                copy = (f"{sum(b.numel() * b.element_size() for b in momentum.buffers()) / 2**20:.0f} MiB"
                        if momentum is not None else "")
                print(f"| {dims} | {name} | {rate[name]:.0f} | {step:.3f} | {1 - s[1] / s[2]:.3f} | "
                      f"{ratio} | {share} | {copy} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
