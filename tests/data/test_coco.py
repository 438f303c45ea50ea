"""COCO loading, the deterministic split, Karpathy-style split JSON and load_dataset's errors."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from captioning.data.coco import load_coco
from captioning.data.datasets import load_dataset
from captioning.data.karpathy import read_karpathy, write_karpathy
from captioning.data.records import ImageRecord, select_split
from captioning.data.split import SplitConfig, make_split


def records(ids):
    return [ImageRecord(Path(f"/x/{i}.jpg"), "", [f"caption {i}"], i) for i in ids]


def tiny_coco(root: Path, n: int = 6) -> tuple[Path, Path]:
    """A COCO caption annotation file for n one-byte 'images' (ids 10, 20, ...), listed shuffled."""
    images = root / "images"
    images.mkdir(parents=True)
    ids = [10 * (i + 1) for i in range(n)]
    random.Random(0).shuffle(ids)
    for i in ids:
        (images / f"{i:012d}.jpg").write_bytes(b"x")
    ann = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in ids],
        "annotations": [{"id": 100 * i + k, "image_id": i, "caption": f" picture {i} number {k} "}
                        for i in ids for k in range(2)],
    }
    path = root / "captions.json"
    path.write_text(json.dumps(ann))
    return path, images


# ---- make_split -----------------------------------------------------------------------------

def test_make_split_sorts_by_id_and_puts_test_last():
    out = make_split(records([7, 3, 9, 1, 5, 8, 2]), SplitConfig(val=2, test=2))
    assert [r.image_id for r in out] == [1, 2, 3, 5, 7, 8, 9]
    assert [r.split for r in out] == ["train"] * 3 + ["val"] * 2 + ["test"] * 2
    assert out[0].captions == ["caption 1"]


def test_make_split_does_not_modify_its_input():
    recs = records([2, 1])
    make_split(recs, SplitConfig(val=0, test=1))
    assert [(r.image_id, r.split) for r in recs] == [(2, ""), (1, "")]


@pytest.mark.parametrize(("val", "test"), [(3, 2), (5, 0), (0, 6), (-1, 1)])
def test_make_split_rejects_val_plus_test_too_large(val, test):
    with pytest.raises(ValueError, match=r"(must be fewer than the 5 images|must be >= 0)"):
        make_split(records(range(5)), SplitConfig(val=val, test=test))


@pytest.mark.integration
def test_split_of_the_shared_coco_file(core_shared_coco):
    ann, images = core_shared_coco / "captions_val2017.json", core_shared_coco / "images"
    first = make_split(load_coco(ann, images))
    again = make_split(load_coco(ann, images))
    assert len(first) == 2709
    assert Counter(r.split for r in first) == {"train": 2209, "val": 250, "test": 250}
    ids = [r.image_id for r in first]
    assert ids == sorted(ids) and len(set(ids)) == 2709
    assert {r.image_id for r in first if r.split == "test"} == set(ids[-250:])
    assert {r.image_id for r in first if r.split == "val"} == set(ids[-500:-250])
    assert [(r.image_id, r.split, r.captions) for r in first] == \
        [(r.image_id, r.split, r.captions) for r in again]
    assert all(r.path.is_file() and len(r.captions) >= 5 for r in first[:50])
    assert first[0].image_id == 285 and first[0].path.name == "000000000285.jpg"
    # shuffled input gives the same split
    shuffled = list(first)
    random.Random(1).shuffle(shuffled)
    assert [(r.image_id, r.split) for r in make_split(shuffled)] == [(r.image_id, r.split) for r in first]


# ---- load_coco --------------------------------------------------------------------------------

def test_load_coco_reads_captions_in_id_order(tmp_path):
    ann, images = tiny_coco(tmp_path)
    recs = load_coco(ann, images)
    assert [r.image_id for r in recs] == [10, 20, 30, 40, 50, 60]
    assert all(r.split == "" for r in recs)
    assert recs[0].path == images / "000000000010.jpg"
    assert recs[0].captions == ["picture 10 number 0", "picture 10 number 1"]


def test_load_coco_errors_name_the_file(tmp_path):
    ann, images = tiny_coco(tmp_path)
    with pytest.raises(ValueError, match=r"nope.json"):
        load_coco(tmp_path / "nope.json", images)
    with pytest.raises(ValueError, match=r"no such image folder"):
        load_coco(ann, tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text('{"annotations": 3}')
    with pytest.raises(ValueError, match=r"bad.json"):
        load_coco(bad, images)


# ---- Karpathy-style split JSON ------------------------------------------------------------------

def _make_images(folder: Path, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")
    return [folder / n for n in names]


def test_write_read_karpathy_round_trip(tmp_path):
    paths = _make_images(tmp_path / "pics", ["a.jpg", "b.jpg", "c.jpg"])
    recs = [ImageRecord(p, s, [f"A {p.stem} caption.", "another one"], 100 + i)
            for i, (p, s) in enumerate(zip(paths, ["train", "val", "test"]))]
    out = write_karpathy(recs, tmp_path / "splits" / "split.json")
    data = json.loads(out.read_text())
    assert data["dataset"] == "coco"
    assert data["images"][0]["filepath"] == "../pics"  # stored relative to the JSON file
    assert data["images"][0]["sentences"][0]["tokens"] == ["a", "a", "caption"]
    back = read_karpathy(out)
    assert [r.path.resolve() for r in back] == [p.resolve() for p in paths]
    assert [(r.split, r.captions, r.image_id) for r in back] == [(r.split, r.captions, r.image_id) for r in recs]
    assert load_dataset(out)[1].path.resolve() == paths[1].resolve()


def test_read_karpathy_resolves_against_the_json_folder_not_the_cwd(tmp_path, monkeypatch):
    _make_images(tmp_path / "data" / "imgs", ["x.jpg"])
    path = tmp_path / "data" / "split.json"
    path.write_text(json.dumps({"images": [
        {"filepath": "imgs", "filename": "x.jpg", "split": "train", "sentences": [{"raw": "x"}]}]}))
    monkeypatch.chdir(tmp_path)
    (rec,) = read_karpathy(Path("data/split.json"))
    assert rec.path.is_file() and rec.path.resolve() == (tmp_path / "data" / "imgs" / "x.jpg").resolve()


def test_read_karpathy_with_images_root(tmp_path):
    paths = _make_images(tmp_path / "old", ["a.jpg", "b.jpg"])
    out = write_karpathy([ImageRecord(p, "train", ["c"], i) for i, p in enumerate(paths)], tmp_path / "s.json")
    moved = tmp_path / "moved"
    _make_images(moved / "val2014", ["a.jpg"])  # root/filepath... absent, root/<folder>/name here
    _make_images(moved, ["b.jpg"])
    data = json.loads(out.read_text())
    data["images"][0]["filepath"] = "val2014"
    out.write_text(json.dumps(data))
    back = read_karpathy(out, images=moved)
    assert back[0].path == moved / "val2014" / "a.jpg"   # root/filepath/filename
    assert back[1].path == moved / "b.jpg"                # root/filename
    assert load_dataset(out, images=moved)[1].path == moved / "b.jpg"
    with pytest.raises(ValueError, match=r"no such image folder"):
        read_karpathy(out, images=tmp_path / "absent")


def test_restval_counts_as_train(tmp_path):
    path = tmp_path / "karpathy.json"
    path.write_text(json.dumps({"images": [
        {"filename": "a.jpg", "split": "restval", "cocoid": 1, "sentences": [{"raw": "one "}, {"raw": "  "}]},
        {"filename": "b.jpg", "split": "train", "cocoid": 2, "sentences": [{"raw": "two"}]},
        {"filename": "c.jpg", "split": "test", "imgid": 7, "sentences": [{"raw": "three"}]},
    ]}))
    recs = read_karpathy(path)
    assert [r.split for r in recs] == ["train", "train", "test"]
    assert recs[0].captions == ["one"]  # blank captions dropped, text stripped
    assert [r.image_id for r in recs] == [1, 2, 7]
    assert len(select_split(recs, "train")) == 2


def test_read_karpathy_errors_name_the_file(tmp_path):
    path = tmp_path / "fields.json"
    path.write_text(json.dumps({"images": [{"filename": "a.jpg", "sentences": []}]}))
    with pytest.raises(ValueError, match=r"fields.json: images\[0\] lacks field 'split'"):
        read_karpathy(path)
    empty = tmp_path / "empty.json"
    empty.write_text('{"images": []}')
    with pytest.raises(ValueError, match=r"empty.json: the dataset has no images"):
        read_karpathy(empty)


# ---- load_dataset ---------------------------------------------------------------------------------

def test_load_dataset_on_a_coco_file_needs_images(tmp_path):
    ann, images = tiny_coco(tmp_path)
    with pytest.raises(ValueError, match=r"images: .* is a COCO annotation file"):
        load_dataset(ann)
    recs = load_dataset(ann, images, SplitConfig(val=1, test=2))
    assert [r.split for r in recs] == ["train"] * 3 + ["val"] + ["test"] * 2
    assert [r.image_id for r in recs if r.split == "test"] == [50, 60]


@pytest.mark.parametrize(("content", "message"), [
    ("{oops", "not a JSON dataset file"),
    ('{"something": []}', "neither a Karpathy-style split JSON nor a COCO annotation file"),
    ("[1, 2]", "neither"),
])
def test_load_dataset_bad_files_raise_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "weird.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_dataset(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_load_dataset_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"missing.json: no such dataset file") as info:
        load_dataset(tmp_path / "missing.json")
    assert "\n" not in str(info.value)


def test_select_split():
    recs = make_split(records(range(6)), SplitConfig(val=1, test=1))
    assert [r.image_id for r in select_split(recs, "test")] == [5]
    assert len(select_split(recs, "all")) == 6
    with pytest.raises(ValueError, match=r"split 'dev' has no images.*test, train, val"):
        select_split(recs, "dev")
