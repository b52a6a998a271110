"""xlmk-finetune: fine-tune an exported (or any XLM-R-compatible) model on English and score every language."""
