"""Refusals that say what they refuse (issue 29, item 10): a decompression bomb quotes the one pixel
limit that applies, whichever of Pillow's two checks caught it, and oversized PNG text metadata is
named as such, not as "truncated or corrupt"."""

import zlib

import pytest
from PIL import Image, PngImagePlugin

from captioning.images.errors import ImageError
from captioning.images.loading import DEFAULT_MAX_PIXELS, load_image, pixel_limit
from tests.badfiles import encode, png_bytes, png_chunk, two_colour

# (name, width, height): Pillow warns above its limit (89,478,485 pixels) and raises above twice it.
BOMBS = [("over-the-limit.png", 10_000, 10_000), ("over-twice-the-limit.png", 15_000, 15_000)]


def _bomb(width: int, height: int) -> bytes:
    """A 1-bit PNG claiming width x height pixels, a few KB on disk."""
    return png_bytes(width, height, 1, 0, bytes((1 + width // 8) * height))


def _with_chunks(*chunks: bytes) -> bytes:
    """A good 32x24 PNG with these chunks right after its header."""
    png = encode(two_colour(), "PNG")
    return png[:33] + b"".join(chunks) + png[33:]


@pytest.mark.parametrize("max_pixels", [DEFAULT_MAX_PIXELS, None, 10**12])
def test_every_bomb_message_quotes_the_one_limit_that_applies(tmp_path, max_pixels):
    limit = pixel_limit(max_pixels)
    assert limit == DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS
    for name, width, height in BOMBS:
        path = tmp_path / name
        path.write_bytes(_bomb(width, height))
        with pytest.raises(ImageError) as err:
            load_image(path, max_pixels=max_pixels)
        assert str(err.value) == f"{path}: image too large ({width * height:,} pixels > limit of {limit:,})"


def test_a_smaller_limit_of_the_callers_is_the_one_quoted(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb(15_000, 15_000))
    with pytest.raises(ImageError, match=r"pixels > limit of 1,000\)$"):
        load_image(path, max_pixels=1_000)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_a_text_chunk_that_inflates_past_pillows_limit_is_named(tmp_path, kind):
    """50 MB of text, 50 KB on disk, in a compressed text chunk."""
    text = zlib.compress(b"x" * 50_000_000)
    data = b"comment\x00\x00" + text if kind == b"zTXt" else b"comment\x00\x01\x00\x00\x00" + text
    path = tmp_path / "metadata.png"
    path.write_bytes(_with_chunks(png_chunk(kind, data)))
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == (f"{path}: oversized text/metadata chunk (more than "
                              f"{PngImagePlugin.MAX_TEXT_CHUNK:,} bytes decompressed; a possible "
                              "decompression bomb)")


def test_text_chunks_past_pillows_total_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 100_000)  # Pillow's 64 MiB, scaled down
    chunks = [png_chunk(b"tEXt", b"k%d\x00" % i + b"y" * 30_000) for i in range(4)]
    path = tmp_path / "many-comments.png"
    path.write_bytes(_with_chunks(*chunks))
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: oversized text/metadata chunks (more than 100,000 bytes in all)"


def test_text_within_the_limits_and_other_value_errors_are_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "commented.png"
    path.write_bytes(_with_chunks(png_chunk(b"iTXt", b"comment\x00\x00\x00\x00\x00" + b"z" * 2_000_000)))
    assert load_image(path).size == (32, 24)  # 2 MB of plain text: Pillow reads it, so do we

    def refuse(self):
        raise ValueError("buffer is not large enough")

    monkeypatch.setattr(Image.Image, "load", refuse)
    with pytest.raises(ImageError, match=r"truncated or corrupt image data$"):
        load_image(path)
