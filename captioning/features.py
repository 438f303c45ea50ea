"""Batched feature extraction and an on-disk feature cache that knows when it is stale.

The cache records the encoder, its preprocessing and a fingerprint of every image file
(path, size, mtime); any mismatch means the cache is rebuilt, never silently reused."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .encoder import Encoder, EncoderSpec
from .images import ImageError, load_image
from .io import atomic_write


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


def _collate(batch):
    ok = [b for b in batch if b[1] is not None]
    x = torch.stack([b[1] for b in ok]) if ok else None
    return [b[0] for b in ok], x, [(b[0], b[2]) for b in batch if b[1] is None]


def _worker_init(_: int) -> None:
    """One thread per worker, at the lowest priority: on a small machine the main process's
    BLAS threads stall whenever a worker holds one of their cores."""
    torch.set_num_threads(1)
    if hasattr(os, "nice"):
        os.nice(19)


def image_batches(paths: Sequence[str | Path], transform, batch_size: int = 64,
                  num_workers: int | None = None, min_side: int | None = None) -> DataLoader:
    """A DataLoader of (indices, images [b,3,H,W] or None, [(index, error)]) batches."""
    if num_workers is None:
        num_workers = min(2, os.cpu_count() or 1)
    return DataLoader(ImageFiles(paths, transform, min_side), batch_size=batch_size, num_workers=num_workers,
                      collate_fn=_collate, worker_init_fn=_worker_init,
                      persistent_workers=False, prefetch_factor=4 if num_workers else None)


def extract_features(encoder: Encoder, paths: Sequence[str | Path], batch_size: int = 64,
                     num_workers: int | None = None, progress: bool = True) -> tuple[torch.Tensor, dict[int, str]]:
    """Features [N, F] for every path (zeros where unreadable) and {index: one-line error}."""
    out = torch.zeros(len(paths), encoder.spec.feature_dim)
    errors: dict[int, str] = {}
    loader = image_batches(paths, encoder.pixels, batch_size, num_workers, encoder.spec.preprocessing.resize)
    with tqdm(total=len(paths), desc="features", unit="img", disable=not progress, file=sys.stderr) as bar:
        for idx, x, bad in loader:
            if x is not None:
                out[idx] = encoder(x).cpu()
            errors.update(bad)
            bar.update(len(idx) + len(bad))
    return out, errors


def fingerprint(paths: Sequence[str | Path]) -> str:
    """A hash of each file's resolved path, size and modification time."""
    h = hashlib.sha1()
    for p in paths:
        p = Path(p).resolve()
        try:
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()


def _cache_meta(spec: EncoderSpec, paths: Sequence[str | Path]) -> dict:
    return {"encoder": spec.to_dict(), "images": [str(Path(p).resolve()) for p in paths],
            "fingerprint": fingerprint(paths)}


def default_cache_dir() -> Path:
    return Path(os.environ.get("CAPTIONING_CACHE", Path.home() / ".cache" / "captioning")) / "features"


def cache_path_for(spec: EncoderSpec, paths: Sequence[str | Path], cache_dir: str | Path | None = None) -> Path:
    """A cache file name derived from the encoder and the image list."""
    key = hashlib.sha1("\n".join(str(Path(p).resolve()) for p in paths).encode()).hexdigest()[:12]
    return Path(cache_dir or default_cache_dir()) / f"{spec.name.replace(':', '_')}-{len(paths)}-{key}.safetensors"


def stale_reason(path: str | Path, spec: EncoderSpec, paths: Sequence[str | Path]) -> str | None:
    """None when the cache at `path` matches this encoder and these images, else why not."""
    path = Path(path)
    if not path.is_file():
        return "no cache file"
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("captioning", "{}"))
    except Exception as exc:  # a truncated or foreign file
        return f"unreadable cache ({exc.__class__.__name__})"
    want = json.loads(json.dumps(_cache_meta(spec, paths)))  # as stored: tuples become lists
    for key in ("encoder", "images", "fingerprint"):
        if meta.get(key) != want[key]:
            return {"encoder": "different encoder or preprocessing", "images": "different image list",
                    "fingerprint": "image files changed since the cache was written"}[key]
    return None


def cached_features(encoder: Encoder, paths: Sequence[str | Path], cache: str | Path | None = None,
                    batch_size: int = 64, num_workers: int | None = None,
                    progress: bool = True) -> tuple[torch.Tensor, dict[int, str]]:
    """Load features from the cache when it is valid; otherwise extract and (re)write it."""
    cache = Path(cache) if cache else cache_path_for(encoder.spec, paths)
    reason = stale_reason(cache, encoder.spec, paths)
    if reason is None:
        with safe_open(str(cache), "pt") as f:
            meta = json.loads(f.metadata()["captioning"])
            return f.get_tensor("features"), {int(k): v for k, v in meta.get("errors", {}).items()}
    if reason != "no cache file":
        print(f"feature cache {cache}: {reason}; rebuilding", file=sys.stderr)
    features, errors = extract_features(encoder, paths, batch_size, num_workers, progress)
    meta = {**_cache_meta(encoder.spec, paths), "errors": errors}
    atomic_write(cache, lambda tmp: save_file({"features": features.contiguous()}, str(tmp),
                                              metadata={"captioning": json.dumps(meta)}))
    return features, errors


def record_features(records: Sequence, encoder: Encoder, cache: str | Path | None = None,
                    progress: bool = True) -> tuple[torch.Tensor, list, list[str]]:
    """Features of dataset records (cached); unreadable images are dropped and reported."""
    features, errors = cached_features(encoder, [r.path for r in records], cache, progress=progress)
    keep = [i for i in range(len(records)) if i not in errors]
    return features[keep], [records[i] for i in keep], list(errors.values())
