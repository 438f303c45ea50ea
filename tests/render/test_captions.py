"""captioning.visualize: every figure renders to a non-blank PNG, text stays inside, saves are atomic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image

from captioning.lab import plots
from captioning.render import captions as viz
from captioning.render import layout

LONG = ("a young man in a bright red jacket rides a brown horse along a wide sandy beach while "
        "two black dogs chase the waves, a group of children builds a sandcastle near the water "
        "and several seagulls circle above the small fishing boats in the harbour at sunset as "
        "the lighthouse keeper walks his old grey dog along the pier towards the red boathouse")[:300]
WORD = "pneumonoultramicroscopicsilicovolcanoconiosis" + "x" * 15  # one 60-char word
assert len(LONG) == 300 and len(WORD) == 60


@pytest.fixture
def rgb() -> np.ndarray:
    """A 96x128 colour gradient (uint8), light enough that dark caption text stands out."""
    yy, xx = np.mgrid[0:96, 0:128]
    return np.stack([xx * 2, yy * 2, np.full_like(xx, 128)], axis=-1).astype(np.uint8)


def _save(fig, tmp_path: Path, name: str, dpi: int = 40) -> np.ndarray:
    """Save with save_figure and return the PNG as a grey-level array."""
    path = layout.save_figure(fig, tmp_path / name, dpi=dpi)
    assert path == tmp_path / name and path.is_file()
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def _assert_text_inside(fig, monkeypatch: pytest.MonkeyPatch, tol: float = 2.0) -> list[str]:
    """Draw the figure and check every drawn text's window extent lies inside the figure."""
    drawn, draw = [], Text.draw

    def spy(self, renderer):
        draw(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self.get_text(), self.get_window_extent(renderer)))

    with monkeypatch.context() as m:
        m.setattr(Text, "draw", spy)
        fig.canvas.draw()
    box = fig.bbox
    assert drawn
    for text, bb in drawn:
        inside = (bb.x0 >= box.x0 - tol and bb.y0 >= box.y0 - tol
                  and bb.x1 <= box.x1 + tol and bb.y1 <= box.y1 + tol)
        assert inside, f"text {text[:40]!r} at {bb} runs outside the figure {box}"
    return [t for t, _ in drawn]


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


# ----------------------------------------------------------------------------- show_caption
def test_show_caption_png_has_image_and_caption(rgb, tmp_path):
    px = _save(viz.show_caption(rgb, "a dog runs on the beach", title="COCO 42"), tmp_path, "c.png")
    assert px.shape[1] == 240 and px.shape[0] > 150  # 6 in at 40 dpi
    assert px.std() > 20
    caption_band = px[-12:]  # below the image: white paper with dark letters
    assert caption_band.min() < 100 and np.median(caption_band) > 200


def test_long_caption_makes_a_taller_figure(rgb, tmp_path):
    short = _save(viz.show_caption(rgb, "a dog"), tmp_path, "short.png")
    long = _save(viz.show_caption(rgb, LONG), tmp_path, "long.png")
    assert long.shape[0] > short.shape[0] + 30
    assert long.shape[1] == short.shape[1]


def test_band_style_draws_a_dark_band_with_light_text(rgb, tmp_path):
    px = _save(viz.show_caption(rgb, "a dog on the beach", style="band"), tmp_path, "b.png")
    bottom = px[-10:-4, 10:-10]
    assert np.median(bottom) < 100 and bottom.max() > 200
    with pytest.raises(ValueError):
        viz.show_caption(rgb, "x", style="sideways")


@pytest.mark.parametrize("caption", [None, "", "   "])
def test_missing_caption_says_so(rgb, caption):
    assert layout.NO_CAPTION in _texts(viz.show_caption(rgb, caption))
    assert layout.NO_CAPTION in _texts(viz.caption_grid([rgb, rgb], ["a cat", caption]))


