"""load_image: the one way this project opens an image file, for the model, the API and the figures.

Captioning runs over folders of people's own photos, so one empty, truncated, misnamed or
enormous file must be reported in one line and skipped, never crash the whole run."""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import InputError
from .convert import array_to_rgb, pixel_size, to_rgb
from .errors import ImageError

# Pillow's own default limit; larger images are refused as likely decompression bombs.
DEFAULT_MAX_PIXELS = 89_478_485
# Longest side over shortest: beyond this a centre crop shows a sliver of the picture, and resizing
# the short side to the model's size would blow a 374-byte 1x100000 PNG up to gigabytes.
MAX_ASPECT = 100
# First bytes of the formats we accept, to tell "not an image" from "damaged header".
_MAGIC = (b"\xff\xd8", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def size_problem(width: int, height: int, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 min_side: int | None = None) -> str | None:
    """Why an image of this size cannot be captioned, or None: a zero side, too many pixels at the
    source or after resizing the shorter side to min_side, or an extreme aspect ratio."""
    if width <= 0 or height <= 0:
        return f"image has zero width or height ({width}x{height})"
    if max_pixels is not None and width * height > max_pixels:
        return f"image too large ({width}x{height} pixels > limit of {max_pixels:,})"
    short, long = sorted((width, height))
    if long > MAX_ASPECT * short:
        return f"extreme aspect ratio ({width}x{height}, more than {MAX_ASPECT}:1)"
    if min_side and max_pixels is not None and min_side * min_side * long / short > max_pixels:
        return (f"image too large once resized ({width}x{height} with its shorter side at {min_side} "
                f"pixels > limit of {max_pixels:,})")
    return None


def _check_file(path: Path) -> None:
    """Reject paths that are not readable regular files before Pillow ever sees them."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(
            path, "broken symbolic link" if path.is_symlink() else "no such file"
        ) from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except (OSError, ValueError) as err:
        raise ImageError(
            path, f"cannot access file ({getattr(err, 'strerror', None) or err})"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file")


def _unidentified_reason(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return "not an image"
    if head.startswith(_MAGIC) and (not head.startswith(b"RIFF") or head[8:12] == b"WEBP"):
        return "corrupt or unsupported image header"
    return "not an image"


def pixel_limit(max_pixels: int | None) -> int | None:
    """The pixel limit that applies: the smaller of max_pixels and Pillow's Image.MAX_IMAGE_PIXELS.
    (Pillow warns above its limit and raises above twice it; both are refusals here, so messages
    quote this one limit, not Pillow's two.)"""
    limits = [n for n in (max_pixels, Image.MAX_IMAGE_PIXELS) if n]
    return min(limits) if limits else None


def _too_large(message: str, limit: int | None) -> str:
    """The reason for a Pillow decompression-bomb refusal, quoting the limit that applies."""
    pixels = re.search(r"\((\d+) pixels\)", message)
    if pixels and limit:
        return f"image too large ({int(pixels.group(1)):,} pixels > limit of {limit:,})"
    return "image too large (possible decompression bomb)"


def _text_chunk_reason(err: ValueError) -> str | None:
    """The reason for Pillow's refusal of PNG text (or ICC profile) metadata past its limits, or None
    for another ValueError: a chunk that decompresses past MAX_TEXT_CHUNK, or chunks past
    MAX_TEXT_MEMORY in all. The pixels may be fine: the file is still refused, for what it is."""
    from PIL import PngImagePlugin

    if "MAX_TEXT_CHUNK" in str(err):
        return (f"oversized text/metadata chunk (more than {PngImagePlugin.MAX_TEXT_CHUNK:,} bytes "
                "decompressed; a possible decompression bomb)")
    if "MAX_TEXT_MEMORY" in str(err):
        return f"oversized text/metadata chunks (more than {PngImagePlugin.MAX_TEXT_MEMORY:,} bytes in all)"
    return None


def load_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               min_side: int | None = None) -> Image.Image:
    """Open a file as an RGB image correctly oriented, or raise ImageError with a one-line reason.
    Its size is checked before decoding (size_problem), so a tiny file cannot exhaust memory.

    The effective pixel limit is the smaller of max_pixels and Pillow's Image.MAX_IMAGE_PIXELS.
    With min_side, a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both
    sides >= min_side: a 12-megapixel photo bound for a 256-pixel resize decodes about 3x faster
    (benchmarks/jpeg_draft.py).
    """
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # chatter about odd metadata is not our users' problem
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=_safe_formats()) as image:
                problem = size_problem(*image.size, pixel_limit(max_pixels), min_side)
                if problem:
                    raise ImageError(path, problem)
                if min_side and image.format in ("JPEG", "MPO"):
                    image.draft(None, (min_side, min_side))
                image.load()  # decode everything now: truncation must fail here, not later
                return to_rgb(_oriented(image))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(path, _too_large(str(err), pixel_limit(max_pixels))) from None
    except UnidentifiedImageError:
        raise ImageError(path, _unidentified_reason(path)) from None
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except MemoryError:
        raise ImageError(path, "not enough memory to decode image") from None
    except OSError as err:
        if err.errno is not None and err.strerror:  # a real I/O error, not a decoder complaint
            raise ImageError(path, f"cannot read file ({err.strerror})") from None
        if "not available" in str(err) or "not supported" in str(err):
            raise ImageError(path, "unsupported image encoding") from None
        raise ImageError(path, "truncated or corrupt image data") from None
    except ValueError as err:
        raise ImageError(path, _text_chunk_reason(err) or "truncated or corrupt image data") from None
    except Exception:  # decoders also raise EOFError, SyntaxError, struct.error, ...
        raise ImageError(path, "truncated or corrupt image data") from None


def _safe_formats() -> list[str]:
    """Every format Pillow reads except EPS, which would run Ghostscript on a misnamed file."""
    Image.init()
    return [name for name in Image.OPEN if name != "EPS"]


def _oriented(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; broken EXIF leaves the pixels as stored rather than failing."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image.copy()


def as_rgb(image: Any, min_side: int | None = None) -> Image.Image:
    """Any supported input as a new RGB PIL image: a PIL image, a path (through load_image),
    or pixels (see array_to_rgb), bounded like a file (size_problem). Raises ImageError for bad
    files, InputError for bad pixels or sizes, TypeError for other objects."""
    if isinstance(image, str | os.PathLike):
        return load_image(image, min_side=min_side)
    if isinstance(image, Image.Image):
        what, size = f"{image.width}x{image.height} image", image.size
    elif hasattr(image, "shape") and hasattr(image, "dtype"):
        what, size = f"image of shape {tuple(image.shape)}", pixel_size(image)
    else:
        raise TypeError(f"cannot read an image from a {type(image).__name__}: "
                        "pass PIL images, paths, numpy arrays or tensors")
    problem = size_problem(*size, min_side=min_side)
    if problem:
        raise InputError(f"{what}: {problem}")
    return to_rgb(image) if isinstance(image, Image.Image) else array_to_rgb(image)
