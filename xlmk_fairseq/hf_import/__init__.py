"""``xlmk-import-hf``: a Hugging Face XLM-R-family directory -> a fairseq checkpoint in the
shape of the 2019 XLM-R release, with its dict.txt and sentencepiece model (docs/hf-import.md)."""
