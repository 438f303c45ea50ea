"""An on-disk feature cache that knows when it is stale, extracted by one process or by every
rank of a torchrun job.

The cache records the encoder, its preprocessing and a fingerprint of every image file
(path, size, mtime); any mismatch means the cache is rebuilt, never silently reused. Loading
memory-maps big files, so ranks share one copy in the page cache instead of each holding its own.
Under torchrun each rank extracts a contiguous shard (whole batches, so every image sees the
same batch as in a single process) and writes it atomically; rank 0 merges the shards into the
normal cache. A rerun after a crash redoes only the shards that are missing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from ..core import distributed
from ..core.io import regular_file, save_tensors
from ..data.records import ImageRecord
from .config import VIEWS, EncoderSpec
from .encoder import FeatureEncoder
from .extraction import extract_features

log = logging.getLogger(__name__)
BATCH = 64  # images per extraction batch (and the unit shards are cut in)
MAP_BYTES = 256 << 20  # caches this big are memory-mapped; smaller ones are simply read


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


def extra_views(views: int) -> tuple[int, ...] | None:
    """The view indices a cache of `views` views holds: None (the single-view cache) for 1, else
    views 1..V-1 (view 0 is the single-view cache's, so it is never computed twice)."""
    return None if views <= 1 else tuple(range(1, views))


def _cache_meta(spec: EncoderSpec, paths: Sequence[str | Path], precision: str = "fp32", views: int = 1) -> dict:
    """What a cache is valid for; lossy features (int8, bf16) record their precision, so they
    never stand in for fp32 ones (or the reverse); a multi-view cache names its views."""
    meta = {"encoder": spec.to_dict(), "images": [str(Path(p).resolve()) for p in paths],
            "fingerprint": fingerprint(paths)}
    if views > 1:
        meta["views"] = [VIEWS[v] for v in extra_views(views)]
    return meta if precision == "fp32" else {**meta, "precision": precision}


def default_cache_dir() -> Path:
    return Path(os.environ.get("CAPTIONING_CACHE", Path.home() / ".cache" / "captioning")) / "features"


def cache_path_for(spec: EncoderSpec, paths: Sequence[str | Path], cache_dir: str | Path | None = None,
                   precision: str = "fp32", views: int = 1) -> Path:
    """A cache file name derived from the encoder, its precision, its views and the image list."""
    key = hashlib.sha1("\n".join(str(Path(p).resolve()) for p in paths).encode()).hexdigest()[:12]
    name = spec.name.replace(":", "_") + ("-flip" if spec.flip else "") + ("" if precision == "fp32" else f"-{precision}")
    name += f"-views{views}" if views > 1 else ""
    return Path(cache_dir or default_cache_dir()) / f"{name}-{len(paths)}-{key}.safetensors"


def _metadata(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("captioning", "{}"))


def stale_reason(path: str | Path, spec: EncoderSpec, paths: Sequence[str | Path],
                 precision: str = "fp32", views: int = 1) -> str | None:
    """None when the cache at `path` matches this encoder and these images, else why not."""
    path = Path(path)
    if not path.is_file():
        return "no cache file"
    try:
        meta = _metadata(path)
    except Exception as exc:  # a truncated or foreign file
        return f"unreadable cache ({exc.__class__.__name__})"
    want = json.loads(json.dumps(_cache_meta(spec, paths, precision, views)))  # as stored: tuples become lists
    for key in ("encoder", "images", "fingerprint", "precision", "views"):
        if meta.get(key) != want.get(key):
            return {"encoder": "different encoder or preprocessing", "images": "different image list",
                    "fingerprint": "image files changed since the cache was written",
                    "precision": "features of another precision (fp32, bf16, int8)",
                    "views": "features of other views"}[key]
    return None


def load_mapped(path: str | Path, name: str = "features") -> torch.Tensor:
    """A tensor of a safetensors file, memory-mapped (copy-on-write) rather than read into RAM."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(size))[name]
    dtype = {"F32": np.float32, "F16": np.float16}[entry["dtype"]]
    start, end = entry["data_offsets"]
    if end == start:
        return torch.zeros(entry["shape"], dtype=torch.float32)
    array = np.memmap(path, dtype=dtype, mode="c", offset=8 + size + start, shape=tuple(entry["shape"]))
    return torch.from_numpy(array)


def _write(path: Path, features: torch.Tensor, meta: dict) -> None:
    save_tensors(path, {"features": features.contiguous()}, metadata={"captioning": json.dumps(meta)})


def _read(path: Path) -> tuple[torch.Tensor, dict[int, str]]:
    """Features and errors; big caches (and every cache under torchrun) are memory-mapped, so
    ranks share the page cache. A mapped file must not be changed in place while in use."""
    meta = _metadata(path)
    errors = {int(k): v for k, v in meta.get("errors", {}).items()}
    if distributed.active() or path.stat().st_size >= MAP_BYTES:
        return load_mapped(path), errors
    with safe_open(str(path), "pt") as f:
        return f.get_tensor("features").clone(), errors  # our own memory: the file may change later


def _extract(encoder: FeatureEncoder, paths: Sequence[str | Path], cache: Path, batch_size: int,
             num_workers: int | None, progress: bool, views: int = 1) -> None:
    features, errors = extract_features(encoder, paths, batch_size, num_workers, progress, extra_views(views))
    _write(cache, features, {**_cache_meta(encoder.spec, paths, encoder.precision, views), "errors": errors})


def _shard_bounds(n: int, rank: int, size: int, batch: int) -> tuple[int, int]:
    """Rank's contiguous share of n images, cut at batch boundaries."""
    batches = -(-n // batch)
    return min(n, rank * batches // size * batch), min(n, (rank + 1) * batches // size * batch)


def _sharded(encoder: FeatureEncoder, paths: Sequence[str | Path], cache: Path, batch_size: int,
             num_workers: int | None, progress: bool, views: int = 1) -> None:
    """Each rank extracts (or keeps) its shard; rank 0 merges them into `cache`."""
    w = distributed.world()
    shards = [cache.with_name(f"{cache.stem}.shard{r}of{w.size}.safetensors") for r in range(w.size)]
    bounds = [_shard_bounds(len(paths), r, w.size, batch_size) for r in range(w.size)]
    start, stop = bounds[w.rank]
    if stale_reason(shards[w.rank], encoder.spec, paths[start:stop], encoder.precision, views) is not None:
        _extract(encoder, paths[start:stop], shards[w.rank], batch_size, num_workers, progress and w.main, views)
    distributed.barrier()
    if w.main:
        parts = [_read(s) for s in shards]
        errors = {str(a + int(i)): e for (a, _), (_, errs) in zip(bounds, parts) for i, e in errs.items()}
        features = torch.cat([f for f, _ in parts]) if parts else torch.zeros(0, encoder.spec.feature_dim)
        _write(cache, features, {**_cache_meta(encoder.spec, paths, encoder.precision, views), "errors": errors})
        for s in shards:
            s.unlink(missing_ok=True)
    distributed.barrier()


def cached_features(encoder: FeatureEncoder, paths: Sequence[str | Path], cache: str | Path | None = None,
                    batch_size: int = BATCH, num_workers: int | None = None,
                    progress: bool = True, views: int = 1) -> tuple[torch.Tensor, dict[int, str]]:
    """Load features from the cache when it is valid; otherwise extract and (re)write it (every
    rank of a torchrun job takes a shard). Returns features [N, F] (zeros where an image was
    unreadable; memory-mapped when big) and {index: one-line error}. With views V > 1: the
    other views' features [N, V-1, F] (views 1..V-1), cached under their own key."""
    name = cache_path_for(encoder.spec, paths, precision=encoder.precision, views=views)
    cache = regular_file(cache or name, "feature cache")  # never read a FIFO, never replace a device or a folder
    reason = distributed.broadcast(stale_reason(cache, encoder.spec, paths, encoder.precision, views))
    if reason is not None:
        if reason != "no cache file":
            log.info("feature cache %s: %s; rebuilding", cache, reason)
        if distributed.active():
            _sharded(encoder, paths, cache, batch_size, num_workers, progress, views)
        else:
            _extract(encoder, paths, cache, batch_size, num_workers, progress, views)
    return _read(cache)


def record_features(records: Sequence[ImageRecord], encoder: FeatureEncoder, cache: str | Path | None = None,
                    progress: bool = True, num_workers: int | None = None
                    ) -> tuple[torch.Tensor, list[ImageRecord], list[str]]:
    """Features of dataset records (cached); unreadable images are dropped and reported."""
    features, errors = cached_features(encoder, [r.path for r in records], cache,
                                       num_workers=num_workers, progress=progress)
    if not errors:
        return features, list(records), []
    keep = [i for i in range(len(records)) if i not in errors]
    return features[keep], [records[i] for i in keep], list(errors.values())


def record_views(records: Sequence[ImageRecord], encoder: FeatureEncoder, views: int,
                 cache: str | Path | None = None, progress: bool = True,
                 num_workers: int | None = None) -> torch.Tensor:
    """Views 1..V-1 of each record's image, features [N, V-1, F] (cached; an explicit `cache` is
    the single-view file, and these go beside it). Fewer images per batch than record_features,
    so a batch's pixels stay as small."""
    if views < 2:
        raise ValueError(f"record_views needs views >= 2, got {views} (view 0 is record_features')")
    if cache:
        cache = Path(cache).with_name(f"{Path(cache).stem}-views{views}.safetensors")
    features, errors = cached_features(encoder, [r.path for r in records], cache, max(1, BATCH // (views - 1)),
                                       num_workers, progress, views)
    if errors:
        log.warning("views of %d images could not be read (their view features are zeros), e.g. %s",
                    len(errors), next(iter(errors.values())))
    return features
