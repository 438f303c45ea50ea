"""Process-level speed settings: device choice and glibc malloc tuning for CPU inference."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def tune_malloc() -> bool:
    """Stop glibc from returning big activation buffers to the OS after every layer.

    Without this, CNN inference on CPU spends most of its time in page faults (2-4x slower).
    Returns True when glibc accepted the settings. CAPTIONING_TUNE_MALLOC=0 turns it off
    (for measuring the difference)."""
    if os.environ.get("CAPTIONING_TUNE_MALLOC") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        big = 1 << 30
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, big // 2) and libc.mallopt(_M_TRIM_THRESHOLD, big))
    except (OSError, AttributeError):
        return False


def resolve_device(device: str | None = None) -> torch.device:
    """'auto'/None -> CUDA when available, else CPU; otherwise the named device, checked."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device '{device}'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return dev
