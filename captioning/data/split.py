"""The deterministic split: sort the image ids; the last `test` are test, the `val` before them val."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.config import Config, ConfigError, check, option
from .records import ImageRecord


@dataclass
class SplitConfig(Config):
    """How many images the fixed split puts in val and test (the rest are train)."""

    val: int = option(250, "images in the val split (the ids just before test)")
    test: int = option(250, "images in the test split (the largest image ids)")

    def __post_init__(self) -> None:
        check(self.val >= 0, "val", f"must be >= 0, got {self.val}")
        check(self.test >= 0, "test", f"must be >= 0, got {self.test}")


def make_split(records: Sequence[ImageRecord], sizes: SplitConfig | None = None) -> list[ImageRecord]:
    """Sort by image id; the last `test` are test, the `val` before them val, the rest train."""
    sizes = sizes or SplitConfig()
    if sizes.val + sizes.test >= len(records):
        raise ConfigError("val", f"{sizes.val} + test {sizes.test} must be fewer than the "
                                 f"{len(records)} images")
    ordered = sorted(records, key=lambda r: r.image_id)
    n_train = len(ordered) - sizes.val - sizes.test
    names = ["train"] * n_train + ["val"] * sizes.val + ["test"] * sizes.test
    return [ImageRecord(r.path, s, list(r.captions), r.image_id) for r, s in zip(ordered, names)]