def test_dollar_signs_are_not_mathtext(rgb, monkeypatch):
    fig = viz.show_caption(rgb, "a $5 bill next to a $10 bill")
    assert "a $5 bill next to a $10 bill" in _assert_text_inside(fig, monkeypatch)


# ----------------------------------------------------------------------------- text stays inside
BUILDERS = {
    "below": lambda img, cap: viz.show_caption(img, cap, title=cap),
    "band": lambda img, cap: viz.show_caption(img, cap, style="band", width_in=3.0),
    "grid": lambda img, cap: viz.caption_grid([img] * 3, [cap, "a cat", cap], titles=[cap] * 3,
                                              cell_in=1.5),
    "nbest": lambda img, cap: viz.show_nbest(img, [(cap, -1.0), ("a dog", -2.5)], title=cap),
    "compare": lambda img, cap: viz.compare_captions(img, cap, [cap, "a dog"], scores={"CIDEr": 1.0}),
}


@pytest.mark.parametrize("kind", BUILDERS)
@pytest.mark.parametrize("caption", [LONG, WORD, f"{LONG} {WORD} {WORD}"], ids=["long", "word", "both"])
def test_long_text_never_leaves_the_figure(rgb, monkeypatch, kind, caption):
    fig = BUILDERS[kind](rgb, caption)
    _assert_text_inside(fig, monkeypatch)
    if kind != "band":  # and it never covers an image
        images = [ax.get_window_extent() for ax in fig.axes]
        assert not any(t.get_window_extent().overlaps(im) for t in fig.texts for im in images)


def test_text_inside_at_other_dpis(rgb, monkeypatch):
    for dpi in (40, 72, 150):
        fig = viz.caption_grid([rgb] * 2, [LONG, WORD], cell_in=2.0)
        fig.set_dpi(dpi)
        _assert_text_inside(fig, monkeypatch)


# ----------------------------------------------------------------------------- caption_grid
@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_caption_grid_layouts(rgb, tmp_path, n):
    captions = [LONG if i % 3 == 0 else f"image {i}" for i in range(n)]
    fig = viz.caption_grid([rgb] * n, captions, cell_in=1.0)
    ncols = min(6, math.ceil(math.sqrt(n)))
    assert len(fig.axes) == n
    px = _save(fig, tmp_path, f"grid{n}.png", dpi=30)
    assert px.shape[1] == ncols * 30
    assert px.shape[0] > math.ceil(n / ncols) * 30 and px.std() > 20


def test_caption_grid_cells_stay_aligned(rgb):
    fig = viz.caption_grid([rgb] * 6, ["a", LONG, "", "a cat", WORD, "b"], ncols=3,
                           titles=[f"#{i}" for i in range(6)])
    boxes = [ax.get_position() for ax in fig.axes]
    assert len({round(b.height, 6) for b in boxes}) == 1
    assert len({round(b.y0, 6) for b in boxes}) == 2  # two rows, each at one height
    assert len({round(b.x0, 6) for b in boxes}) == 3


def test_grid_captions_stay_in_their_cells(rgb):
    fig = viz.caption_grid([rgb, rgb.transpose(1, 0, 2), rgb], [WORD, LONG, "a"], cell_in=2.0,
                           titles=["one", LONG, "three"])
    fig.canvas.draw()
    cell_px = 2.0 * fig.dpi
    images = [ax.get_window_extent() for ax in fig.axes]
    for text in fig.texts:
        bb = text.get_window_extent()
        assert bb.width <= cell_px - 4, text.get_text()
        assert not any(bb.overlaps(im) for im in images), text.get_text()


def test_caption_grid_rejects_extra_captions(rgb):
    with pytest.raises(ValueError):
        viz.caption_grid([rgb], ["a", "b"])


