"""load_dataset: a Karpathy-style split JSON or a COCO annotation file, told apart by content."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.io import regular_file
from .coco import load_coco
from .karpathy import read_karpathy
from .records import ImageRecord
from .split import SplitConfig, make_split


def load_dataset(path: str | Path, images: str | Path | None = None,
                 split: SplitConfig | None = None) -> list[ImageRecord]:
    """Load a Karpathy-style split JSON, or a COCO annotation file split deterministically
    (`split` sizes); `images` is the folder the dataset's image paths resolve against."""
    path = regular_file(path, "dataset file")
    if not path.is_file():
        raise InputError(f"{path}: no such dataset file")
    try:
        with path.open() as fh:
            head = json.load(fh)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a JSON dataset file ({exc})") from None
    if isinstance(head, dict) and "annotations" in head:
        if images is None:
            raise ConfigError("images", f"{path} is a COCO annotation file: give its image folder")
        return make_split(load_coco(path, images), split)
    if isinstance(head, dict) and "images" in head:
        return read_karpathy(path, images, data=head)
    raise InputError(f"{path}: neither a Karpathy-style split JSON nor a COCO annotation file")
