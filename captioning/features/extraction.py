"""Batched feature extraction: DataLoader workers decode and crop JPEGs, the main process runs the CNN."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ..core.progress import counter
from ..images.errors import ImageError
from ..images.loading import load_image
from .encoder import FeatureEncoder
from .views import ViewPixels


class ImageFiles(Dataset):
    """Paths -> (index, preprocessed tensor, error message or ''); decoding runs in workers.
    min_side lets JPEGs decode at a reduced scale (see load_image)."""

    def __init__(self, paths: Sequence[str | Path], transform, min_side: int | None = None) -> None:
        self.paths, self.transform, self.min_side = [Path(p) for p in paths], transform, min_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            image = load_image(self.paths[i], min_side=self.min_side)
            return i, self.transform(image), ""
        except ImageError as exc:
            return i, None, str(exc)


class WorkerError(OSError):
    """An image loader worker failed outside any one image (shared memory full, a file size
    limit, killed): the run stops with this one line instead of waiting for a lost batch."""


def _collate(batch):
    """(indices, images or None, errors). In a worker the batch is built in shared memory here,
    so a failure to get that memory is this batch's error, sent to the main process; left to
    the queue's feeder thread, it would be printed there and the batch silently lost."""
    ok = [b for b in batch if b[1] is not None]
    x = None
    if ok:
        x = torch.empty((len(ok), *ok[0][1].shape), dtype=ok[0][1].dtype)
        torch.stack([b[1] for b in ok], out=x.share_memory_() if get_worker_info() is not None else x)
    return [b[0] for b in ok], x, [(b[0], b[2]) for b in batch if b[1] is None]


def _worker_init(_: int) -> None:
    """One thread per worker, at the lowest priority: on a small machine the main process's
    BLAS threads stall whenever a worker holds one of their cores."""
    torch.set_num_threads(1)
    if hasattr(os, "nice"):
        os.nice(19)


def _fail_fast(loader: DataLoader) -> Iterator:
    """Iterate a DataLoader; a worker's failure (re-raised by torch as a RuntimeError whose last
    line is the cause) becomes one WorkerError line."""
    try:
        yield from loader
    except RuntimeError as exc:
        text = str(exc).strip()
        if "DataLoader worker" not in text:
            raise
        cause = text.splitlines()[-1] if "Original Traceback" in text else text.splitlines()[0]
        raise WorkerError(f"an image loading worker failed: {cause}") from exc


def image_batches(paths: Sequence[str | Path], transform, batch_size: int = 64,
                  num_workers: int | None = None, min_side: int | None = None) -> Iterator:
    """(indices, images [b,3,H,W] or None, [(index, error)]) batches from DataLoader workers;
    a worker that fails raises WorkerError rather than leaving the caller waiting."""
    if num_workers is None:
        num_workers = min(2, os.cpu_count() or 1)
    return _fail_fast(DataLoader(ImageFiles(paths, transform, min_side), batch_size=batch_size,
                                 num_workers=num_workers, collate_fn=_collate, worker_init_fn=_worker_init,
                                 persistent_workers=False, prefetch_factor=4 if num_workers else None))


def extract_features(encoder: FeatureEncoder, paths: Sequence[str | Path], batch_size: int = 64,
                     num_workers: int | None = None, progress: bool = True,
                     views: Sequence[int] | None = None) -> tuple[torch.Tensor, dict[int, str]]:
    """Features [N, F] for every path (zeros where unreadable) and {index: one-line error}; with
    views (indices into config.VIEWS), features [N, len(views), F] of those views of each image."""
    transform = encoder.pixels if views is None else ViewPixels(encoder.spec.preprocessing, views)
    out = torch.zeros(len(paths), *([] if views is None else [len(views)]), encoder.spec.feature_dim)
    errors: dict[int, str] = {}
    loader = image_batches(paths, transform, batch_size, num_workers, encoder.spec.preprocessing.resize)
    with counter(len(paths), "features", progress, unit="img") as bar:
        for idx, x, bad in loader:
            if x is not None:  # [b, 3, H, W], or [b, V, 3, H, W]: every view through the CNN at once
                out[idx] = encoder(x.flatten(0, -4)).view(*x.shape[:-3], -1).cpu()
            errors.update(bad)
            bar.update(len(idx) + len(bad))
    return out, errors