# ----------------------------------------------------------------------------- inputs
def test_image_inputs(rgb, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(rgb).save(path)
    floats = rgb.astype(np.float32) / 255
    inputs = [Image.fromarray(rgb), rgb, floats, floats.astype(np.float64), path, str(path),
              torch.from_numpy(floats).permute(2, 0, 1), Image.fromarray(rgb).convert("RGBA")]
    for image in inputs:
        arr = layout.as_array(image)
        assert arr.dtype == np.uint8 and arr.shape == rgb.shape
        assert np.abs(arr.astype(int) - rgb).max() <= 1
    grey = layout.as_array(rgb[..., 0])
    assert grey.shape == rgb.shape and (grey[..., 2] == rgb[..., 0]).all()
    for image in inputs[:5]:
        assert _save(viz.show_caption(image, "a gradient"), tmp_path, "x.png").std() > 20


def test_big_images_are_downsampled():
    arr = layout.as_array(np.zeros((3000, 1500, 3), np.uint8))
    assert arr.shape == (1024, 512, 3)


# ----------------------------------------------------------------------------- n-best / compare
def test_show_nbest_best_first_numbered_two_decimals(rgb, tmp_path):
    fig = viz.show_nbest(rgb, [("a cat", -4.5678), ("a dog on a beach", -1.2345), ("a dog", -2.0)])
    texts = fig.texts
    order = [t.get_text() for t in texts if t.get_text() in ("a cat", "a dog on a beach", "a dog")]
    assert order == ["a dog on a beach", "a dog", "a cat"]
    assert {"1.", "2.", "3.", "-1.23", "-2.00", "-4.57"} <= {t.get_text() for t in texts}
    weight = {t.get_text(): t.get_fontweight() for t in texts}
    assert weight["a dog on a beach"] == "bold" and weight["a cat"] == "normal"
    px = _save(fig, tmp_path, "nbest.png")
    assert px.shape[1] == 240 and px.std() > 20 and px[-15:].min() < 100
    assert layout.NO_CAPTION in _texts(viz.show_nbest(rgb, []))


def test_compare_captions(rgb, tmp_path):
    fig = viz.compare_captions(rgb, "a dog runs", ["A dog is running.", "A brown dog."],
                               scores={"BLEU-4": 0.3141, "CIDEr": 1.2})
    texts = _texts(fig)
    assert {"a dog runs", "A dog is running.", "A brown dog.", "BLEU-4 0.314   CIDEr 1.200"} <= set(texts)
    px = _save(fig, tmp_path, "cmp.png")
    assert px.shape[1] > px.shape[0] and px.std() > 20
    assert px[:, px.shape[1] // 2:].min() < 100  # the text column is not empty


# ----------------------------------------------------------------------------- internals
@pytest.mark.parametrize("as_torch", [False, True])
def test_plot_gates(tmp_path, monkeypatch, as_torch):
    rng = np.random.default_rng(0)
    tokens = ["<start>", "a", "dog", "on", "the", "beach", "<end>"]
    gates = {k: rng.random((7, 100)) for k in ("forget", "input", "output")}
    gates["cell_norm"] = np.linspace(1, 3, 7)
    if as_torch:
        gates = {k: torch.tensor(v, requires_grad=True) for k, v in gates.items()}
    fig = plots.plot_gates(tokens, gates, max_units=32)
    heatmaps = [im for ax in fig.axes for im in ax.images]
    assert len(heatmaps) == 3 and heatmaps[0].get_array().shape == (32, 7)
    texts = _assert_text_inside(fig, monkeypatch)
    assert "<end>" in texts and any("units 0–31 of 100" in t for t in texts)
    px = _save(fig, tmp_path, "gates.png")
    assert px.shape[0] > 200 and px.std() > 20


def test_plot_gates_gru_and_shape_errors():
    fig = plots.plot_gates(["a", "b"], {"update": torch.rand(2, 1, 8), "reset": np.random.rand(2, 8)})
    assert sum(len(ax.images) for ax in fig.axes) == 2
    with pytest.raises(ValueError, match="forget"):
        plots.plot_gates(["a", "b", "c"], {"forget": np.random.rand(2, 8)})


def test_plot_gradient_flow_is_log_scale(tmp_path):
    norms = {"rnn": 0.6 ** np.arange(20), "lstm": list(0.95 ** np.arange(20)),
             "gru": torch.tensor(0.9 ** np.arange(20)), "dead": [1.0, 0.0, 0.0]}
    fig = plots.plot_gradient_flow(norms)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 4
    assert _save(fig, tmp_path, "grad.png").std() > 10


@pytest.mark.parametrize("with_val", [False, True])
def test_plot_training_curves(tmp_path, with_val):
    records = [{"epoch": e, "train_loss": 3 / e} for e in range(1, 6)]
    if with_val:
        for r in records:
            r.update(val_loss=3.2 / r["epoch"], val_cider=0.1 * r["epoch"])
        records[2]["val_cider"] = None
    fig = plots.plot_training_curves(records[::-1])
    assert len(fig.axes) == (2 if with_val else 1)
    assert len(fig.axes[0].lines) == (2 if with_val else 1)
    if with_val:
        assert "best 0.500 at epoch 5" in fig.axes[1].get_title()
    assert _save(fig, tmp_path, "curves.png").std() > 10
    assert plots.plot_training_curves([]).axes


# ----------------------------------------------------------------------------- saving
def test_save_figure_is_atomic_and_makes_dirs(rgb, tmp_path):
    target = tmp_path / "a" / "b" / "fig.png"
    layout.save_figure(viz.show_caption(rgb, "first"), target, dpi=20)
    first = target.read_bytes()
    layout.save_figure(viz.show_caption(rgb, LONG), target, dpi=20)  # overwrite in place
    assert target.read_bytes() != first and first.startswith(b"\x89PNG")
    assert [p.name for p in target.parent.iterdir()] == ["fig.png"]


def test_failed_save_leaves_nothing_behind(rgb, tmp_path, monkeypatch):
    fig = viz.show_caption(rgb, "x")

    def broken(target, **kwargs):
        Path(target).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        layout.save_figure(fig, tmp_path / "out" / "fig.png")
    assert list((tmp_path / "out").iterdir()) == []


def test_figures_display_in_notebooks_without_pyplot(rgb):
    photo = viz.show_caption(rgb, "a dog")
    assert photo._repr_png_() is None and photo._repr_jpeg_().startswith(b"\xff\xd8")  # JPEG, compact
    assert plots.plot_training_curves([{"epoch": 1, "train_loss": 2.0}])._repr_png_().startswith(b"\x89PNG")


def test_saved_figure_can_be_saved_again(rgb, tmp_path):
    fig = viz.show_caption(rgb, "twice")
    a = _save(fig, tmp_path, "1.png")
    b = _save(fig, tmp_path, "2.png")
    assert a.shape == b.shape and np.array_equal(a, b)


def test_grid_titles_photos_and_captions_sit_together_whatever_the_aspect(rgb):
    """A landscape photo next to a portrait one: its title, photo and caption stay adjacent,
    with no empty band between the file name and the photo (the old layout left one)."""
    landscape, portrait = np.repeat(rgb, 2, axis=1), rgb.transpose(1, 0, 2)
    fig = viz.caption_grid([landscape, portrait], ["a wide photo", "a tall photo"], titles=["wide.jpg", "tall.jpg"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shown = [ax.images[0].get_window_extent(renderer) for ax in fig.axes]
    titles = {t.get_text(): t.get_window_extent(renderer) for t in fig.texts}
    for name, drawn in (("wide.jpg", shown[0]), ("tall.jpg", shown[1])):
        gap_px = titles[name].y0 - drawn.y1
        assert 0 <= gap_px <= 0.2 * fig.dpi, (name, gap_px)
    caption = next(t for t in fig.texts if t.get_text() == "a wide photo").get_window_extent(renderer)
    assert 0 <= shown[0].y0 - caption.y1 <= 0.2 * fig.dpi
