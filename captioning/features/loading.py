"""Pick and build the encoder for a device and runtime: torch (the reference) or ONNX Runtime.

`auto` means ONNX Runtime on the CPU when it is installed (it runs the CNN faster there, see
benchmarks/README.md) and torch on CUDA."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..core.config import ConfigError
from ..core.errors import InputError
from .config import DEFAULT_ENCODER, RUNTIMES, EncoderSpec
from .encoder import Encoder, build_encoder
from .onnx import OnnxEncoder, onnx_available, onnx_encoder

AnyEncoder = Encoder | OnnxEncoder
log = logging.getLogger(__name__)


def resolve_runtime(runtime: str, device: torch.device) -> str:
    """'auto' -> 'onnx' on CPU with onnxruntime installed, else 'torch'; impossible choices are errors."""
    if runtime not in RUNTIMES:
        raise ConfigError("runtime", f"unknown '{runtime}' (choose from {', '.join(RUNTIMES)})")
    if runtime == "auto":
        return "onnx" if device.type == "cpu" and onnx_available() else "torch"
    if runtime == "onnx" and device.type != "cpu":
        raise ConfigError("runtime", f"onnx runs on the CPU here; use torch on {device.type}")
    if runtime == "onnx" and not onnx_available():
        raise ConfigError("runtime", "onnx needs the onnxruntime package (pip install onnxruntime)")
    return runtime


def load_encoder(name: str = DEFAULT_ENCODER, weights: str | Path | None = None,
                 device: str | torch.device = "cpu", flip: bool = False, runtime: str = "auto",
                 amp: bool = False) -> AnyEncoder:
    """The named pretrained encoder on device, run by torch or ONNX Runtime (see resolve_runtime)."""
    device = torch.device(device)
    if resolve_runtime(runtime, device) == "onnx":
        try:
            return onnx_encoder(name, weights, flip)
        except OSError as exc:  # e.g. no writable cache for the export
            if runtime != "auto":
                raise
            log.warning("ONNX Runtime encoder unavailable (%s); using torch", exc)
    encoder = build_encoder(name, weights, device, flip)
    if amp and device.type == "cuda":
        encoder.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return encoder


def encoder_for(spec: EncoderSpec, device: str | torch.device = "cpu", runtime: str = "auto",
                amp: bool = False, where: str = "checkpoint") -> AnyEncoder:
    """Build the encoder a checkpoint's spec names and check it gives what the spec says."""
    encoder = load_encoder(spec.name, device=device, flip=spec.flip, runtime=runtime, amp=amp)
    got = encoder.spec
    if (got.feature_dim, got.preprocessing) != (spec.feature_dim, spec.preprocessing):
        raise InputError(f"{where}: expects encoder {spec.name} with {spec.feature_dim}-d features and "
                         f"{spec.preprocessing}, but it builds {got.feature_dim}-d features and {got.preprocessing}")
    return encoder
