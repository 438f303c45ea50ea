"""gate_events (where the mean forget gate dips) and pick_traced_caption (a caption the model gets
right), on hand-made gate traces and scores."""

import math

import numpy as np
import pytest
import torch

from captioning.lab.gates import gate_events, pick_traced_caption, words_in_no_reference

WORDS = ["<start>", "a", "man", "riding", "a", "wave", "on", "a", "surfboard"]
MEANS = [0.9, 0.9, 0.88, 0.5, 0.85, 0.86, 0.35, 0.8, 0.82]  # dips at "riding" and "on"


def _trace(means, units=6, seed=0):
    """[T, H] gates whose mean over units is exactly `means` (noise that sums to 0 per step)."""
    noise = np.random.default_rng(seed).normal(0, 0.02, (len(means), units))
    return np.asarray(means)[:, None] + noise - noise.mean(axis=1, keepdims=True)


def test_events_are_the_largest_dips_below_the_running_level_in_word_order():
    gates = {"forget": torch.tensor(_trace(MEANS)), "input": torch.rand(9, 6)}
    events = gate_events(WORDS, gates)
    assert [pos for pos, _ in events] == [3, 6]
    assert events[0][1] == f"forget ↓{np.mean(MEANS[:3]) - MEANS[3]:.2f}"
    assert [pos for pos, _ in gate_events(WORDS, gates, k=1)] == [6]  # the deepest dip


def test_only_drops_count_and_other_gates_work():
    rising = {"update": _trace(np.linspace(0.1, 0.9, 9)), "reset": _trace([0.5] * 9)}
    assert gate_events(WORDS, rising, name="update") == []
    assert len(gate_events(WORDS, {"update": rising["update"][::-1]}, name="update", k=3)) == 3
    with pytest.raises(ValueError, match="forget"):
        gate_events(WORDS, rising)
    with pytest.raises(ValueError, match="T=9"):
        gate_events(WORDS, {"forget": _trace(MEANS[:5])})


def test_pick_the_best_scored_caption_long_enough():
    per_image = {"a": {"CIDEr": 80.0}, "b": {"CIDEr": 120.0}, "c": {"CIDEr": 95.0}}
    captions = {"a": "a dog on a couch", "b": "a dog", "c": "a man riding a wave on a surfboard"}
    assert pick_traced_caption(per_image) == "b"
    assert pick_traced_caption(per_image, captions, min_words=4) == "c"
    assert pick_traced_caption({k: v["CIDEr"] for k, v in per_image.items()}) == "b"
    assert pick_traced_caption(per_image, captions, min_words=5, metric="CIDEr") == "c"


def test_pick_from_sequences_ties_and_nan():
    assert pick_traced_caption([0.2, math.nan, 0.9, 0.9]) == 2  # first of the best, NaN skipped
    assert pick_traced_caption([0.2, 0.9], ["one two three", "short"], min_words=3) == 0
    with pytest.raises(ValueError, match="at least 9 words"):
        pick_traced_caption([0.2, 0.9], ["one two three", "short"], min_words=9)


def test_words_in_no_reference_names_what_the_references_do_not_say():
    refs = ["A little girl sitting on a bed with a teddy bear.", "A girl sitting on a bed in a room."]
    assert words_in_no_reference("a little girl sitting on a bed with a laptop", refs) == ["laptop"]
    assert words_in_no_reference("A Girl, on a BED!", refs) == []
    assert words_in_no_reference("a laptop and a laptop bag", refs) == ["laptop", "and", "bag"]
