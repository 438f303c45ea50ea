"""Gates that teach: which words make a gate move, and which caption to trace.

gate_events finds the words where the mean forget gate drops below what it was doing so far;
plot_gates(events=...) marks them. On the shipped LSTM's caption "a group of people standing on a
beach with a kite" the dips are at the nouns that close a phrase (group, people, beach, kite), as
the cell makes room for the next one. pick_traced_caption picks the model's highest-scored caption
to trace (high CIDEr, not necessarily right), and words_in_no_reference names the caption's words
that no reference contains, the place to look for a hallucinated object."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ..text.tokenizer import tokenize
from .plots import steps_by_units


def gate_events(tokens: Sequence[str], gates: Mapping[str, Any], name: str = "forget",
                k: int = 2) -> list[tuple[int, str]]:
    """The k word positions where gates[name]'s mean over units drops most below its running
    level (its mean over the words before), in word order, as (position, label) for plot_gates.

    gates is what decoder.search.trace_gates returns ([T, H] per gate, T = len(tokens)); for the
    GRU use name="update" (z, the share of h kept). Only drops count: fewer than k may come back."""
    if name not in gates:
        raise ValueError(f"no {name!r} gate among {sorted(gates)}")
    mean = steps_by_units(name, gates[name], len(tokens)).mean(axis=1)
    drops = {t: float(mean[:t].mean() - mean[t]) for t in range(1, len(mean))}
    top = sorted((t for t in drops if drops[t] > 0), key=lambda t: -drops[t])[:k]
    return [(t, f"{name} ↓{drops[t]:.2f}") for t in sorted(top)]


def pick_traced_caption(scores: Mapping[Hashable, Any] | Sequence[Any],
                        captions: Mapping[Hashable, str] | Sequence[str] | None = None, *,
                        min_words: int = 1, metric: str = "CIDEr") -> Hashable:
    """The key (index, for sequences) of the best-scored caption among those of at least
    min_words words (when captions are given); first one on ties, NaN scores skipped.

    scores are numbers or per-image metric dicts such as metrics.coco.score_captions' second
    value ({image: {"CIDEr": ..., ...}}, read at `metric`). The best score is not proof of a right
    caption: check it against its references (words_in_no_reference)."""
    items = scores.items() if isinstance(scores, Mapping) else enumerate(scores)
    value = {k: float(v[metric] if isinstance(v, Mapping) else v) for k, v in items}
    if captions is not None:
        text = captions if isinstance(captions, Mapping) else dict(enumerate(captions))
        value = {k: v for k, v in value.items() if len(str(text[k]).split()) >= min_words}
    value = {k: v for k, v in value.items() if not math.isnan(v)}
    if not value:
        raise ValueError(f"no scored caption with at least {min_words} words to pick from")
    return max(value, key=value.__getitem__)


def words_in_no_reference(caption: str, references: Sequence[str]) -> list[str]:
    """The caption's words (COCO tokenization) that none of the references contains, in caption
    order, once each: a high-CIDEr caption can still name something that is not in the photo."""
    known = {w for ref in references for w in tokenize(ref)}
    return list(dict.fromkeys(w for w in tokenize(caption) if w not in known))
