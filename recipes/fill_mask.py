"""Fill <mask> with a Hugging Face export, offline: the last step of the quickstart.

    python recipes/fill_mask.py HF_DIR "Berlin ist die Hauptstadt von <mask>." ...
"""

import argparse
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("sentences", nargs="+")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import pipeline

    fill = pipeline("fill-mask", model=args.model_dir)
    for sentence in args.sentences:
        guesses = fill(sentence, top_k=args.top_k)
        print(f"  {sentence}\n    -> " + ", ".join(f"{g['token_str'].strip()!r} ({g['score']:.2f})" for g in guesses))


if __name__ == "__main__":
    main()
