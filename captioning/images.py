"""Find image files and load them as RGB, turning every kind of bad file into an ImageError.

Captioning runs over folders of people's own photos, so one empty, truncated, misnamed or
enormous file must be reported in one line and skipped, never crash the whole run.
"""

from __future__ import annotations

import glob
import io
import os
import re
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageError",
    "discover_images",
    "load_image",
    "to_rgb",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)
# Pillow's own default limit; larger images are refused as likely decompression bombs.
DEFAULT_MAX_PIXELS = 89_478_485

_WHITE = (255, 255, 255)
_GLOB_CHARS = re.compile(r"[*?\[]")
# First bytes of the formats we accept, to tell "not an image" from "damaged header".
_MAGIC = (b"\xff\xd8", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


class ImageError(Exception):
    """An image that cannot be used; str() is a one-line reason naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{_printable(self.path)}: {reason}")

    def __reduce__(self):  # keep pickling (e.g. from worker processes) working
        return type(self), (self.path, self.reason)


def _printable(text: str) -> str:
    """Escape control characters (a newline in a file name) so messages stay one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# --------------------------------------------------------------------------- discovery


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk(folder: str, problems: list[str]) -> list[str]:
    """All image files below folder, skipping hidden entries and symlink loops."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        problems.append(f"cannot read folder {_printable(str(err.filename))}: {err.strerror}")

    for root, dirs, files in os.walk(folder, onerror=on_error, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink back to a folder already walked
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            os.path.join(root, f) for f in files if not f.startswith(".") and _is_image_name(f)
        ]
    return found


def discover_images(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files, folders (recursive, skipping hidden dirs/files) and glob patterns into a
    sorted, de-duplicated list of image paths (by extension, case-insensitive); also return
    one-line problems such as 'no such file or folder: X' or 'no images found in X'. An
    explicitly named file with a non-image extension is still returned (loading will judge it).
    """
    found: list[str] = []
    problems: list[str] = []
    for item in inputs:
        text = os.path.expanduser(os.fspath(item))
        shown = _printable(os.fspath(item))
        if os.path.isdir(text):
            images = _walk(text, problems)
            if not images:
                problems.append(f"no images found in {shown}")
            found += images
        elif os.path.lexists(text):  # a file, or a broken link that loading will report
            found.append(text)
        elif _GLOB_CHARS.search(text):
            images, walked = [], set()
            for match in sorted(glob.glob(text, recursive=True)):
                if os.path.isdir(match):
                    real = os.path.realpath(match)
                    if real not in walked:  # '**' may reach one folder by many names
                        walked.add(real)
                        images += _walk(match, problems)
                elif _is_image_name(match):
                    images.append(match)
            if not images:
                problems.append(f"no images match {shown}")
            found += images
        else:
            problems.append(f"no such file or folder: {shown}")

    unique: dict[str, Path] = {}
    for name in found:  # one entry per real file, under the shortest name it was reached by
        key = os.path.normcase(os.path.realpath(name))
        if key not in unique or len(name) < len(str(unique[key])):
            unique[key] = Path(name)
    return sorted(unique.values()), problems


# --------------------------------------------------------------------------- loading


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


def _too_large(message: str) -> str:
    numbers = re.findall(r"\d+", message)
    if len(numbers) >= 2:
        return f"image too large ({int(numbers[0]):,} pixels > limit of {int(numbers[1]):,})"
    return "image too large (possible decompression bomb)"


def load_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               min_side: int | None = None) -> Image.Image:
    """Open a file as an RGB image correctly oriented, or raise ImageError with a one-line reason.

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
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise ImageError(path, "image has zero width or height")
                if max_pixels is not None and width * height > max_pixels:
                    raise ImageError(
                        path, f"image too large ({width}x{height} pixels > limit of {max_pixels:,})"
                    )
                if min_side and image.format in ("JPEG", "MPO"):
                    image.draft(None, (min_side, min_side))
                image.load()  # decode everything now: truncation must fail here, not later
                return to_rgb(_oriented(image))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(path, _too_large(str(err))) from None
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
    except Exception:  # decoders also raise EOFError, SyntaxError, ValueError, struct.error, ...
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


# --------------------------------------------------------------------------- conversion


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
