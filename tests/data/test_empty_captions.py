"""Issue 29, item 6: empty captions are dropped by every loader with one warning line naming the
images; training leaves out images with no caption left (one line per split) and refuses a
train split with none."""

import json
import logging
from pathlib import Path

import pytest
import torch

from captioning.core.errors import InputError
from captioning.data.coco import load_coco
from captioning.data.flickr8k import load_flickr8k
from captioning.data.karpathy import read_karpathy
from captioning.data.records import ImageRecord
from captioning.data.tensors import prepare_splits


def test_karpathy_drops_empty_captions_naming_the_images(tmp_path, caplog):
    images = [{"filename": f"{i}.jpg", "split": "train", "cocoid": i,
               "sentences": [{"raw": raw} for raw in captions]}
              for i, captions in enumerate([["a dog", ""], ["  ", None], ["a cat"]])]
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"images": images}))
    with caplog.at_level(logging.WARNING, logger="captioning"):
        records = read_karpathy(path)
    assert [r.captions for r in records] == [["a dog"], [], ["a cat"]]
    assert [r.getMessage() for r in caplog.records] == [f"{path}: dropped 3 empty captions (image 0, 1)"]


def test_coco_drops_empty_captions_naming_the_images(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    ann = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in (1, 2)],
           "annotations": [{"id": 1, "image_id": 1, "caption": ""}, {"id": 2, "image_id": 2, "caption": "a dog"},
                           {"id": 3, "image_id": 2, "caption": " \t"}]}
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(ann))
    with caplog.at_level(logging.WARNING, logger="captioning"):
        records = load_coco(path, tmp_path / "images")
    assert [r.captions for r in records] == [[], ["a dog"]]
    assert [r.getMessage() for r in caplog.records] == [f"{path}: dropped 2 empty captions (image 1, 2)"]


def test_flickr8k_drops_empty_captions(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"x")
    (tmp_path / "captions.tsv").write_text("a.jpg\t0\ta dog runs\na.jpg\t1\t \n")
    with caplog.at_level(logging.WARNING, logger="captioning"):
        records = load_flickr8k(tmp_path)
    assert records[0].captions == ["a dog runs"]
    assert "dropped 1 empty caption (image a.jpg)" in caplog.text


def _records(captions_by_split):
    return [ImageRecord(Path(f"/x/{split}-{i}.jpg"), split, caps, f"{split}-{i}")
            for split, rows in captions_by_split.items() for i, caps in enumerate(rows)]


def test_training_leaves_out_images_without_captions(caplog):
    records = _records({"train": [["a dog"], [], ["a cat"]], "val": [[], ["a dog"]], "test": [[]]})
    features = torch.arange(6.0)[:, None].repeat(1, 4)
    with caplog.at_level(logging.WARNING, logger="captioning"):
        _, split, _ = prepare_splits(records, features, min_count=1, max_words=10)
    assert split["train"].image_ids == ["train-0", "train-2"] and split["val"].image_ids == ["val-1"]
    assert "test" not in split  # nothing left to score there
    assert split["train"].features[:, 0].tolist() == [0.0, 2.0] and split["val"].features[:, 0].tolist() == [4.0]
    assert "the train split: left out 1 of 3 images with no non-empty caption (e.g. /x/train-1.jpg, image train-1)" \
        in caplog.text


@pytest.mark.parametrize(("rows", "problem"), [
    ({"train": [[], []], "val": [["a dog"]]}, "the train split has no non-empty captions"),
    ({"val": [["a dog"]]}, "the dataset has no 'train' split"),
])
def test_a_train_split_with_nothing_to_learn_is_refused(rows, problem):
    with pytest.raises(InputError, match=problem):
        prepare_splits(_records(rows), torch.zeros(3, 4), min_count=1, max_words=10)
