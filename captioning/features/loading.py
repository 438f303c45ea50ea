"""Pick and build the encoder for a device and runtime: torch (the reference, fp32), bf16 (torch
with bf16 autocast), onnx (ONNX Runtime, fp32) or int8 (ONNX Runtime, quantized).

`auto` means ONNX Runtime (fp32) on the CPU when it is installed and torch on CUDA. Where a
caller accepts lossy features (captioning, not training or feature caches: `lossy=True`), auto
on the CPU would pick the int8 encoder if AUTO_INT8 said it met the rule of issue 23 (val CIDEr
drop <= 0.5 with the shipped ensemble, and faster). It does not (benchmarks/README.md, "int8"),
so int8 is opt-in."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..core.config import ConfigError
from ..core.devices import amp_dtype
from ..core.errors import InputError
from ..core.runtime import cpu_has_bf16
from .config import DEFAULT_ENCODER, RUNTIMES, EncoderSpec
from .encoder import FeatureEncoder, build_encoder
from .int8 import calibration_file, int8_encoder
from .onnx import onnx_available, onnx_encoder

AnyEncoder = FeatureEncoder
AUTO_INT8 = False  # benchmarks/int8{,-vnni}.json: no U8S8 calibration is shown within 0.5 val CIDEr
log = logging.getLogger(__name__)


def _auto(name: str, device: torch.device, lossy: bool) -> str:
    if device.type != "cpu" or not onnx_available():
        return "torch"
    return "int8" if lossy and AUTO_INT8 and calibration_file(name).is_file() else "onnx"


def resolve_runtime(runtime: str, device: torch.device, name: str = DEFAULT_ENCODER, lossy: bool = False) -> str:
    """'auto' -> int8 (lossy callers, shipped calibration) or onnx on CPU with onnxruntime
    installed, else torch; impossible choices are ConfigErrors on the runtime field."""
    if runtime not in RUNTIMES:
        raise ConfigError("runtime", f"unknown '{runtime}' (choose from {', '.join(RUNTIMES)})")
    if runtime == "auto":
        return _auto(name, device, lossy)
    if runtime in ("onnx", "int8") and device.type != "cpu":
        raise ConfigError("runtime", f"{runtime} runs on the CPU here; use torch on {device.type}")
    if runtime in ("onnx", "int8") and not onnx_available():
        raise ConfigError("runtime", f"{runtime} needs the onnxruntime package (pip install onnxruntime)")
    if runtime == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise ConfigError("runtime", "bf16 needs a CPU with AVX512-BF16 or AMX, and this one has "
                          "neither (it would be slower than fp32); use torch or onnx")
    return runtime


def _onnx(runtime: str, requested: str, name: str, weights, flip: bool) -> FeatureEncoder | None:
    """The ONNX Runtime encoder, or None when auto's choice is unavailable (it then falls back)."""
    try:
        return int8_encoder(name, weights, flip) if runtime == "int8" else onnx_encoder(name, weights, flip)
    except (OSError, InputError) as exc:  # no writable cache, a calibration for other weights
        if requested != "auto":
            raise
        log.warning("%s encoder unavailable (%s); using %s", runtime, exc, "onnx" if runtime == "int8" else "torch")
    return _onnx("onnx", requested, name, weights, flip) if runtime == "int8" else None


def load_encoder(name: str = DEFAULT_ENCODER, weights: str | Path | None = None,
                 device: str | torch.device = "cpu", flip: bool = False, runtime: str = "auto",
                 amp: bool = False, lossy: bool = False) -> FeatureEncoder:
    """The named pretrained encoder on device, on the runtime resolve_runtime picks."""
    device = torch.device(device)
    chosen = resolve_runtime(runtime, device, name, lossy)
    if chosen in ("onnx", "int8"):
        encoder = _onnx(chosen, runtime, name, weights, flip)
        if encoder is not None:
            return encoder
    encoder = build_encoder(name, weights, device, flip)
    if chosen == "bf16":
        encoder.amp_dtype, encoder.runtime = torch.bfloat16, "bf16"
    elif amp and device.type == "cuda":
        encoder.amp_dtype = amp_dtype(device)
    return encoder


def encoder_for(spec: EncoderSpec, device: str | torch.device = "cpu", runtime: str = "auto",
                amp: bool = False, where: str = "checkpoint", lossy: bool = False) -> FeatureEncoder:
    """Build the encoder a checkpoint's spec names and check it gives what the spec says."""
    encoder = load_encoder(spec.name, device=device, flip=spec.flip, runtime=runtime, amp=amp, lossy=lossy)
    got = encoder.spec
    if (got.feature_dim, got.preprocessing) != (spec.feature_dim, spec.preprocessing):
        raise InputError(f"{where}: expects encoder {spec.name} with {spec.feature_dim}-d features and "
                         f"{spec.preprocessing}, but it builds {got.feature_dim}-d features and {got.preprocessing}")
    return encoder
