"""COCO caption annotation files, read through pycocotools."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pycocotools import coco as pycoco

from ..core.errors import InputError
from .records import ImageRecord, report_empty


@contextlib.contextmanager
def _silent_pycocotools() -> Iterator[None]:
    """pycocotools prints progress; shadow `print` in its module only, instead of swapping the
    process's sys.stdout (which would swallow other threads' output too)."""
    pycoco.print = lambda *args, **kwargs: None
    try:
        yield
    finally:
        del pycoco.print


def load_coco(annotations: str | Path, images: str | Path) -> list[ImageRecord]:
    """Every image of a COCO caption annotation file, in ascending image-id order, split ''."""
    annotations, images = Path(annotations), Path(images)
    if not annotations.is_file():
        raise InputError(f"{annotations}: no such COCO annotation file")
    if not images.is_dir():
        raise InputError(f"{images}: no such image folder")
    try:
        with _silent_pycocotools():
            coco = pycoco.COCO(str(annotations))
    except Exception as exc:  # pycocotools raises bare AssertionError/KeyError on bad files
        raise InputError(f"{annotations}: not a COCO annotation file ({exc!r})") from None
    records, empty = [], []
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        caps = [str(a.get("caption") or "").strip() for a in anns]
        empty += [image_id] * caps.count("")
        records.append(ImageRecord(images / info["file_name"], "", [c for c in caps if c], image_id))
    report_empty(annotations, empty)
    return records
