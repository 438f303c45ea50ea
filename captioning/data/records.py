"""The one in-memory form every loader produces: a list of ImageRecord."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError

SPLITS = ("train", "val", "test")
log = logging.getLogger(__name__)


@dataclass
class ImageRecord:
    """One image: where it is, which split it belongs to, and its human captions."""

    path: Path
    split: str
    captions: list[str] = field(default_factory=list)
    image_id: int | str = 0


def report_empty(source: object, images: Sequence[object]) -> None:
    """One warning line for the captions a loader dropped because they were empty ("" or blank),
    naming the images they belonged to (one entry per dropped caption)."""
    if images:
        named = ", ".join(str(i) for i in list(dict.fromkeys(images))[:5])
        more = ", ..." if len(set(images)) > 5 else ""
        log.warning("%s: dropped %d empty caption%s (image %s%s)", source, len(images),
                    "s" if len(images) > 1 else "", named, more)


def require_captions(records: Sequence[ImageRecord], split: str = "train") -> None:
    """An InputError unless some image of the split has a (non-empty) caption to learn from."""
    if not any(r.split == split for r in records):
        raise InputError(f"the dataset has no '{split}' split")
    if not any(r.captions for r in records if r.split == split):
        raise InputError(f"the {split} split has no non-empty captions: every caption of its images is empty or "
                         "missing, so there is nothing to train on")


def select_split(records: Sequence[ImageRecord], split: str) -> list[ImageRecord]:
    """Records of one split ('all' for every record); an unknown or empty split is an error."""
    if split == "all":
        return list(records)
    chosen = [r for r in records if r.split == split]
    if not chosen:
        found = sorted({r.split for r in records})
        raise InputError(f"split '{split}' has no images (splits present: {', '.join(found)})")
    return chosen
