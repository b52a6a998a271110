"""Model selection: the epoch whose dev score, averaged over languages, is the best (the paper's rule)."""


def dev_history(log_history: list[dict]) -> list[dict]:
    """[{epoch, average, languages}] from the Trainer's log, one entry per end-of-epoch evaluation."""
    history = []
    for record in log_history:
        if "eval_dev_average" in record:
            languages = {k[len("eval_dev_"):]: v for k, v in record.items()
                         if k.startswith("eval_dev_") and k != "eval_dev_average"}
            history.append({"epoch": round(record["epoch"]), "average": record["eval_dev_average"],
                            "languages": languages})
    return history


def select_best(history: list[dict]) -> dict:
    """The first epoch with the highest average (ties go to the earlier epoch, as the Trainer keeps it)."""
    return max(history, key=lambda entry: (entry["average"], -entry["epoch"]))
