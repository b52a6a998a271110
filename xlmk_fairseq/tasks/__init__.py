from . import knowledge_pretraining  # noqa: F401
