"""Issue 29, item 6: an image with no non-empty reference is an InputError naming it, not
pycocoevalcap's bare AssertionError from BLEU; an empty reference beside others is left out."""

import pytest

from captioning.core.errors import InputError
from captioning.metrics.coco import score_captions


@pytest.mark.parametrize("refs", [[], [""], ["  ", "\t"]])
def test_an_image_without_a_reference_is_named(refs):
    with pytest.raises(InputError, match=r"image 7 has no non-empty reference caption \(1 such image\(s\)\)"):
        score_captions({3: ["a dog"], 7: refs}, {3: "a dog", 7: "a cat"}, meteor=False)


def test_an_empty_reference_beside_others_is_left_out():
    with_empty, _ = score_captions({1: ["a dog on the grass", ""]}, {1: "a dog on the grass"}, meteor=False)
    without, _ = score_captions({1: ["a dog on the grass"]}, {1: "a dog on the grass"}, meteor=False)
    assert with_empty == without
