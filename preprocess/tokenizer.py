"""The sentencepiece model and fairseq dictionary of the data, in XLM-R's layout.

XLM-R's dict.txt is the sentencepiece vocabulary without its first three pieces (<unk>,
<s>, </s>), in order: fairseq id = sentencepiece id + 1 (fairseq puts <s>, <pad>, </s>,
<unk> first). Hugging Face's XLM-R tokenizer assumes exactly this, so the data, the model
and a later export agree on every id.
"""

import io
import os
import shutil

import sentencepiece as spm

from .dump_io import DumpError

SPM_FILE, DICT_FILE = "sentencepiece.bpe.model", "dict.txt"


def check_dict_matches_model(model_path, dict_path):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    with open(dict_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            symbol = line.rsplit(" ", 1)[0] if " " in line.strip() else line.strip()
            spm_id = line_no + 3
            if spm_id >= sp.get_piece_size():
                raise DumpError(f"{dict_path} has more entries than {model_path} has pieces")
            if sp.id_to_piece(spm_id) != symbol:
                raise DumpError(
                    f"{dict_path} line {line_no + 1} is {symbol!r} but {model_path} has "
                    f"{sp.id_to_piece(spm_id)!r} at that position: the dictionary does not belong "
                    f"to this sentencepiece model")
    if line_no + 4 != sp.get_piece_size():
        raise DumpError(f"{dict_path} has {line_no + 1} entries but {model_path} has "
                        f"{sp.get_piece_size() - 3} pieces after <unk>, <s>, </s>")


def use_existing(model_path, dict_path, out_dir):
    for path in (model_path, dict_path):
        if not os.path.isfile(path):
            raise DumpError(f"{path}: no such file")
    try:
        check_dict_matches_model(model_path, dict_path)
    except (OSError, RuntimeError) as e:
        raise DumpError(f"{model_path}: not a sentencepiece model ({e})") from None
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(model_path, os.path.join(out_dir, SPM_FILE + ".tmp"))
    shutil.copy(dict_path, os.path.join(out_dir, DICT_FILE + ".tmp"))
    os.replace(os.path.join(out_dir, DICT_FILE + ".tmp"), os.path.join(out_dir, DICT_FILE))
    os.replace(os.path.join(out_dir, SPM_FILE + ".tmp"), os.path.join(out_dir, SPM_FILE))


def train(sentences, vocab_size, out_dir, seed_sentences=2_000_000):
    """Train a unigram sentencepiece model (as XLM-R's) and write dict.txt in XLM-R's layout."""
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
            model_type="unigram", character_coverage=0.9995, input_sentence_size=seed_sentences,
            shuffle_input_sentence=True, hard_vocab_limit=False, minloglevel=2, num_threads=1,
        )
    except RuntimeError as e:  # sentencepiece's refusal of the settings (a vocabulary too small)
        reason = str(e).strip().splitlines()[-1].split("] ", 1)[-1]  # without the C++ source location
        raise DumpError(f"sentencepiece training failed: {reason}") from None
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    os.makedirs(out_dir, exist_ok=True)
    write_dict(sp, os.path.join(out_dir, DICT_FILE + ".tmp"))
    with open(os.path.join(out_dir, SPM_FILE + ".tmp"), "wb") as f:
        f.write(model.getvalue())
    os.replace(os.path.join(out_dir, DICT_FILE + ".tmp"), os.path.join(out_dir, DICT_FILE))
    os.replace(os.path.join(out_dir, SPM_FILE + ".tmp"), os.path.join(out_dir, SPM_FILE))


def write_dict(sp, path):
    """dict.txt of the sentencepiece model ``sp`` in XLM-R's layout (its pieces after <unk>, <s>, </s>)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(3, sp.get_piece_size()):
            f.write(f"{sp.id_to_piece(i)} 1\n")


class Tokenizer:
    """Text -> fairseq ids (XLM-R layout), with byte offsets for mapping character spans."""

    def __init__(self, model_path):
        self.sp = spm.SentencePieceProcessor(model_file=model_path)

    def ids(self, text):
        return [i + 1 if i >= 3 else 3 for i in self.sp.encode(text)]

    def ids_and_spans(self, text, char_spans):
        """Token ids of ``text`` and, per (start, end) character span, the token span
        [first, last + 1) of the tokens that overlap it (None when no token does)."""
        proto = self.sp.encode(text, return_type="proto")
        ids = [p.id + 1 if p.id >= 3 else 3 for p in proto.pieces]
        byte_at = byte_offsets(text)
        spans = []
        for start, end in char_spans:
            bs, be = byte_at[start], byte_at[end]
            hit = [k for k, p in enumerate(proto.pieces) if p.begin < be and p.end > bs]
            spans.append((hit[0], hit[-1] + 1) if hit else None)
        return ids, spans


def byte_offsets(text):
    """Byte offset in UTF-8 of each character position of ``text`` (and of its end): where
    sentencepiece's pieces (begin/end in bytes) meet character spans."""
    offsets, n = [0] * (len(text) + 1), 0
    for i, ch in enumerate(text):
        offsets[i] = n
        n += len(ch.encode("utf-8"))
    offsets[len(text)] = n
    return offsets
