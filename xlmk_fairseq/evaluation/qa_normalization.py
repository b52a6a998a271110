"""MLQA's language-aware answer normalisation, so that EM/F1 match the published MLQA numbers.

MLQA (Lewis et al. 2020) changes SQuAD v1.1's normalisation in three ways: Unicode punctuation
is stripped (not only ASCII), articles are stripped per language, and Chinese is split into
characters. Written from those descriptions and MLQA's published word lists; see
docs/evaluation-metrics.md for the sources and for the Arabic rule.
"""

import itertools
import re
import string
import unicodedata

# stand-alone articles per language; languages not listed have none removed
ARTICLES = {
    "en": ("a", "an", "the"),
    "es": ("un", "una", "unos", "unas", "el", "la", "los", "las"),
    "de": ("ein", "eine", "einen", "einem", "eines", "einer", "der", "die", "das", "den", "dem", "des"),
    "vi": ("của", "là", "cái", "chiếc", "những"),
}
ARTICLE_PATTERNS = {lang: re.compile(r"\b(?:" + "|".join(words) + r")\b") for lang, words in ARTICLES.items()}
# MLQA removes the Arabic definite article as the letter pair alef-lam wherever it occurs
ARABIC_ARTICLE = "\u0627\u0644"
CHARACTER_SPLIT_LANGS = {"zh"}


def is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def is_cjk_ideograph(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def remove_articles(text: str, lang: str) -> str:
    if lang == "ar":
        return text.replace(ARABIC_ARTICLE, " ")
    pattern = ARTICLE_PATTERNS.get(lang)
    return pattern.sub(" ", text) if pattern else text


def mixed_segmentation(text: str) -> list[str]:
    """Each CJK ideograph is a token; runs of other characters are split on whitespace."""
    tokens = []
    for cjk, run in itertools.groupby(text, is_cjk_ideograph):
        if cjk:
            tokens.extend(run)
        else:
            tokens.extend("".join(run).split())
    return tokens


def answer_tokens(text: str, lang: str) -> list[str]:
    """Lower-case, drop punctuation, drop articles, tokenise: the tokens EM and F1 compare."""
    text = "".join(ch for ch in text.lower() if not is_punctuation(ch))
    text = remove_articles(text, lang)
    return mixed_segmentation(text) if lang in CHARACTER_SPLIT_LANGS else text.split()
