"""Discovery finds exactly the images; loading gives oriented RGB or a one-line ImageError."""

import builtins
import contextlib
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captioning.images.convert import to_rgb
from captioning.images.discovery import IMAGE_EXTENSIONS, discover_images
from captioning.images.errors import ImageError
from captioning.images.loading import DEFAULT_MAX_PIXELS, MAX_ASPECT, load_image, size_problem
from tests.badfiles import (
    BAD_REASONS,
    EXTRAS,
    GOOD_SIZES,
    KINDS,
    encode,
    make_corpus,
    two_colour,
    with_orientation,
)

GOOD = [name for name, good in KINDS if good]
BAD = [name for name, good in KINDS if not good]
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    good, bad = make_corpus(root)
    return root, good, bad


def rel(root, paths):
    return [p.relative_to(root).as_posix() for p in paths]


def close(actual, expected, tol=40):
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


# --------------------------------------------------------------------------- corpus


def test_corpus_is_varied_and_consistent(corpus):
    root, good, bad = corpus
    assert len(good) >= 16 and len(bad) >= 20
    assert rel(root, good) == GOOD and rel(root, bad) == BAD
    assert set(GOOD_SIZES) == set(GOOD) and set(BAD_REASONS) == set(BAD)
    assert all(os.path.lexists(root / name) for name in EXTRAS)


# --------------------------------------------------------------------------- discovery


def test_extensions_are_lowercase_with_dot():
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"} == IMAGE_EXTENSIONS


def test_folder_is_searched_recursively_skipping_hidden_and_non_images(corpus):
    root, _, _ = corpus
    paths, problems = discover_images([root])
    assert problems == []
    # Everything named like an image, except the folder called folder.jpg (it is walked instead).
    assert sorted(rel(root, paths)) == sorted(
        name for name, _ in KINDS if name != "misc/folder.jpg"
    )
    assert "holiday/UPPER.JPG" in rel(root, paths)  # extensions are case-insensitive
    assert not any(part.startswith(".") for p in rel(root, paths) for part in p.split("/"))
    assert paths == sorted(paths)
    assert all(isinstance(p, Path) for p in paths)


def test_duplicates_are_removed_and_results_sorted(corpus):
    root, _, _ = corpus
    once, _ = discover_images([root])
    again, problems = discover_images(
        [
            root / "web",
            root,
            root / "holiday" / "small.jpg",
            f"{root}/./holiday",
            root / "misc/loop",
        ]
    )
    assert problems == []
    assert again == once


def test_globs_expand_to_images(corpus):
    root, _, _ = corpus
    jpgs, problems = discover_images([f"{root}/holiday/*.jpg"])
    assert problems == []
    assert rel(root, jpgs) == [
        "holiday/empty.jpg",
        "holiday/rotated_6.jpg",
        "holiday/small.jpg",
        "holiday/truncated.jpg",
    ]

    pngs, _ = discover_images([f"{root}/**/*.png"])  # recursive, through the symlink loop too
    assert rel(root, pngs) == sorted(n for n, _ in KINDS if n.endswith(".png"))

    folders, _ = discover_images([f"{root}/sc*"])  # a matched folder is searched
    assert folders == discover_images([root / "scans"])[0]

    everything, _ = discover_images([f"{root}/**"])
    assert len(everything) == len(discover_images([root])[0])


