"""Caption-quality checks beyond the COCO metrics: how varied the captions are, and how many end
on a dangling word ("... with a"), the known failure of CIDEr-optimized (SCST) training."""

from __future__ import annotations

from collections.abc import Sequence

from ..text.tokenizer import tokenize

DANGLING_WORDS = frozenset({"a", "an", "the", "of", "with", "and", "on", "in", "at", "to"})


def ends_dangling(caption: str) -> bool:
    """Whether the caption's last word is an article, preposition or conjunction."""
    words = tokenize(caption)
    return bool(words) and words[-1] in DANGLING_WORDS


def dangling_share(captions: Sequence[str]) -> float:
    """Share of captions whose last word is one of DANGLING_WORDS (0 for none)."""
    return sum(map(ends_dangling, captions)) / len(captions) if captions else 0.0


def distinct_count(captions: Sequence[str]) -> int:
    """How many different captions there are."""
    return len(set(captions))
