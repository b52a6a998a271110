"""XLM-K as a fairseq plugin: ``fairseq-train --user-dir xlmk_fairseq``."""

from . import atomic_checkpoint_copies, checkpoint_safety

checkpoint_safety.install()
atomic_checkpoint_copies.install()

from . import criterions, models, tasks  # noqa: E402,F401 (register with fairseq)
