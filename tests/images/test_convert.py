"""as_rgb: one reader for every input the API and the figures take, through load_image for paths."""

import numpy as np
import pytest
import torch
from PIL import Image

from captioning.images.errors import ImageError
from captioning.images.loading import as_rgb, load_image
from captioning.render.layout import as_array


@pytest.fixture
def rgb():
    g = np.random.default_rng(0)
    return g.integers(0, 256, (12, 20, 3), dtype=np.uint8)


def test_every_kind_of_input_gives_the_same_pixels(rgb, tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    floats = rgb.astype(np.float32) / 255
    inputs = [Image.fromarray(rgb), rgb, floats, floats.astype(np.float64), path, str(path),
              torch.from_numpy(rgb).permute(2, 0, 1), torch.from_numpy(floats).permute(2, 0, 1),
              rgb.transpose(2, 0, 1), Image.fromarray(rgb).convert("RGBA")]
    for image in inputs:
        out = as_rgb(image)
        assert out.mode == "RGB" and np.array_equal(np.asarray(out), rgb), type(image)


def test_grey_and_single_channel_inputs_become_rgb(rgb):
    grey = rgb[..., 0]
    for image in (grey, grey[None], torch.from_numpy(grey)[None], grey[..., None]):
        out = np.asarray(as_rgb(image))
        assert out.shape == (12, 20, 3) and np.array_equal(out[..., 1], grey)


@pytest.mark.parametrize(("image", "error", "message"), [
    (np.full((4, 4, 3), 2.0, np.float32), ValueError, "not normalized"),
    (np.zeros((5, 4, 5), np.uint8), ValueError, "HW, HWC or CHW"),
    (np.zeros((4, 4, 3), np.int64), ValueError, "uint8 or float"),
    (42, TypeError, "cannot read an image from a int"),
])
def test_bad_pixels_are_one_line_errors(image, error, message):
    with pytest.raises(error, match=message):
        as_rgb(image)


def test_bad_files_are_image_errors(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=r"bad\.jpg: not an image"):
        as_rgb(tmp_path / "bad.jpg")


def test_figures_show_a_photo_as_the_model_sees_it(tmp_path):
    """EXIF orientation applies in overlays too: they read paths with load_image."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    shown = as_array(path)
    assert shown.shape == (40, 20, 3)
    assert np.array_equal(shown, np.asarray(load_image(path)))
    assert shown[:10].mean() > 200 and shown[-10:].mean() < 50  # the band is now on top
