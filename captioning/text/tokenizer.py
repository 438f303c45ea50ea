"""The caption tokenizer: lowercase, then nltk's RegexpTokenizer keeps words and numbers.

COCO-style preprocessing: punctuation is dropped, and a word keeps its inner apostrophes and
hyphens ("man's", "t-shirt"). RegexpTokenizer needs no nltk data download (word_tokenize does)."""

from __future__ import annotations

from nltk.tokenize.regexp import RegexpTokenizer

TOKENIZER_NAME = "nltk-regexp-coco-v1"  # recorded in checkpoints; change it when the rule changes
TOKEN_PATTERN = r"[a-z0-9]+(?:['\-][a-z0-9]+)*"
_TOKENIZER = RegexpTokenizer(TOKEN_PATTERN)


def tokenize(text: str) -> list[str]:
    """Lowercase a caption and split it into words, dropping punctuation."""
    return _TOKENIZER.tokenize(text.lower())
