"""XLM-K as a fairseq plugin: ``fairseq-train --user-dir xlmk_fairseq``."""

from . import checkpoint_safety, checkpoint_writing

checkpoint_safety.install()
checkpoint_writing.install()

from . import criterions, models, tasks  # noqa: E402,F401 (register with fairseq)
