"""COCO captions through pycocotools, the deterministic split, and Karpathy-style split JSON."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..io import read_json, write_json
from ..text import tokenize
from .datasets import ImageRecord


def load_coco(annotations: str | Path, images: str | Path) -> list[ImageRecord]:
    """Every image of a COCO caption annotation file, in ascending image-id order, split ''."""
    from pycocotools.coco import COCO

    annotations, images = Path(annotations), Path(images)
    if not annotations.is_file():
        raise ValueError(f"{annotations}: no such COCO annotation file")
    if not images.is_dir():
        raise ValueError(f"{images}: no such image folder")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco = COCO(str(annotations))
    except Exception as exc:  # pycocotools raises bare AssertionError/KeyError on bad files
        raise ValueError(f"{annotations}: not a COCO annotation file ({exc!r})") from None
    records = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        caps = [a["caption"].strip() for a in anns if a.get("caption", "").strip()]
        records.append(ImageRecord(images / info["file_name"], "", caps, image_id))
    return records


def make_split(records: Sequence[ImageRecord], val: int = 250, test: int = 250) -> list[ImageRecord]:
    """Sort by image id; the last `test` are test, the `val` before them val, the rest train."""
    if val < 0 or test < 0 or val + test >= len(records):
        raise ValueError(f"--val {val} + --test {test} must be smaller than the {len(records)} images")
    ordered = sorted(records, key=lambda r: r.image_id)
    n_train = len(ordered) - val - test
    names = ["train"] * n_train + ["val"] * val + ["test"] * test
    return [ImageRecord(r.path, s, list(r.captions), r.image_id) for r, s in zip(ordered, names)]


def write_karpathy(records: Sequence[ImageRecord], out: str | Path, dataset: str = "coco") -> Path:
    """Write a dataset_coco.json-style file; image folders are stored relative to the file."""
    out = Path(out).resolve()
    images = []
    for i, r in enumerate(records):
        folder = os.path.relpath(Path(r.path).resolve().parent, out.parent)
        images.append({
            "filepath": folder, "filename": Path(r.path).name, "imgid": i,
            "cocoid": r.image_id, "split": r.split,
            "sentences": [{"raw": c, "tokens": tokenize(c)} for c in r.captions],
        })
    return write_json(out, {"dataset": dataset, "images": images})


def _resolve(root: Path | None, base: Path, filepath: str, filename: str) -> Path:
    """First existing of root/filepath/filename, root/filename, base/filepath/filename."""
    options = [root / filepath / filename, root / filename] if root else []
    options += [base / filepath / filename, Path(filepath) / filename]
    return next((p for p in options if p.exists()), options[0])


def read_karpathy(path: str | Path, images: str | Path | None = None, data: dict | None = None) -> list[ImageRecord]:
    """Read a Karpathy-style split JSON; 'restval' counts as train. Paths resolve against `images`."""
    path = Path(path)
    data = data if data is not None else read_json(path, "dataset file")
    root = Path(images) if images is not None else None
    if root is not None and not root.is_dir():
        raise ValueError(f"{root}: no such image folder")
    records = []
    for n, item in enumerate(data.get("images", [])):
        try:
            filename = item["filename"]
            split = "train" if item.get("split") == "restval" else item["split"]
            captions = [s["raw"].strip() for s in item["sentences"] if s.get("raw", "").strip()]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: images[{n}] lacks field {exc}") from None
        image_path = _resolve(root, path.resolve().parent, item.get("filepath", ""), filename)
        records.append(ImageRecord(image_path, split, captions, item.get("cocoid", item.get("imgid", n))))
    if not records:
        raise ValueError(f"{path}: the dataset has no images")
    return records
