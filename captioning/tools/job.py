"""CaptionJob: what a folder-captioning run writes and how it batches. No torch here (the CLI reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.config import Config, check, option

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

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.limit is None or self.limit >= 1, "limit", f"must be >= 1, got {self.limit}")
        check(self.format is None or self.output is not None, "format", "needs an output file")
        check(self.format is None or self.format in FORMATS, "format",
              f"unknown '{self.format}' (choose from {', '.join(FORMATS)})")
        check(self.overlay is None or not Path(self.overlay).is_file(), "overlay",
              f"{self.overlay} is a file, not a folder")
        check(self.grid is None or not Path(self.grid).is_dir(), "grid", f"{self.grid} is a folder")
