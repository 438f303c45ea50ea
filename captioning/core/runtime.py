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


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return set()


SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def cpu_description() -> dict:
    """The CPU a figure was measured on: model name, core count and the flags that move speed
    ratios (int8 and bf16 fast paths), so every benchmark record says which machine it holds."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    flags = cpu_flags()
    return {"model": model or "unknown", "cpus": os.cpu_count(),
            "flags": [name for name in SPEED_FLAGS if name in flags]}


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether this CPU has a VNNI int8 dot product (AVX512-VNNI or AVX-VNNI). Without it ONNX
    Runtime's U8S8 kernels multiply pairs into saturating 16-bit sums, so int8 weights must keep
    to 7 bits (reduce_range) to stay accurate. CAPTIONING_VNNI=0/1 overrides the detection."""
    forced = os.environ.get("CAPTIONING_VNNI")
    if forced in ("0", "1"):
        return forced == "1"
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo
    flags; without it bf16 autocast is emulated and slower than fp32, so it is never chosen.
    CAPTIONING_BF16=0/1 overrides the detection (for tests and measurements)."""
    forced = os.environ.get("CAPTIONING_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
