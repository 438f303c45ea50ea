"""CaptionJob: what a folder-captioning run writes and how it batches. No torch here (the CLI reads it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.config import Config, check, option
from ..core.errors import InputError
from ..core.io import regular_file
from ..render.targets import FORMATS as FIGURE_FORMATS

FORMATS = ("jsonl", "json", "csv")
GRID_MAX = 50  # images in the grid figure
STDOUT = "-"  # the output "-": JSONL records on standard output
TO_STDOUT = "for standard output, give - as the output"


@dataclass
class CaptionJob(Config):
    """Outputs and batching of `caption_paths` (the `captioning caption` command)."""

    output: str | None = option(None, "captions file: .jsonl (streamed), .json or .csv; a rerun "
                                "with the same file resumes; - writes JSONL to standard output "
                                "(no resume)", short="o", metavar="FILE")
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
        to_stdout = self.output is not None and str(self.output) == STDOUT
        check(not to_stdout or self.format in (None, "jsonl"), "format",
              f"the output - (standard output) takes JSONL only, not {self.format}")
        if self.output is not None and not to_stdout:
            if _is_folder(self.output):
                check(False, "output", f"{self.output} is a folder; give a file name such as "
                                       f"{Path(self.output) / 'captions.jsonl'}")
            problem = output_problem(self.output)
            check(problem is None, "output", f"{problem} ({TO_STDOUT})")
        check(self.grid is None or not _is_folder(self.grid), "grid", f"{self.grid} is a folder")
        check(self.grid is None or Path(self.grid).suffix.lower() in FIGURE_FORMATS, "grid",
              f"{self.grid}: a grid is a PNG or JPEG image; give a .png or .jpg name")


def output_problem(path: str | Path) -> str | None:
    """Why captions cannot be written to path: it is (or links to) a FIFO, device, socket or folder,
    which would block, never end or mix with other output, or it is a /dev or /proc entry such as
    /dev/stdout. None for a regular file or nothing there."""
    try:
        regular_file(path, "captions file")
    except InputError as exc:
        return str(exc)
    where = os.path.abspath(path)
    if where.startswith(("/dev/", "/proc/")) and not where.startswith("/dev/shm/"):
        return f"{path}: the captions file is a /{where.split(os.sep)[1]} entry, not a regular file"
    return None


def _is_folder(path: str | Path) -> bool:
    """An existing folder, or a name ending with a path separator (some/folder/)."""
    return str(path).endswith(("/", os.sep)) or Path(path).is_dir()