def test_problems_are_reported_not_raised(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    paths, problems = discover_images(
        [tmp_path / "nope.jpg", tmp_path / "empty", tmp_path / "docs", f"{tmp_path}/*.png"]
    )
    assert paths == []
    assert problems == [
        f"no such file or folder: {tmp_path / 'nope.jpg'}",
        f"no images found in {tmp_path / 'empty'}",
        f"no images found in {tmp_path / 'docs'}",
        f"no images match {tmp_path}/*.png",
    ]


def test_explicit_files_are_kept_whatever_their_name(corpus):
    root, _, _ = corpus
    named = [root / "notes.txt", root / ".hidden" / "secret.jpg", root / "misc/link.jpg"]
    paths, problems = discover_images([str(p) for p in named])
    assert problems == [] and sorted(paths) == sorted(named)
    with pytest.raises(ImageError, match="not an image"):
        load_image(root / "notes.txt")
    assert load_image(root / ".hidden" / "secret.jpg").size == (32, 24)


def test_file_name_with_brackets_is_not_a_glob(tmp_path):
    path = tmp_path / "photo [1].jpg"
    path.write_bytes(encode(two_colour(), "JPEG"))
    assert discover_images([str(path)]) == ([path], [])


# --------------------------------------------------------------------------- loading the corpus


@pytest.mark.parametrize("name", GOOD)
def test_good_files_load_as_rgb(corpus, name):
    root, _, _ = corpus
    image = load_image(root / name)
    assert image.mode == "RGB"
    assert image.size == GOOD_SIZES[name]
    image.getpixel((0, 0))  # pixel data is there


@pytest.mark.parametrize("name", BAD)
def test_bad_files_raise_one_line_image_error(corpus, name):
    root, _, _ = corpus
    path = root / name
    with pytest.raises(ImageError) as caught:
        load_image(path)
    error = caught.value
    assert BAD_REASONS[name] in error.reason
    assert error.path == str(path)
    assert str(error) == f"{path}: {error.reason}"
    assert "\n" not in str(error)


def test_load_accepts_str_and_keeps_content(corpus):
    root, _, _ = corpus
    image = load_image(str(root / "holiday" / "small.jpg"))
    assert close(image.getpixel((2, 2)), RED) and close(image.getpixel((29, 2)), BLUE)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r": no such file$"):
        load_image(tmp_path / "gone.jpg")


def test_newline_in_file_name_stays_one_line(tmp_path):
    path = tmp_path / "two\nlines.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert "\n" not in str(caught.value) and "two\\nlines.jpg" in str(caught.value)
    assert caught.value.path == str(path)


def test_image_error_pickles():
    error = pickle.loads(pickle.dumps(ImageError("a.jpg", "empty file")))
    assert (error.path, error.reason, str(error)) == ("a.jpg", "empty file", "a.jpg: empty file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.jpg"
    path.write_bytes(encode(two_colour(), "JPEG"))
    path.chmod(0)
    with pytest.raises(ImageError, match="permission denied"):
        load_image(path)


def test_permission_denied_on_open(tmp_path, monkeypatch):
    path = tmp_path / "secret.jpg"
    path.write_bytes(encode(two_colour(), "JPEG"))
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    with pytest.raises(ImageError, match="permission denied"):
        load_image(path)


def test_unexpected_decoder_exceptions_become_image_errors(tmp_path, monkeypatch):
    path = tmp_path / "odd.png"
    path.write_bytes(encode(two_colour(), "PNG"))

    def explode(*args, **kwargs):
        raise ZeroDivisionError("inside a plugin")

    monkeypatch.setattr(Image.Image, "load", explode)
    with pytest.raises(ImageError, match="corrupt"):
        load_image(path)


# --------------------------------------------------------------------------- size limits


def test_pixel_limit_is_a_parameter(corpus):
    root, _, _ = corpus
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"image too large \(32x24 pixels > limit of 100\)"):
        load_image(root / "holiday" / "small.jpg", max_pixels=100)
    assert load_image(root / "holiday" / "small.jpg", max_pixels=32 * 24).size == (32, 24)
    assert load_image(root / "holiday" / "small.jpg", max_pixels=None).size == (32, 24)
    assert Image.MAX_IMAGE_PIXELS == before == DEFAULT_MAX_PIXELS


def test_pillow_bomb_limit_applies_and_warning_filters_are_untouched(corpus):
    root, _, _ = corpus
    filters = list(warnings.filters)
    for name in ("misc/deep/bomb.png", "misc/deep/bomb_header.jpg"):
        with pytest.raises(ImageError, match="image too large"):
            load_image(root / name, max_pixels=None)
    assert warnings.filters == filters


# --------------------------------------------------------------------------- orientation

