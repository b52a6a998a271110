"""Text of the data directory to verify the export on: the fixed sentences cannot hold every
script and symbol of the data, and a tokenizer difference shows only on text that has them.
"""

import glob
import os

from fairseq.data.indexed_dataset import MMapIndexedDataset

PER_SET = 3  # lines per mlm/<lang>/valid set
MAX_TOKENS = 254  # per line, besides <s> and </s>
# Hugging Face reads these in text as special tokens, fairseq as text: lines with them are left out.
SPECIAL_STRINGS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")


def sample_data_text(hub, data, max_tokens):
    """(where, text) for up to PER_SET lines of each ``mlm/<lang>/valid`` set of ``data``,
    decoded with the dictionary and sentencepiece model of ``hub``; empty without such sets.

    Lines are taken evenly spaced through each set, so the choice is fixed, and cut before a
    word so that they hold at most ``max_tokens`` tokens. Lines with <unk> are skipped: their
    text is lost.
    """
    found = []
    for index in sorted(glob.glob(os.path.join(data, "mlm", "*", "valid.idx"))):
        prefix = index[: -len(".idx")]
        if not os.path.isfile(prefix + ".bin") or os.path.getsize(prefix + ".bin") == 0:
            continue  # numpy cannot memory-map an empty file
        items = MMapIndexedDataset(prefix)
        picked = []
        for k in range(PER_SET):
            for i in range(k * len(items) // PER_SET, len(items)):
                text = None if i in picked else _line_text(hub, items[i], max_tokens)
                if text:
                    picked.append(i)
                    found.append((f"{os.path.relpath(prefix, data)} item {i}", text))
                    break
    return found


def _line_text(hub, ids, max_tokens):
    dictionary = hub.task.source_dictionary
    if len(ids) and ids[-1] == dictionary.eos():
        ids = ids[:-1]
    if len(ids) == 0 or ids.min() < dictionary.nspecial:
        return None
    if len(ids) > max_tokens:
        cut = max_tokens
        while cut > 0 and not dictionary[ids[cut]].startswith("\u2581"):
            cut -= 1
        if cut == 0:
            return None
        ids = ids[:cut]
    text = hub.decode(ids)
    return None if any(s in text for s in SPECIAL_STRINGS) else text
