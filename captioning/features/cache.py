"""An on-disk feature cache that knows when it is stale.

The cache records the encoder, its preprocessing and a fingerprint of every image file
(path, size, mtime); any mismatch means the cache is rebuilt, never silently reused."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..core.io import atomic_write
from ..data.records import ImageRecord
from .config import EncoderSpec
from .encoder import Encoder
from .extraction import extract_features

log = logging.getLogger(__name__)


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
    name = spec.name.replace(":", "_") + ("-flip" if spec.flip else "")
    return Path(cache_dir or default_cache_dir()) / f"{name}-{len(paths)}-{key}.safetensors"


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
        log.info("feature cache %s: %s; rebuilding", cache, reason)
    features, errors = extract_features(encoder, paths, batch_size, num_workers, progress)
    meta = {**_cache_meta(encoder.spec, paths), "errors": errors}
    atomic_write(cache, lambda tmp: save_file({"features": features.contiguous()}, str(tmp),
                                              metadata={"captioning": json.dumps(meta)}))
    return features, errors


def record_features(records: Sequence[ImageRecord], encoder: Encoder, cache: str | Path | None = None,
                    progress: bool = True, num_workers: int | None = None
                    ) -> tuple[torch.Tensor, list[ImageRecord], list[str]]:
    """Features of dataset records (cached); unreadable images are dropped and reported."""
    features, errors = cached_features(encoder, [r.path for r in records], cache,
                                       num_workers=num_workers, progress=progress)
    keep = [i for i in range(len(records)) if i not in errors]
    return features[keep], [records[i] for i in keep], list(errors.values())
