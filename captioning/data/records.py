"""The one in-memory form every loader produces: a list of ImageRecord."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError

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
        raise InputError(f"split '{split}' has no images (splits present: {', '.join(found)})")
    return chosen
