"""Which device to run on ('auto' means CUDA when available, else CPU), and in which precision."""

from __future__ import annotations

import contextlib
import os

import torch

from .config import ConfigError
from .runtime import cpu_has_bf16


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto'/None -> CUDA when available (under torchrun, this rank's GPU, cuda:LOCAL_RANK),
    else CPU; otherwise the named device, checked."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "", "auto"):
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError("device", f"unknown device '{device}'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"'{device}': CUDA is not available on this machine")
    return dev


def amp_dtype(device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype of mixed precision on device, the one rule for training and inference:
    bf16 on GPUs that have it, else fp16 (training then needs a GradScaler); bf16 on CPUs with
    native bf16 arithmetic (runtime.cpu_has_bf16: AVX512-BF16 or AMX); None (fp32) elsewhere."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


def autocast(device: str | torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast to dtype on device's type; a no-op when dtype is None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
