"""A train split with several views per image: view 0 is its own features bit for bit, a seeded
draw points each image at one view, and the other splits keep view 0 alone."""

from pathlib import Path

import pytest
import torch

from captioning.data.records import ImageRecord
from captioning.data.tensors import prepare_splits, with_views

F, V = 4, 3


def records():
    """Six train images (the third has no caption), then two val images."""
    out = []
    for i in range(8):
        caps = [] if i == 2 else [f"a dog number {i}"]
        out.append(ImageRecord(Path(f"/toy/{i}.jpg"), "train" if i < 6 else "val", caps, i))
    return out


def views_of(n):
    """[n, V-1, F] views whose values say which train record (row) and view they are."""
    return torch.tensor([[[100.0 * r + v] * F for v in range(1, V)] for r in range(n)])


def test_view_0_is_the_splits_own_features_and_val_keeps_view_0():
    features = torch.randn(8, F)
    _, plain, _ = prepare_splits(records(), features, 1, 20)
    _, split, _ = prepare_splits(records(), features, 1, 20, views=views_of(6))
    train, val = split["train"], split["val"]
    assert train.views == V and val.views == 1 and plain["train"].views == 1
    assert torch.equal(train.features, plain["train"].features)  # before any draw: view 0, bit for bit
    assert torch.equal(val.features, features[6:]) and torch.equal(val.features, plain["val"].features)
    everything = torch.arange(len(train))
    assert torch.equal(train.image_features(everything), plain["train"].image_features(everything))


def test_a_draw_points_each_image_at_its_own_views():
    features = torch.randn(8, F)
    _, split, _ = prepare_splits(records(), features, 1, 20, views=views_of(6))
    train = split["train"]  # records 0, 1, 3, 4, 5 (record 2 has no caption): rows 0, 1, 3, 4, 5 of the views
    own = [0, 1, 3, 4, 5]
    seen = set()
    for seed in range(20):
        train.draw_views(torch.Generator().manual_seed(seed))
        got = train.features
        for i, r in enumerate(own):
            view = int(train.rows[i]) // len(train)
            want = features[r] if view == 0 else torch.full((F,), 100.0 * r + view)
            assert torch.equal(got[i], want), (seed, i, view)
            seen.add(view)
    assert seen == set(range(V))
    train.draw_views(torch.Generator().manual_seed(7))
    first = train.rows.clone()
    train.draw_views(torch.Generator().manual_seed(7))
    assert torch.equal(train.rows, first)  # the same generator state, the same views


def test_captions_follow_their_images_view():
    _, split, _ = prepare_splits(records(), torch.randn(8, F), 1, 20, views=views_of(6))
    train = split["train"]
    train.draw_views(torch.Generator().manual_seed(3))
    captions = torch.arange(len(train.tokens))
    assert torch.equal(train.batch_features(captions), train.features[train.owner])


def test_one_view_draws_nothing():
    _, split, _ = prepare_splits(records(), torch.randn(8, F), 1, 20)
    before = split["train"].rows
    split["train"].draw_views(torch.Generator().manual_seed(0))
    assert split["train"].rows is before


def test_views_of_the_wrong_shape_are_refused():
    _, split, _ = prepare_splits(records(), torch.randn(8, F), 1, 20)
    with pytest.raises(ValueError, match="views"):
        with_views(split["train"], torch.zeros(4, 2, F))
    with pytest.raises(ValueError, match="6 train records"):
        prepare_splits(records(), torch.randn(8, F), 1, 20, views=views_of(5))
