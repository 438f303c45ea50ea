"""Sampling's filters: before a word is drawn, top-k keeps each row's k most likely words and top-p
(nucleus sampling) the smallest set of most likely words whose probabilities reach p; the rest are
set to -inf. decoder.search samples through them, and notebook 07's exercise checks against them."""

from __future__ import annotations

from torch import Tensor

NEG = float("-inf")


def top_k_filter(logits: Tensor, top_k: int) -> Tensor:
    """Each row's words below its k-th largest logit set to -inf (top_k 0 keeps every word)."""
    if not top_k:
        return logits
    kth = logits.topk(min(top_k, logits.size(-1)), -1).values[:, -1:]
    return logits.masked_fill(logits < kth, NEG)


def top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    """Each row's words outside the smallest set of most likely words whose probabilities reach
    top_p set to -inf (a new tensor; top_p >= 1 returns logits as they are)."""
    if top_p >= 1:
        return logits
    sorted_l, order = logits.sort(-1, descending=True)
    probs = sorted_l.softmax(-1)
    drop = probs.cumsum(-1) - probs >= top_p  # the words before it already reach top_p
    return logits.scatter(-1, order, sorted_l.masked_fill(drop, NEG))
