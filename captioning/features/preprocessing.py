"""An EncoderSpec's preprocessing as code: PIL resize and center crop to uint8 pixels (in loader
workers), then normalization to floats on the model's device.

The resize and crop follow torchvision's Resize(int) and CenterCrop arithmetic exactly (a test
checks the pixels are identical), without importing torchvision."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .config import Preprocessing

_PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to `shorter` (torchvision's rounding)."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


class Pixels:
    """PIL RGB image -> uint8 tensor [3, crop, crop]: resize the shorter side, center-crop.

    A plain picklable object, so DataLoader workers can run it; they send uint8 (4x less data
    than floats) and `normalize` finishes the job on the model's device."""

    def __init__(self, prep: Preprocessing) -> None:
        self.prep = prep

    def __call__(self, image: Image.Image) -> torch.Tensor:
        crop, image = self.prep.crop, resize_shorter(image, self.prep)
        left, top = centre_origin(image.size, crop)
        return as_pixels(image.crop((left, top, left + crop, top + crop)))


def resize_shorter(image: Image.Image, prep: Preprocessing) -> Image.Image:
    """The image with its shorter side resized to prep.resize (unchanged when it already is)."""
    size = resized_size(*image.size, prep.resize)
    return image if size == image.size else image.resize(size, pil_filter(prep))


def pil_filter(prep: Preprocessing) -> Image.Resampling:
    return _PIL_FILTERS[prep.interpolation]


def centre_origin(size: tuple[int, int], crop: int) -> tuple[int, int]:
    """(left, top) of the centred crop x crop box in an image of this (width, height)."""
    return round((size[0] - crop) / 2.0), round((size[1] - crop) / 2.0)


def as_pixels(image: Image.Image) -> torch.Tensor:
    """PIL RGB image -> uint8 tensor [3, H, W]."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def normalize(prep: Preprocessing, pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels [..., 3, H, W] -> normalized float32, (x / 255 - mean) / std."""
    mean = torch.tensor(prep.mean, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(prep.std, device=pixels.device).view(3, 1, 1)
    return (pixels.float() / 255 - mean) / std
