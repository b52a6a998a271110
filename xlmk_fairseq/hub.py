"""A fairseq checkpoint (this plugin's, or fairseq's own masked_lm) and its data directory
-> fairseq's RobertaHubInterface: the one way the export and the probe load a model.

Importing this module imports the package, which registers the plugin and the safe
checkpoint loading.
"""

import os

from fairseq import hub_utils
from fairseq.models.roberta.hub_interface import RobertaHubInterface

from .errors import ConfigError

SPM_FILE = "sentencepiece.bpe.model"


def load_fairseq_hub(checkpoint, data):
    """The checkpoint through fairseq's own hub interface, with this plugin registered."""
    for path, what in ((checkpoint, "checkpoint"), (os.path.join(data, "dict.txt"), "dictionary"),
                       (os.path.join(data, SPM_FILE), "sentencepiece model")):
        if not os.path.isfile(path):
            raise ConfigError(f"{path}: no such file (the {what})")
    try:
        loaded = hub_utils.from_pretrained(
            os.path.dirname(os.path.abspath(checkpoint)), os.path.basename(checkpoint),
            os.path.abspath(data), bpe="sentencepiece",
            sentencepiece_model=os.path.abspath(os.path.join(data, SPM_FILE)),
            load_checkpoint_heads=True,
        )
    except Exception as e:  # a broken or foreign file: say which, not where it broke inside
        raise ConfigError(f"{checkpoint}: cannot load as a fairseq RoBERTa checkpoint ({type(e).__name__}: {e})") from None
    hub = RobertaHubInterface(loaded["args"], loaded["task"], loaded["models"][0])
    if not hasattr(hub.model.encoder, "sentence_encoder"):
        raise ConfigError(f"{checkpoint}: not a RoBERTa/XLM-R model")
    return hub.eval()
