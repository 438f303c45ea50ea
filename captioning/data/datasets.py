"""The one in-memory form every loader produces: a list of ImageRecord."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")


@dataclass
class ImageRecord:
    """One image: where it is, which split it belongs to, and its human captions."""

    path: Path
    split: str
    captions: list[str] = field(default_factory=list)
    image_id: int | str = 0


def select_split(records: Sequence[ImageRecord], split: str) -> list[ImageRecord]:
    """Records of one split ('all' for every record); an unknown or empty split is an error."""
    if split == "all":
        return list(records)
    chosen = [r for r in records if r.split == split]
    if not chosen:
        found = sorted({r.split for r in records})
        raise ValueError(f"split '{split}' has no images (splits present: {', '.join(found)})")
    return chosen


def find_shared_coco() -> Path | None:
    """The shared COCO val2017 subset (../shared/data/coco-val2017) seen from here or the repo."""
    env = os.environ.get("CAPTIONING_SHARED_COCO")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[2]
    candidates += [Path.cwd() / "../shared/data/coco-val2017", repo / "../shared/data/coco-val2017"]
    for c in candidates:
        if (c / "captions_val2017.json").is_file() and (c / "images").is_dir():
            return c.resolve()
    return None


def load_dataset(
    path: str | Path | None = None, images: str | Path | None = None, val: int = 250, test: int = 250
) -> list[ImageRecord]:
    """Load a Karpathy-style split JSON, or a COCO annotation file (split deterministically).

    With no path, the shared COCO subset is used when it exists."""
    from .coco import load_coco, make_split, read_karpathy

    if path is None:
        shared = find_shared_coco()
        if shared is None:
            raise ValueError("no --dataset given and ../shared/data/coco-val2017 was not found")
        return make_split(load_coco(shared / "captions_val2017.json", shared / "images"), val, test)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such dataset file")
    try:
        with path.open() as fh:
            head = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON dataset file ({exc})") from None
    if isinstance(head, dict) and "annotations" in head:
        if images is None:
            raise ValueError(f"{path}: a COCO annotation file needs --images DIR")
        return make_split(load_coco(path, images), val, test)
    if isinstance(head, dict) and "images" in head:
        return read_karpathy(path, images, data=head)
    raise ValueError(f"{path}: neither a Karpathy-style split JSON nor a COCO annotation file")
