"""Karpathy-style split JSON (dataset_coco.json): the format published COCO captioning uses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import InputError
from ..core.io import read_json, write_json
from ..text.tokenizer import tokenize
from .records import ImageRecord, report_empty


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
        raise InputError(f"{root}: no such image folder")
    records, empty = [], []
    for n, item in enumerate(data.get("images", [])):
        try:
            filename = item["filename"]
            split = "train" if item.get("split") == "restval" else item["split"]
            raw = [str(s.get("raw") or "").strip() for s in item["sentences"]]
        except (KeyError, TypeError) as exc:
            raise InputError(f"{path}: images[{n}] lacks field {exc}") from None
        image_id = item.get("cocoid", item.get("imgid", n))
        empty += [image_id] * raw.count("")
        image_path = _resolve(root, path.resolve().parent, item.get("filepath", ""), filename)
        records.append(ImageRecord(image_path, split, [c for c in raw if c], image_id))
    report_empty(path, empty)
    if not records:
        raise InputError(f"{path}: the dataset has no images")
    return records
