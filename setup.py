from setuptools import find_packages, setup

setup(
    name="xlmk-fairseq",
    version="0.1.0",
    description="XLM-K (Jiang et al., AAAI 2022) as a fairseq plugin: MLM + Masked Entity Prediction + Object Entailment",
    packages=find_packages(include=["xlmk_fairseq", "xlmk_fairseq.*", "preprocess", "preprocess.*"]),
    python_requires=">=3.10",
    # torch and fairseq are installed by scripts/install.sh (torch pinned by constraints.txt,
    # fairseq-fixed built with --no-build-isolation --no-deps); they are not listed here so that
    # pip never resolves a CUDA torch on its own.
    install_requires=[
        "isal",
        "msgspec",
        "mwparserfromhell",
        "numpy",
        "orjson",
        "pyyaml",
        "sentencepiece",
        "tensorboardX",
        "tqdm",
    ],
    entry_points={"console_scripts": [
        "xlmk-preprocess = preprocess.cli:main",
        "xlmk-export-hf = xlmk_fairseq.hf_export.cli:main",
        "xlmk-import-hf = xlmk_fairseq.hf_import.cli:main",
        "xlmk-eval = xlmk_fairseq.evaluation.eval_cli:main",
        "xlmk-probe = xlmk_fairseq.evaluation.probe_cli:main",
        "xlmk-finetune = xlmk_fairseq.finetune.cli:main",
        "xlmk-index = xlmk_fairseq.linking.cli:index_main",
        "xlmk-link = xlmk_fairseq.linking.cli:link_main",
    ]},
    extras_require={
        "test": ["pytest", "hypothesis"],  # hypothesis: property-based tests of the dump readers
        # Hugging Face export, import and probing of exported models (xlmk-export-hf, xlmk-import-hf,
        # xlmk-probe on a HF dir), and downstream fine-tuning (xlmk-finetune: transformers' Trainer
        # needs accelerate).
        "hf": ["transformers>=4.44,<6", "safetensors>=0.4", "accelerate>=1.1"],
        # approximate search of large entity indexes (xlmk-link --approximate, xlmk-index --approximate-nlist)
        "faiss": ["faiss-cpu>=1.7.4"],
    },
)