# Quadrants (top-left, top-right, bottom-left, bottom-right) after honouring each orientation.
ORIENTED = {
    1: (RED, BLUE, GREEN, WHITE),
    2: (BLUE, RED, WHITE, GREEN),
    3: (WHITE, GREEN, BLUE, RED),
    4: (GREEN, WHITE, RED, BLUE),
    5: (RED, GREEN, BLUE, WHITE),
    6: (GREEN, RED, WHITE, BLUE),
    7: (WHITE, BLUE, GREEN, RED),
    8: (BLUE, WHITE, RED, GREEN),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation(tmp_path, orientation):
    stored = Image.new("RGB", (32, 24), WHITE)
    stored.paste(RED, (0, 0, 16, 12))
    stored.paste(BLUE, (16, 0, 32, 12))
    stored.paste(GREEN, (0, 12, 16, 24))
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(with_orientation(stored, orientation))
    image = load_image(path)
    w, h = image.size
    assert (w, h) == ((32, 24) if orientation <= 4 else (24, 32))
    corners = [
        (w // 4, h // 4),
        (3 * w // 4, h // 4),
        (w // 4, 3 * h // 4),
        (3 * w // 4, 3 * h // 4),
    ]
    got = [image.getpixel(xy) for xy in corners]
    assert all(close(g, e) for g, e in zip(got, ORIENTED[orientation], strict=True)), got


def test_left_red_right_blue_rotations(tmp_path):
    expected = {6: "top", 3: "right", 8: "bottom"}  # where the red half ends up
    for orientation, side in expected.items():
        path = tmp_path / f"{orientation}.jpg"
        path.write_bytes(with_orientation(two_colour(), orientation))
        image = load_image(path)
        w, h = image.size
        probe = {"top": (w // 2, 2), "bottom": (w // 2, h - 3), "right": (w - 3, h // 2)}[side]
        assert close(image.getpixel(probe), RED), (orientation, image.getpixel(probe))


@pytest.mark.parametrize("fmt", ["JPEG", "MPO"])
def test_min_side_decodes_big_jpegs_at_a_reduced_scale(tmp_path, fmt):
    """The smallest of 1/2, 1/4, 1/8 that keeps both sides >= min_side; PIL does the scaling."""
    big = two_colour((2000, 1400))
    path = tmp_path / "big.jpg"
    big.save(path, fmt, quality=90)
    assert load_image(path).size == (2000, 1400)
    assert load_image(path, min_side=160).size == (250, 175)  # 1/8: 175 >= 160
    assert load_image(path, min_side=256).size == (500, 350)  # 1/8 would give 175 < 256: 1/4
    assert load_image(path, min_side=1400).size == (2000, 1400)  # no smaller scale fits
    small = load_image(path, min_side=256)
    assert close(small.getpixel((100, 175)), RED) and close(small.getpixel((400, 175)), BLUE)


def test_min_side_keeps_exif_orientation_and_leaves_other_formats_alone(tmp_path):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(with_orientation(two_colour((1600, 1200)), 6))  # red half ends up on top
    image = load_image(path, min_side=256)
    assert image.size == (300, 400)
    assert close(image.getpixel((150, 5)), RED) and close(image.getpixel((150, 395)), BLUE)
    png = tmp_path / "big.png"
    two_colour((1600, 1200)).save(png)
    assert load_image(png, min_side=256).size == (1600, 1200)


# --------------------------------------------------------------------------- colour conversion


def test_transparency_becomes_white(corpus):
    root, _, _ = corpus
    for name in ("web/rgba.png", "web/la.png", "web/palette_trns.png", "web/animated.gif"):
        image = load_image(root / name)
        assert image.getpixel((image.width - 1, 0)) == WHITE or image.getpixel((0, 0)) == WHITE, (
            name
        )
    rgba = load_image(root / "web/rgba.png")
    assert rgba.getpixel((0, 0)) == BLACK and rgba.getpixel((19, 19)) == WHITE
    gif = load_image(root / "web/animated.gif")
    assert gif.getpixel((0, 5)) == WHITE and gif.getpixel((8, 5)) == RED


def test_partial_transparency_blends_over_white():
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 0, 128))
    out = to_rgb(image)
    assert out.getpixel((0, 0)) == WHITE
    assert close(out.getpixel((1, 0)), (127, 127, 127), tol=2)


@pytest.mark.parametrize("mode", ["LA", "La", "PA", "RGBa"])
def test_other_alpha_modes_become_white(mode):
    image = Image.new(mode, (2, 2), (0,) * len(mode))  # black, fully transparent
    assert to_rgb(image).getpixel((0, 0)) == WHITE


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N", "I"])
def test_sixteen_bit_gray_keeps_its_brightness(mode):
    image = Image.new(mode, (4, 4), 32768)
    image.putpixel((0, 0), 65535)
    out = to_rgb(image)
    assert out.getpixel((1, 1)) == (128, 128, 128)
    assert out.getpixel((0, 0)) == WHITE


def test_sixteen_bit_png_mid_gray(corpus):
    root, _, _ = corpus
    assert load_image(root / "scans/gray16.png").getpixel((3, 3)) == (128, 128, 128)


def test_sixteen_bit_transparent_value_becomes_white():
    image = Image.new("I;16", (2, 1), 1000)
    image.putpixel((0, 0), 0)
    image.info["transparency"] = 0
    out = to_rgb(image)
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 0)) == (4, 4, 4)


def test_float_images_scale_by_their_range():
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert [to_rgb(unit).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    wide = Image.fromarray(np.array([[-5.0, 0.0, 5.0, np.nan]], dtype=np.float32))
    assert [to_rgb(wide).getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 0]
    flat = Image.fromarray(np.full((2, 2), 7e6, dtype=np.float32))
    assert to_rgb(flat).mode == "RGB"


def test_cmyk_is_roughly_the_right_colour(corpus):
    root, _, _ = corpus
    assert close(load_image(root / "scans/cmyk.jpg").getpixel((5, 5)), RED)
    cyan = Image.new("CMYK", (2, 2), (255, 0, 0, 0))
    assert close(to_rgb(cyan).getpixel((0, 0)), (0, 255, 255))
    cyan.info["icc_profile"] = b"not a real profile"
    assert close(to_rgb(cyan).getpixel((0, 0)), (0, 255, 255))


def test_rgb_transparency_colour_becomes_white():
    image = Image.new("RGB", (2, 1), (1, 2, 3))
    image.putpixel((1, 0), RED)
    image.info["transparency"] = (1, 2, 3)
    out = to_rgb(image)
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 0)) == RED


@pytest.mark.parametrize("mode", sorted(Image.MODES))
def test_every_mode_converts_to_a_new_rgb_image(mode):
    image = Image.new(mode, (3, 2))
    out = to_rgb(image)
    assert out.mode == "RGB" and out.size == (3, 2) and out is not image


# --------------------------------------------------------------------------- resources


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_no_file_handles_or_mappings_leak(corpus):
    root, good, bad = corpus
    before = len(os.listdir("/proc/self/fd"))
    kept = []
    for _ in range(3):
        for path in good + bad:
            with contextlib.suppress(ImageError):
                kept.append(load_image(path))
    assert len(kept) == 3 * len(good)
    assert len(os.listdir("/proc/self/fd")) == before
    with open("/proc/self/maps") as maps:  # returned images must not keep files memory-mapped
        assert str(root) not in maps.read()


def test_a_thin_image_is_refused_before_decoding(tmp_path):
    """A 374-byte 1x100000 PNG would become ~25 GB once its short side is resized to 292 px."""
    path = tmp_path / "thin.png"
    Image.new("RGB", (1, 100_000)).save(path)
    assert path.stat().st_size < 1000
    with pytest.raises(ImageError) as err:
        load_image(path, min_side=292)
    assert str(err.value) == f"{path}: extreme aspect ratio (1x100000, more than {MAX_ASPECT}:1)"


def test_size_problem_bounds_the_resized_image_too():
    assert size_problem(640, 480, min_side=292) is None
    assert size_problem(MAX_ASPECT, 1) is None and "aspect" in size_problem(MAX_ASPECT + 1, 1)
    assert "zero width or height" in size_problem(0, 0)
    assert "limit of 89,478,485" in size_problem(10_000, 10_000)
    # 50:1 is allowed, but a 2000-pixel short side would make 200 million pixels
    assert "once resized" in size_problem(5000, 100, min_side=2000)
