"""Which device to run on: 'auto' means CUDA when available, else CPU."""

from __future__ import annotations

import os

import torch

from .config import ConfigError


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
