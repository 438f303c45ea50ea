"""Records + features -> padded token matrices per split, with the vocabulary from train only."""

from pathlib import Path

import pytest
import torch

from captioning.data.records import ImageRecord
from captioning.data.tensors import build_split, prepare_splits, training_records
from captioning.text.vocabulary import Vocabulary

pytestmark = pytest.mark.usefixtures("core_one_thread")


def rec(i, split, *captions):
    return ImageRecord(Path(f"/img/{i}.jpg"), split, list(captions), i)


RECORDS = [
    rec(0, "train", "A dog runs.", "a dog sits"),
    rec(1, "train", "a cat sits"),
    rec(2, "val", "a zebra runs"),
    rec(3, "test", "a dog", "a cat", "the dog"),
]


def test_build_split_pads_and_tracks_owners():
    vocab = Vocabulary(["a", "dog", "runs", "sits"])
    feats = torch.randn(2, 5)
    t = build_split(RECORDS[:2], feats, vocab, max_words=20)
    assert t.tokens.tolist() == [[1, 4, 5, 6, 2], [1, 4, 5, 7, 2], [1, 4, 3, 7, 2]]
    assert t.owner.tolist() == [0, 0, 1]
    assert t.image_ids == [0, 1] and len(t) == 2
    assert t.references == {0: ["A dog runs.", "a dog sits"], 1: ["a cat sits"]}
    assert torch.equal(t.features, feats)
    short = build_split([rec(9, "train", "a dog", "a dog runs sits")], feats[:1], vocab, max_words=20)
    assert short.tokens.tolist() == [[1, 4, 5, 2, 0, 0], [1, 4, 5, 6, 7, 2]]  # <pad> = 0


def test_build_split_truncates_to_max_words():
    vocab = Vocabulary(["w"])
    t = build_split([rec(0, "train", " ".join(["w"] * 30))], torch.zeros(1, 2), vocab, max_words=5)
    assert t.tokens.tolist() == [[1, 4, 4, 4, 4, 4, 2]]


def test_build_split_without_captions():
    t = build_split([rec(0, "test")], torch.zeros(1, 3), Vocabulary([]), max_words=20)
    assert t.tokens.shape == (0, 2) and t.owner.numel() == 0


def test_subset_keeps_the_first_images_and_their_captions():
    _, split, _ = prepare_splits(RECORDS, torch.arange(4.0)[:, None], min_count=1, max_words=20)
    test = split["test"]
    sub = test.subset(1)
    assert len(sub) == 1 and sub.image_ids == [3] and sub.references == {3: ["a dog", "a cat", "the dog"]}
    assert len(sub.tokens) == 3 and sub.owner.tolist() == [0, 0, 0]
    assert test.subset(0) is test and test.subset(5) is test


def test_prepare_splits_builds_vocab_from_train_only():
    feats = torch.arange(4.0)[:, None].repeat(1, 3)
    vocab, split, recs = prepare_splits(RECORDS, feats, min_count=1, max_words=20)
    assert set(vocab.itos[4:]) == {"a", "dog", "runs", "sits", "cat"}  # 'zebra', 'the' are val/test only
    assert set(split) == {"train", "val", "test"}
    assert split["val"].tokens.tolist() == [[1, vocab.stoi["a"], vocab.unk_id, vocab.stoi["runs"], 2]]
    assert split["test"].features[:, 0].tolist() == [3.0]
    assert split["train"].features[:, 0].tolist() == [0.0, 1.0]
    assert [r.image_id for r in recs["train"]] == [0, 1]
    assert len(split["train"].tokens) == 3


def test_prepare_splits_reuses_a_given_vocab_and_needs_train():
    vocab = Vocabulary(["zebra"])
    got, split, _ = prepare_splits(RECORDS, torch.zeros(4, 2), 5, 20, vocab=vocab)
    assert got is vocab and split["val"].tokens[0, 2].item() == 4
    with pytest.raises(ValueError, match=r"no 'train' split"):
        prepare_splits(RECORDS[2:], torch.zeros(2, 2), 5, 20)


def test_train_val_trains_on_val_too_and_keeps_the_val_split():
    vocab, split, recs = prepare_splits(RECORDS, torch.arange(4.0)[:, None], min_count=1, max_words=20,
                                        train_val=True)
    assert split["train"].image_ids == [0, 1, 2] and split["val"].image_ids == [2]
    assert "zebra" in vocab.itos  # val captions count for the vocabulary too
    assert split["train"].features[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert [r.image_id for r in recs["train"]] == [0, 1, 2]
    assert [r.image_id for r in training_records(RECORDS, train_val=True)] == [0, 1, 2]
    assert [r.image_id for r in training_records(RECORDS)] == [0, 1]


def test_train_val_views_cover_the_val_images():
    extra = torch.arange(3.0)[:, None, None] + 10  # views of records 0, 1, 2 (train, train, val)
    _, split, _ = prepare_splits(RECORDS, torch.arange(4.0)[:, None], 1, 20, views=extra, train_val=True)
    assert split["train"].views == 2 and split["train"].store[:, 0].tolist() == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    with pytest.raises(ValueError, match="2 rows for 3 train records"):
        prepare_splits(RECORDS, torch.arange(4.0)[:, None], 1, 20, views=extra[:2], train_val=True)
