from .xlmk_roberta import XLMKRobertaModel  # noqa: F401 (registers the model)
