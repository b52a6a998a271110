"""The knowledge tasks learn: on the learnable synthetic data, a tiny encoder first trained
with MLM (as XLM-K starts from XLM-R) and then with MLM + MEP + OE, the key queues on, ends
with valid mep_acc and oe_acc well above in-batch chance (1 / batch size).

Two fairseq-train runs, about two minutes on one CPU core; fixed seeds, so deterministic.
"""

from conftest import records, run_train

BATCH = 32
QUEUE = 256
MLM_UPDATES = 800
KNOWLEDGE_UPDATES = 300
QUEUE_WARMUP = 100  # in-batch negatives only for the first third, the queue after
COMMON = ["--batch-size", BATCH, "--tokens-per-sample", 32, "--queue-size", QUEUE]


def test_mep_and_oe_learn_with_the_queue_on(synthetic_data, tmp_path):
    # 1. the "pretrained" encoder: MLM only
    run_train(synthetic_data, tmp_path / "mlm", *COMMON, "--knowledge-tasks", "none",
              "--max-update", MLM_UPDATES, "--lr", "2e-3", "--lr-scheduler", "fixed",
              "--warmup-updates", 30, "--validate-interval", 1000, "--log-interval", 100)

    # 2. continued pre-training with the knowledge tasks (mep,oe: the default)
    _, logs = run_train(
        synthetic_data, tmp_path / "xlmk", *COMMON,
        "--restore-file", tmp_path / "mlm" / "checkpoint_last.pt", "--reset-optimizer",
        "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler",
        "--max-update", KNOWLEDGE_UPDATES, "--lr", "1e-3",
        "--normalize-keys", "--temperature", "0.1", "--queue-warmup-updates", QUEUE_WARMUP,
        "--validate-interval", 1000, "--no-save", "--log-interval", 50,
    )
    inner = records(logs, "train_inner")
    assert int(inner[-1]["num_updates"]) == KNOWLEDGE_UPDATES
    assert float(inner[-1]["mep_queue_fill"]) == QUEUE and float(inner[-1]["oe_queue_fill"]) == QUEUE

    valid = records(logs, "valid")[-1]
    print(valid, inner[-1])
    assert int(valid["num_updates"]) == KNOWLEDGE_UPDATES  # the queue is in use here
    chance = 1 / BATCH
    mep, oe = float(valid["mep_acc"]), float(valid["oe_acc"])
    print(f"valid mep_acc {mep:.4f} oe_acc {oe:.4f} (in-batch chance {chance:.4f})")
    assert mep >= 4 * chance, valid
    assert oe >= 4 * chance, valid
