"""fairseq-train under torchrun: adds the rank flags that fairseq needs from torchrun's env.

    torchrun --nproc-per-node 2 -m xlmk_fairseq.torchrun_train DATA --user-dir xlmk_fairseq \
        --task knowledge_pretraining ... --distributed-backend gloo --ddp-backend legacy_ddp

fairseq does not read RANK/WORLD_SIZE by itself when it is told --distributed-no-spawn; this
wrapper passes them as --distributed-rank/--distributed-world-size with env:// init, which
is the combination that trains on CPU (gloo) and on GPUs (nccl) alike.
"""

import os
import sys

from fairseq_cli import train


def torchrun_args(environ=os.environ):
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        raise SystemExit("xlmk_fairseq.torchrun_train: run me under torchrun (RANK/WORLD_SIZE unset)")
    return [
        "--distributed-init-method", "env://", "--distributed-no-spawn",
        "--distributed-world-size", environ["WORLD_SIZE"],
        "--distributed-rank", environ["RANK"],
        "--device-id", environ.get("LOCAL_RANK", "0"),
    ]


def main():
    sys.argv = [sys.argv[0], *sys.argv[1:], *torchrun_args()]
    train.cli_main()


if __name__ == "__main__":
    main()
