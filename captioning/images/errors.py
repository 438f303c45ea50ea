"""ImageError: every kind of bad image file becomes one, with a one-line reason naming the file."""

from __future__ import annotations

import os
from pathlib import Path


class ImageError(Exception):
    """An image that cannot be used; str() is a one-line reason naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{printable(self.path)}: {reason}")

    def __reduce__(self):  # keep pickling (e.g. from worker processes) working
        return type(self), (self.path, self.reason)


def printable(text: str) -> str:
    """Escape control characters (a newline in a file name) so messages stay one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
