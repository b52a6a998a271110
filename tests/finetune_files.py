"""The tiny export that the xlmk-finetune tests fine-tune (their data: xlmk_fairseq.finetune.sample_data)."""


def export_tiny(sample_checkpoint, sample_data, out):
    """The tests' tiny exported checkpoint (xlmk-export-hf of the sample checkpoint), as test_hf_export makes it."""
    from xlmk_fairseq.hf_export.cli import main

    assert main([str(sample_checkpoint), str(sample_data), str(out)]) == 0
    return out
