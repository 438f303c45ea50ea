"""Where a figure may be written: never over an existing file that this package did not write (an
input image, a user's own photo or any other file), unless forced. Every figure save_figure writes
carries a mark, so a rerun recognises and replaces its own earlier figures (even inside the folder
it captions)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from PIL import Image

MARK = "captioning"  # PNG "Software" text chunk / JPEG comment of the figures this package writes
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def figure_format(path: str | Path) -> str:
    """PIL's name of a figure file's format, from its suffix: JPEG for .jpg/.jpeg, else PNG."""
    return FORMATS.get(Path(path).suffix.lower(), "PNG")


def mark_options(fmt: str) -> dict[str, Any]:
    """Figure.savefig keyword arguments that put the mark into a PNG or JPEG file."""
    return {"pil_kwargs": {"comment": MARK}} if fmt == "JPEG" else {"metadata": {"Software": MARK}}


def _opened_format(path: str | Path) -> tuple[str | None, bool]:
    """(PIL format or None when not an image, whether it carries the mark); reads only the header."""
    try:
        with Image.open(path) as image:
            mark = image.info.get("comment") if image.format == "JPEG" else image.info.get("Software")
            return image.format, mark in (MARK, MARK.encode())
    except Exception:  # not an image, unreadable, a folder: not something we may replace
        return None, False


def is_own_figure(path: str | Path) -> bool:
    """Whether a file is a figure this package wrote (so a rerun may replace it)."""
    return _opened_format(path)[1]


def target_problem(path: str | Path, inputs: Collection[str], force: bool = False) -> str | None:
    """Why a figure must not be written at path (None if it may): it is one of the input images
    (resolved paths in `inputs`), or it exists and is not a figure of ours in the figure's format
    (a photo of the same format is still a user's file). Force allows everything."""
    if force or not os.path.lexists(path):
        return None
    fmt, ours = _opened_format(path)
    if ours and fmt == figure_format(path):
        return None
    hint = "; choose another name, or force it to replace the file"
    if os.path.realpath(path) in inputs:
        return f"{path} is one of the input images{hint}"
    if fmt != figure_format(path):
        return f"{path} exists and is not a {figure_format(path)} image{hint}"
    return f"{path} was not made by captioning (it has no '{MARK}' mark){hint}"
