"""Flickr8k: the captions TSV (or Flickr8k.token.txt) plus the official split lists."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..core.errors import InputError
from .records import ImageRecord, report_empty

_SPLIT_FILES = {"train": ("train.txt", "Flickr_8k.trainImages.txt"),
                "val": ("dev.txt", "Flickr_8k.devImages.txt"),
                "test": ("test.txt", "Flickr_8k.testImages.txt")}


def _read_captions(path: Path) -> dict[str, list[str]]:
    """`image<TAB>index<TAB>caption` rows, or the release's `image#index<TAB>caption` rows."""
    captions: dict[str, list[str]] = defaultdict(list)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) == 3:
            name, caption = parts[0], parts[2]
        elif len(parts) == 2 and "#" in parts[0]:
            name, caption = parts[0].split("#")[0], parts[1]
        else:
            raise InputError(f"{path}:{n}: expected 'image<TAB>index<TAB>caption'")
        captions[name].append(caption.strip())
    report_empty(path, [name for name, caps in captions.items() for c in caps if not c])
    return {name: [c for c in caps if c] for name, caps in captions.items()}


def load_flickr8k(root: str | Path, captions_file: str = "captions.tsv") -> list[ImageRecord]:
    """Images present under root/images with their captions; split from root/splits (else '')."""
    root = Path(root)
    cap_path = next((p for p in (root / captions_file, root / "Flickr8k.token.txt") if p.is_file()), None)
    if cap_path is None:
        raise InputError(f"{root}: no {captions_file} or Flickr8k.token.txt found")
    captions = _read_captions(cap_path)
    split_of: dict[str, str] = {}
    for split, names in _SPLIT_FILES.items():
        for name in names:
            f = root / "splits" / name
            if f.is_file():
                split_of.update({line.strip(): split for line in f.read_text().splitlines() if line.strip()})
    records = []
    for name in sorted(captions):
        image = root / "images" / name
        if image.is_file():
            records.append(ImageRecord(image, split_of.get(name, ""), captions[name], name))
    if not records:
        raise InputError(f"{root}: no Flickr8k images with captions found under images/")
    return records
