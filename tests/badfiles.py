"""A corpus of good, unusual and broken image files, for testing that nothing crashes on them.

`make_corpus(root)` writes every entry of KINDS (relative path, is_good) under root, mixed
across nested folders, plus the EXTRAS that folder discovery must skip (hidden files, non-image
files, a symlink loop). Images are tiny, so the whole corpus takes a fraction of a second.

Good (must load as RGB; GOOD_SIZES gives the size after EXIF rotation):
  small JPEG, uppercase .JPG, EXIF orientation 6, progressive JPEG, grayscale JPEG, CMYK JPEG,
  PNG data named .jpg, 1x1 PNG, 2000x20 panorama, name with spaces and unicode, RGBA PNG,
  LA PNG, palette PNG with transparency, 1-bit PNG, 16-bit grayscale PNG, 16-bit RGB PNG,
  animated PNG, WebP, animated WebP, animated GIF with transparency, BMP, TIFF,
  multi-page TIFF, 32-bit float TIFF.
Bad (must raise ImageError; BAD_REASONS gives a substring of the expected reason):
  zero-byte .jpg, truncated JPEG, JPEG header only, JPEG whose header claims 65000x65000,
  text named .jpg, HTML named .png, random bytes named .webp, truncated PNG, PNG with a bad
  IHDR CRC, PNG with garbage IDAT data, PNG without IDAT, PNG with zero width, 10000x10000
  1-bit PNG bomb (12 KB), GIF with no frames, truncated WebP, truncated BMP, TIFF with a bad
  IFD offset, EPS named .jpg, a folder named folder.jpg, a broken symlink link.jpg, and a FIFO
  named pipe.jpg (anything that open()s it instead of using load_image would hang).
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Writer = Callable[[Path], None]

RED, BLUE = (255, 0, 0), (0, 0, 255)


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    """A PNG built by hand from raw scanlines (each row starts with its filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def two_colour(size: tuple[int, int] = (32, 24), left=RED, right=BLUE) -> Image.Image:
    """An RGB image whose left half is one colour and right half another."""
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, size[0] // 2, size[1]))
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    """JPEG bytes of image tagged with an EXIF orientation (1-8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


# --------------------------------------------------------------------------- writers


def _data(make: Callable[[], bytes]) -> Writer:
    return lambda path: path.write_bytes(make())


HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"


# Must never reach Ghostscript just because someone named it .jpg.
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"


def _jpeg(**options) -> bytes:
    return encode(two_colour(), "JPEG", **options)


def _cmyk() -> bytes:
    return encode(Image.new("CMYK", (16, 12), (0, 255, 255, 0)), "JPEG")  # red


def _bilevel() -> bytes:
    return encode(two_colour(left=(255, 255, 255), right=(0, 0, 0)).convert("1"), "PNG")


def _bad_ifd() -> bytes:
    return b"II*\x00" + struct.pack("<I", 0xFFFFFF) + b"\x00" * 8  # first IFD far past the end


def _frameless_gif() -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b";"  # screen, then trailer


def _frames(mode: str, fmt: str, **options) -> bytes:
    colours = [(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 0)]
    frames = [Image.new("RGBA", (16, 12), c).convert(mode) for c in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **options)


def _gif() -> bytes:
    # Palette: 0 = transparent black, 1 = red, 2 = green; the first frame is red with a clear column.
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759
    frames = [Image.new("P", (16, 12), index) for index in (1, 2, 1)]
    for frame in frames:
        frame.putpalette(palette)
    frames[0].paste(0, (0, 0, 1, 12))
    return encode(
        frames[0],
        "GIF",
        save_all=True,
        append_images=frames[1:],
        transparency=0,
        duration=100,
        loop=0,
    )


def _transparent(mode: str) -> bytes:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (0, 0, 10, 20))
    return encode(image.convert(mode), "PNG")


def _palette_trns() -> bytes:
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 10, 20))
    return encode(image, "PNG", transparency=0)


def _gray16() -> bytes:
    return encode(Image.fromarray(np.full((12, 16), 32768, dtype=np.uint16)), "PNG")


def _rgb16() -> bytes:
    row = b"\x00" + struct.pack(">HHH", 65535, 32768, 0) * 8
    return png_bytes(8, 4, 16, 2, row * 4)


def _float_tiff() -> bytes:
    values = np.tile(np.linspace(0.0, 1.0, 16, dtype=np.float32), (12, 1))
    return encode(Image.fromarray(values), "TIFF")


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(two_colour(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _bomb_png() -> bytes:
    # 100 million 1-bit pixels: above Pillow's default limit, yet only ~12 KB on disk.
    return png_bytes(10_000, 10_000, 1, 0, bytes((1 + 10_000 // 8) * 10_000))


def _bad_crc_png() -> bytes:
    data = bytearray(encode(two_colour(), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR chunk's CRC
    return bytes(data)


def _garbage_idat_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    garbage = random.Random(1).randbytes(200)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", garbage)
        + png_chunk(b"IEND", b"")
    )


def _no_idat_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def _half(make: Callable[[], bytes]) -> Writer:
    def write(path: Path) -> None:
        data = make()
        path.write_bytes(data[: len(data) // 2])

    return write


def _symlink(target: str) -> Writer:
    return lambda path: os.symlink(target, path)


# (relative path, is_good, writer); folders mix good and bad files on purpose.
_CORPUS: list[tuple[str, bool, Writer]] = [
    ("holiday/small.jpg", True, _data(_jpeg)),
    ("holiday/UPPER.JPG", True, _data(_jpeg)),
    ("holiday/rotated_6.jpg", True, _data(lambda: with_orientation(two_colour(), 6))),
    ("holiday/empty.jpg", False, _data(lambda: b"")),
    ("holiday/truncated.jpg", False, _half(lambda: encode(two_colour((64, 48)), "JPEG"))),
    ("holiday/day 2/my photo – ünïcode 日本.png", True, _data(lambda: encode(two_colour(), "PNG"))),
    ("holiday/day 2/panorama.jpg", True, _data(lambda: encode(two_colour((2000, 20)), "JPEG"))),
    ("holiday/day 2/progressive.jpeg", True, _data(lambda: _jpeg(progressive=True))),
    ("holiday/day 2/header_only.jpg", False, _data(lambda: encode(two_colour(), "JPEG")[:20])),
    ("holiday/day 2/text.jpg", False, _data(lambda: b"These are my holiday notes.\n" * 5)),
    ("scans/gray.jpg", True, _data(lambda: encode(two_colour().convert("L"), "JPEG"))),
    ("scans/cmyk.jpg", True, _data(_cmyk)),
    ("scans/gray16.png", True, _data(_gray16)),
    ("scans/rgb16.png", True, _data(_rgb16)),
    ("scans/bilevel.png", True, _data(_bilevel)),
    ("scans/float.tif", True, _data(_float_tiff)),
    ("scans/multipage.tif", True, _data(lambda: _frames("RGB", "TIFF"))),
    ("scans/image.tiff", True, _data(lambda: encode(two_colour(), "TIFF"))),
    ("scans/image.bmp", True, _data(lambda: encode(two_colour(), "BMP"))),
    ("scans/bad_ifd.tiff", False, _data(_bad_ifd)),
    ("scans/truncated.bmp", False, _half(lambda: encode(two_colour((64, 48)), "BMP"))),
    ("web/rgba.png", True, _data(lambda: _transparent("RGBA"))),
    ("web/la.png", True, _data(lambda: _transparent("LA"))),
    ("web/palette_trns.png", True, _data(_palette_trns)),
    ("web/tiny.png", True, _data(lambda: encode(Image.new("RGB", (1, 1), RED), "PNG"))),
    ("web/misnamed.jpg", True, _data(lambda: encode(two_colour(), "PNG"))),
    ("web/image.webp", True, _data(lambda: encode(two_colour(), "WEBP", lossless=True))),
    ("web/animated.webp", True, _data(lambda: _frames("RGBA", "WEBP"))),
    ("web/animated.gif", True, _data(_gif)),
    ("web/animated.png", True, _data(lambda: _frames("RGBA", "PNG"))),
    ("web/page.png", False, _data(lambda: HTML)),
    ("web/random.webp", False, _data(lambda: random.Random(0).randbytes(3000))),
    ("web/garbage.gif", False, _data(_frameless_gif)),
    ("web/truncated.webp", False, _half(lambda: encode(two_colour((64, 48)), "WEBP", quality=90))),
    ("misc/deep/er/truncated.png", False, _half(lambda: encode(two_colour((64, 48)), "PNG"))),
    ("misc/deep/er/bad_crc.png", False, _data(_bad_crc_png)),
    ("misc/deep/er/garbage_idat.png", False, _data(_garbage_idat_png)),
    ("misc/deep/er/no_idat.png", False, _data(_no_idat_png)),
    ("misc/deep/er/zero_width.png", False, _data(lambda: png_bytes(0, 16, 8, 0, b""))),
    ("misc/deep/bomb.png", False, _data(_bomb_png)),
    ("misc/deep/bomb_header.jpg", False, _data(lambda: _jpeg_claiming(65_000, 65_000))),
    ("misc/postscript.jpg", False, _data(lambda: POSTSCRIPT)),
    ("misc/folder.jpg", False, lambda path: path.mkdir()),
    ("misc/link.jpg", False, _symlink("does-not-exist.jpg")),
    ("misc/pipe.jpg", False, os.mkfifo),
]

KINDS: tuple[tuple[str, bool], ...] = tuple((name, good) for name, good, _ in _CORPUS)

# Size each good file has once loaded (after EXIF rotation, first frame only).
GOOD_SIZES: dict[str, tuple[int, int]] = {name: (32, 24) for name, good in KINDS if good} | {
    "holiday/rotated_6.jpg": (24, 32),
    "holiday/day 2/panorama.jpg": (2000, 20),
    "scans/cmyk.jpg": (16, 12),
    "scans/gray16.png": (16, 12),
    "scans/rgb16.png": (8, 4),
    "scans/float.tif": (16, 12),
    "scans/multipage.tif": (16, 12),
    "web/rgba.png": (20, 20),
    "web/la.png": (20, 20),
    "web/palette_trns.png": (20, 20),
    "web/tiny.png": (1, 1),
    "web/animated.webp": (16, 12),
    "web/animated.gif": (16, 12),
    "web/animated.png": (16, 12),
}

# A substring of the reason load_image should give for each bad file.
BAD_REASONS: dict[str, str] = {
    "holiday/empty.jpg": "empty file",
    "holiday/truncated.jpg": "truncated or corrupt",
    "holiday/day 2/header_only.jpg": "corrupt",
    "holiday/day 2/text.jpg": "not an image",
    "scans/bad_ifd.tiff": "corrupt",
    "scans/truncated.bmp": "truncated or corrupt",
    "web/page.png": "not an image",
    "web/random.webp": "not an image",
    "web/garbage.gif": "corrupt",
    "web/truncated.webp": "corrupt",
    "misc/deep/er/truncated.png": "truncated or corrupt",
    "misc/deep/er/bad_crc.png": "corrupt",
    "misc/deep/er/garbage_idat.png": "truncated or corrupt",
    "misc/deep/er/no_idat.png": "corrupt",
    "misc/deep/er/zero_width.png": "corrupt",
    "misc/deep/bomb.png": "image too large",
    "misc/deep/bomb_header.jpg": "image too large",
    "misc/postscript.jpg": "not an image",
    "misc/folder.jpg": "is a folder",
    "misc/link.jpg": "broken symbolic link",
    "misc/pipe.jpg": "not a regular file",
}

# Written too, but never found when a folder is searched: hidden or not named like an image.
EXTRAS: tuple[str, ...] = (
    ".DS_Store",
    "notes.txt",
    "holiday/Thumbs.db",
    "holiday/._small.jpg",
    ".hidden/secret.jpg",
    "misc/loop",
)


def _write_extras(root: Path) -> None:
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 60)
    (root / "notes.txt").write_text("not an image\n")
    (root / "holiday/Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 60)
    (root / "holiday/._small.jpg").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 60)  # AppleDouble
    (root / ".hidden").mkdir()
    (root / ".hidden/secret.jpg").write_bytes(encode(two_colour(), "JPEG"))
    os.symlink("..", root / "misc/loop")  # a symlink loop discovery must not follow forever


def make_corpus(root: Path) -> tuple[list[Path], list[Path]]:
    """Write good and bad/unusual image files under root; return (good, bad)."""
    root = Path(root)
    good: list[Path] = []
    bad: list[Path] = []
    for name, is_good, write in _CORPUS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        (good if is_good else bad).append(path)
    _write_extras(root)
    return good, bad
