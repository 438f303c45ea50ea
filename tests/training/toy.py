"""Synthetic captioning data shared by the training tests: each image's feature vector encodes a
colour and an animal, and its captions name them, so a decoder can learn the task in seconds."""

from __future__ import annotations

from pathlib import Path

import torch

from captioning.data.records import ImageRecord


def toy_records(n_train: int, n_val: int, dim: int, colors: list[str], animals: list[str], animal_at: int,
                tail: str, generator: torch.Generator) -> tuple[list[ImageRecord], torch.Tensor]:
    """(records, features [n, dim]): colour c lights feature c, animal a feature animal_at + a."""
    records, rows = [], []
    for i in range(n_train + n_val):
        c, a = i % len(colors), (i // len(colors)) % len(animals)
        f = 0.1 * torch.randn(dim, generator=generator)
        f[c] += 2.0
        f[animal_at + a] += 2.0
        rows.append(f)
        caps = [f"a {colors[c]} {animals[a]}", f"the {colors[c]} {animals[a]} {tail}"]
        records.append(ImageRecord(Path(f"/toy/{i}.jpg"), "train" if i < n_train else "val", caps, i))
    return records, torch.stack(rows)
