"""Expand files, folders and glob patterns into the image files to caption."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import printable

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)
_GLOB_CHARS = re.compile(r"[*?\[]")



def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk(folder: str, problems: list[str]) -> list[str]:
    """All image files below folder, skipping hidden entries and symlink loops."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        problems.append(f"cannot read folder {printable(str(err.filename))}: {err.strerror}")

    for root, dirs, files in os.walk(folder, onerror=on_error, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink back to a folder already walked
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            os.path.join(root, f) for f in files if not f.startswith(".") and _is_image_name(f)
        ]
    return found


def discover_images(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files, folders (recursive, skipping hidden dirs/files) and glob patterns into a
    sorted, de-duplicated list of image paths (by extension, case-insensitive); also return
    one-line problems such as 'no such file or folder: X' or 'no images found in X'. An
    explicitly named file with a non-image extension is still returned (loading will judge it).
    """
    found: list[str] = []
    problems: list[str] = []
    for item in inputs:
        text = os.path.expanduser(os.fspath(item))
        shown = printable(os.fspath(item))
        if os.path.isdir(text):
            images = _walk(text, problems)
            if not images:
                problems.append(f"no images found in {shown}")
            found += images
        elif os.path.lexists(text):  # a file, or a broken link that loading will report
            found.append(text)
        elif _GLOB_CHARS.search(text):
            images, walked = [], set()
            for match in sorted(glob.glob(text, recursive=True)):
                if os.path.isdir(match):
                    real = os.path.realpath(match)
                    if real not in walked:  # '**' may reach one folder by many names
                        walked.add(real)
                        images += _walk(match, problems)
                elif _is_image_name(match):
                    images.append(match)
            if not images:
                problems.append(f"no images match {shown}")
            found += images
        else:
            problems.append(f"no such file or folder: {shown}")

    unique: dict[str, Path] = {}
    for name in found:  # one entry per real file, under the shortest name it was reached by
        key = os.path.normcase(os.path.realpath(name))
        if key not in unique or len(name) < len(str(unique[key])):
            unique[key] = Path(name)
    return sorted(unique.values()), problems


