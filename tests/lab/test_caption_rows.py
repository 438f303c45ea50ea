"""caption_rows: one row per image with each model's caption, its scores and the references."""

import numpy as np
import pytest

from captioning.lab.caption_rows import caption_rows


def _texts(fig):
    return [t.get_text() for t in fig.texts]


def test_one_row_per_image_with_every_caption_scores_to_one_decimal_and_references():
    images = [np.full((40, 60, 3), 120, np.uint8), np.full((60, 40, 3), 30, np.uint8)]
    caps = [{"cross-entropy": "a dog on grass", "SCST": "a dog running on the grass"},
            {"cross-entropy": "a cat", "SCST": "a cat on a sofa"}]
    refs = [["A dog runs.", "A brown dog on a lawn."], ["A cat sleeps on a couch."]]
    scores = [{"cross-entropy": {"CIDEr": 41.234}, "SCST": {"CIDEr": 97.06}}, {"SCST": {"CIDEr": 5.0}}]
    fig = caption_rows(images, caps, refs, scores)
    texts = " | ".join(_texts(fig))
    assert len(fig.axes) == 2  # one photo per row
    assert "cross-entropy   CIDEr 41.2" in texts and "SCST   CIDEr 97.1" in texts and "41.23" not in texts
    assert "a dog running on the grass" in texts and "A cat sleeps on a couch." in texts
    width = fig.get_size_inches()[0]
    fig.canvas.draw()
    right = max(t.get_window_extent().x1 for t in fig.texts) / fig.dpi
    assert right < width  # nothing runs off the right edge


def test_a_long_reference_wraps_inside_the_figure():
    fig = caption_rows([np.zeros((50, 50, 3), np.uint8)], [{"model": "x"}], [["word " * 80]])
    fig.canvas.draw()
    assert max(t.get_window_extent().x1 for t in fig.texts) / fig.dpi < fig.get_size_inches()[0]


def test_mismatched_inputs_are_one_clear_error():
    with pytest.raises(ValueError, match="one captions mapping"):
        caption_rows([np.zeros((5, 5, 3), np.uint8)], [], [[]])
