"""Any picture as an RGB PIL image: PIL modes (alpha, CMYK, 16-bit), paths, arrays and tensors."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ..core.errors import InputError

_WHITE = (255, 255, 255)



def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB the right way (used for in-memory PIL inputs too).

    Transparency is composited over white, CMYK uses its ICC profile when present, and 16-bit
    or float grayscale is scaled by its bit depth or range. Always returns a new image.
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image.copy()
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if image.has_transparency_data:
        source = image.convert("LA") if mode == "La" else image  # Pillow lacks La -> RGBA
        rgba = source.convert("RGBA")  # also applies a "transparency" colour or palette index
        out = Image.new("RGB", image.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return image.convert("RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(image, source, target, outputMode="RGB")
        except Exception:  # a bad or mismatched profile: fall back to the plain formula
            pass
    return image.convert("RGB")  # Pillow already undoes Adobe's inverted CMYK JPEGs


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Map 16/32-bit integer or float grayscale onto 0-255 without clipping to white."""
    values = np.asarray(image).astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 257.0  # full 16-bit range, so 32768 is mid gray
    elif image.mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0  # normalised floats
    elif image.mode == "F" and low >= 0 and high <= 255:
        scaled = values
    else:  # arbitrary range: stretch what is there
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    gray = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    out = Image.fromarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8)).convert("RGB")
    transparent = image.info.get("transparency")
    if isinstance(transparent, int) and not isinstance(transparent, bool):
        mask = Image.fromarray(((np.asarray(image) == transparent) * 255).astype(np.uint8))
        out.paste(_WHITE, mask=mask)
    return out


def _is_chw(shape: tuple[int, ...], is_tensor: bool) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3, 4) and (is_tensor or shape[-1] not in (1, 3, 4))


def pixel_size(image: Any) -> tuple[int, int]:
    """(width, height) of an array or tensor as array_to_rgb reads it (HW, HWC or CHW)."""
    shape = tuple(image.shape)
    if _is_chw(shape, hasattr(image, "detach")):
        shape = shape[1:]
    return (shape[1], shape[0]) if len(shape) >= 2 else (0, 0)


def array_to_rgb(image: Any) -> Image.Image:
    """An RGB image from pixels: a torch tensor (CHW) or a numpy array (HWC, or CHW when that is
    unambiguous), 2-D for grey; uint8, or float in [0, 1]. Normalized floats are refused, since
    the encoder applies its normalization itself."""
    is_tensor = hasattr(image, "detach")  # torch is not imported here: duck typing
    shape = tuple(image.shape)
    arr = image.detach().cpu().numpy() if is_tensor else np.asarray(image)
    if _is_chw(arr.shape, is_tensor):
        arr = arr.transpose(1, 2, 0)  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise InputError(f"image pixels must be HW, HWC or CHW with 1, 3 or 4 channels, got shape {shape}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if arr.size and (np.isnan(arr).any() or arr.min() < 0 or arr.max() > 1):
            raise InputError("float image pixels must be in [0, 1] (not normalized); "
                             "the encoder's normalization is applied for you")
        arr = np.rint(arr * 255).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise InputError(f"image pixels must be uint8 or float, not {arr.dtype}")
    return to_rgb(Image.fromarray(np.ascontiguousarray(arr)))
