"""CaptionJob: what a folder-captioning run writes and how it batches. No torch here (the CLI reads it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.config import Config, check, option
from ..render.targets import FORMATS as FIGURE_FORMATS

FORMATS = ("jsonl", "json", "csv")
GRID_MAX = 50  # images in the grid figure


@dataclass
class CaptionJob(Config):
    """Outputs and batching of `caption_paths` (the `captioning caption` command)."""

    output: str | None = option(None, "captions file: .jsonl (streamed), .json or .csv; a rerun "
                                "with the same file resumes", short="o", metavar="FILE")
    format: str | None = option(None, "output format (default: from the output file's suffix)",
                                choices=FORMATS)
    overlay: str | None = option(None, "write one PNG per image: the image and its caption", metavar="DIR")
    grid: str | None = option(None, f"write a grid of (up to {GRID_MAX}) captioned images", metavar="FILE.png")
    batch_size: int = option(32, "images per CNN and decoding batch")
    limit: int | None = option(None, "caption at most N images", metavar="N")
    force: bool = option(False, "let the grid and overlays replace files captioning did not make, "
                                "and add to an output made with other decoding settings")

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.limit is None or self.limit >= 1, "limit", f"must be >= 1, got {self.limit}")
        check(self.format is None or self.output is not None, "format", "needs an output file")
        check(self.format is None or self.format in FORMATS, "format",
              f"unknown '{self.format}' (choose from {', '.join(FORMATS)})")
        check(self.overlay is None or not Path(self.overlay).is_file(), "overlay",
              f"{self.overlay} is a file, not a folder")
        if self.output is not None and _is_folder(self.output):
            check(False, "output", f"{self.output} is a folder; give a file name such as "
                                   f"{Path(self.output) / 'captions.jsonl'}")
        check(self.grid is None or not _is_folder(self.grid), "grid", f"{self.grid} is a folder")
        check(self.grid is None or Path(self.grid).suffix.lower() in FIGURE_FORMATS, "grid",
              f"{self.grid}: a grid is a PNG or JPEG image; give a .png or .jpg name")


def _is_folder(path: str | Path) -> bool:
    """An existing folder, or a name ending with a path separator (some/folder/)."""
    return str(path).endswith(("/", os.sep)) or Path(path).is_dir()
