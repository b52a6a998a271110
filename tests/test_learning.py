"""The knowledge tasks learn (the spec's "Learning" requirement).

On the synthetic data, which is learnable by construction (a mention's context and the
entity's descriptions share attribute tokens and a fact; the filler around a masked mention
is random; a subject's description states its fact), a tiny encoder is first trained with
MLM alone, as XLM-K starts from XLM-R, and then continues with MLM + MEP + OE and the key
queues. At the end, with the queue in use, valid mep_acc and oe_acc are well above in-batch
chance (1 / batch size). The OE valid facts are held out of OE training: the model has to
read the object off the subject's description.

Two fairseq-train runs, each with fixed seeds (deterministic): about 100 s on one core.
"""

from conftest import records, run_train

BATCH = 32
QUEUE = 64  # two batches of keys; see the note in test_mep_and_oe_learn_with_the_queue_on
MLM_UPDATES = 800
KNOWLEDGE_UPDATES = 200
QUEUE_WARMUP = 60  # in-batch negatives only for the first 60 updates, then the queue too
COMMON = ["--batch-size", BATCH, "--tokens-per-sample", 32, "--queue-size", QUEUE]


def metric(record, key):
    # conftest drops fairseq's "valid_" prefix; accept either spelling
    return float(record[key] if key in record else record["valid_" + key])


def test_mep_and_oe_learn_with_the_queue_on(synthetic_data, tmp_path):
    # 1. the "pretrained" encoder: MLM only (the queues are saved, still empty)
    run_train(synthetic_data, tmp_path / "mlm", *COMMON, "--knowledge-tasks", "none",
              "--max-update", MLM_UPDATES, "--lr", "2e-3", "--lr-scheduler", "fixed",
              "--warmup-updates", 30, "--disable-validation", "--log-interval", 100)

    # 2. continued pre-training with the knowledge tasks (mep,oe: the default); validation
    # only once, at the end, where the queue is in use.
    # Cosine similarity with temperature 0.1 leaves the widest margin; the paper's plain dot
    # product learns too, with less of it on OE. The queue holds detached keys of earlier
    # steps (no momentum encoder): a queue much longer than the batch (e.g. 256 keys) also
    # learns but ends lower, and less reliably so, on the held-out OE facts.
    _, logs = run_train(
        synthetic_data, tmp_path / "xlmk", *COMMON,
        "--restore-file", tmp_path / "mlm" / "checkpoint_last.pt", "--reset-optimizer",
        "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler",
        "--max-update", KNOWLEDGE_UPDATES, "--lr", "1e-3",
        "--normalize-keys", "--temperature", "0.1", "--queue-warmup-updates", QUEUE_WARMUP,
        "--validate-interval", 1000, "--no-save", "--log-interval", 50,
    )
    last = records(logs, "train_inner")[-1]
    assert int(last["num_updates"]) == KNOWLEDGE_UPDATES
    assert metric(last, "mep_queue_fill") == QUEUE and metric(last, "oe_queue_fill") == QUEUE

    valid = records(logs, "valid")[-1]
    assert int(metric(valid, "num_updates")) == KNOWLEDGE_UPDATES > QUEUE_WARMUP  # queue on
    chance = 1 / BATCH
    mep, oe = metric(valid, "mep_acc"), metric(valid, "oe_acc")
    print(f"valid mep_acc {mep:.4f}, oe_acc {oe:.4f}; in-batch chance {chance:.4f}")
    assert mep >= 4 * chance, valid
    assert oe >= 4 * chance, valid
