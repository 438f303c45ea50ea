"""Process-wide speed settings. Only entry points (the CLI, benchmarks, notebooks) call `tune()`:
importing or using the library never changes libc or thread settings behind your back."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

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


def tune() -> dict[str, bool]:
    """Apply every process-wide speed setting this project knows; returns what took effect."""
    return {"malloc": tune_malloc()}
