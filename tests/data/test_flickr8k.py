"""Flickr8k: the shared partial copy, the release's token format and the official split lists."""

from collections import Counter

import pytest

from captioning.data.flickr8k import load_flickr8k
from tests.shared import shared_coco

_COCO = shared_coco()
SHARED = _COCO.parent / "flickr8k" if _COCO else None


@pytest.mark.integration
@pytest.mark.skipif(SHARED is None or not SHARED.is_dir(), reason="no ../shared/data/flickr8k")
def test_shared_flickr8k():
    recs = load_flickr8k(SHARED)
    assert len(recs) == 94
    assert Counter(r.split for r in recs) == {"train": 75, "val": 10, "test": 8, "": 1}
    assert [r.path.name for r in recs if r.split == ""] == ["61209225_8512e1dad5.jpg"]
    assert all(len(r.captions) == 5 and r.path.is_file() for r in recs)
    names = [r.image_id for r in recs]
    assert names == sorted(names)
    first = recs[0]
    assert first.image_id == "101654506_8eb26cfb60.jpg"
    assert first.captions[0] == "A brown and white dog is running through the snow ."


def _root(tmp_path, names=("a.jpg", "b.jpg", "c.jpg")):
    (tmp_path / "images").mkdir()
    for n in names:
        (tmp_path / "images" / n).write_bytes(b"x")
    return tmp_path


def test_release_token_format_and_split_files(tmp_path):
    root = _root(tmp_path)
    (root / "Flickr8k.token.txt").write_text(
        "a.jpg#0\tA dog runs .\n"
        "a.jpg#1\tA dog is running\n"
        "\n"
        "b.jpg#0\tTwo cats .\n"
        "c.jpg#0\tA bird\n"
        "gone.jpg#0\tNo such image\n")
    (root / "splits").mkdir()
    (root / "splits" / "Flickr_8k.trainImages.txt").write_text("a.jpg\n\n")
    (root / "splits" / "Flickr_8k.devImages.txt").write_text("b.jpg\n")
    recs = load_flickr8k(root)
    assert [r.image_id for r in recs] == ["a.jpg", "b.jpg", "c.jpg"]  # gone.jpg has no image file
    assert [r.split for r in recs] == ["train", "val", ""]
    assert recs[0].captions == ["A dog runs .", "A dog is running"]
    assert recs[0].path == root / "images" / "a.jpg"


def test_tsv_format_and_short_split_names(tmp_path):
    root = _root(tmp_path, ["a.jpg", "b.jpg"])
    (root / "captions.tsv").write_text("a.jpg\t0\tA dog .\nb.jpg\t0\t A cat \nb.jpg\t1\tA kitten\n")
    (root / "splits").mkdir()
    (root / "splits" / "test.txt").write_text("b.jpg\n")
    (root / "splits" / "train.txt").write_text("a.jpg\n")
    recs = load_flickr8k(root)
    assert [(r.image_id, r.split, r.captions) for r in recs] == [
        ("a.jpg", "train", ["A dog ."]), ("b.jpg", "test", ["A cat", "A kitten"])]


def test_malformed_caption_line_names_file_and_line(tmp_path):
    root = _root(tmp_path)
    (root / "captions.tsv").write_text("a.jpg\t0\tfine\nno tabs here\n")
    with pytest.raises(ValueError, match=r"captions.tsv:2: expected"):
        load_flickr8k(root)


def test_missing_captions_or_images(tmp_path):
    root = _root(tmp_path)
    with pytest.raises(ValueError, match=r"no captions.tsv or Flickr8k.token.txt"):
        load_flickr8k(root)
    (root / "captions.tsv").write_text("zzz.jpg\t0\tnothing here\n")
    with pytest.raises(ValueError, match=r"no Flickr8k images with captions"):
        load_flickr8k(root)
