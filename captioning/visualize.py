"""Matplotlib figures for captions, beam n-best lists, LSTM/GRU gates and training curves.

Every function returns a standalone ``Figure`` on an Agg canvas (no pyplot state), so the CLI can
render thousands of them and notebooks still display them inline. Caption layouts are computed in
inches from the measured, wrapped text, so long captions grow the figure instead of running off it.
"""

from __future__ import annotations

import io
import math
import os
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image

if TYPE_CHECKING:
    import torch

__all__ = ["NO_CAPTION", "caption_grid", "compare_captions", "plot_gates", "plot_gradient_flow",
           "plot_training_curves", "save_figure", "show_caption", "show_nbest"]

ImageLike = Image.Image | np.ndarray | str | os.PathLike
NO_CAPTION = "(no caption)"
_PAD = 0.12  # inches of margin around images and text blocks
_SPACING = 1.25  # line spacing: n lines of text are n * _SPACING * fontsize points tall
_MAX_SIDE = 1024  # larger images are downsampled before plotting (memory, speed)
_RENDERERS = [RendererAgg(1, 1, dpi) for dpi in (72, 100)]  # to measure text at common dpis


# ----------------------------------------------------------------------------- helpers
def _to_numpy(x: Any) -> np.ndarray:
    """A numpy array from an array-like or a (CUDA, bf16, grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.float() if x.is_floating_point() else x
    return np.asarray(x)


def _as_array(image: Any, max_side: int = _MAX_SIDE) -> np.ndarray:
    """HxWx3 uint8 array from a PIL image, a path, or an array/tensor (HWC or CHW, uint8 or 0–1 float)."""
    if isinstance(image, str | os.PathLike):
        with Image.open(image) as im:
            image = im.convert("RGB")
    if not isinstance(image, Image.Image):
        arr = _to_numpy(image)
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)  # CHW tensor -> HWC
        if arr.dtype != np.uint8:
            unit = np.issubdtype(arr.dtype, np.floating) and np.nanmax(arr, initial=0) <= 1
            arr = np.clip(np.nan_to_num(arr * (255.0 if unit else 1.0)), 0, 255).round().astype(np.uint8)
        image = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    image = image.convert("RGB")  # drops alpha, expands grey; always a fresh copy
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    return np.asarray(image)


def _clean(caption: Any) -> str:
    """The caption on one line with collapsed whitespace, or NO_CAPTION when missing or blank."""
    return " ".join(str(caption).split()) if caption is not None and str(caption).strip() else NO_CAPTION


@lru_cache(maxsize=4096)
def _text_width_in(text: str, size: float, weight: str = "normal") -> float:
    """Drawn width in inches; Agg's glyph hinting makes it vary with dpi, so take the widest."""
    prop = FontProperties(size=size, weight=weight)
    return 1.02 * max(r.get_text_width_height_descent(text, prop, ismath=False)[0] / r.dpi
                      for r in _RENDERERS)


def _wrap(text: str, width_in: float, size: float, weight: str = "normal",
          max_lines: int | None = None) -> list[str]:
    """Wrap text into lines that measure at most width_in at this font size (long words are split)."""
    chars = max(1, int(width_in * 72 / (0.5 * size)))  # optimistic guess, shrunk until it fits
    while True:
        lines = textwrap.wrap(text, chars) or [""]
        widest = max(_text_width_in(line, size, weight) for line in lines)
        if widest <= width_in or chars == 1:
            break
        chars = max(1, min(chars - 1, int(chars * width_in / widest)))
    if max_lines is not None and len(lines) > max_lines:
        lines, last = lines[:max_lines], lines[max_lines - 1]
        while last and _text_width_in(last + "…", size, weight) > width_in:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def _text_h(n_lines: int, size: float) -> float:
    return n_lines * _SPACING * size / 72


class _Figure(Figure):
    """A Figure that Jupyter shows even if pyplot (which sets up inline display) was never imported."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


def _figure(width_in: float, height_in: float, **kwargs: Any) -> Figure:
    fig = _Figure(figsize=(width_in, height_in), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _image_axes(fig: Figure, arr: np.ndarray, x: float, y: float, w: float, h: float,
                anchor: str = "C") -> None:
    """Draw arr in the inch box (x, y, w, h) from the bottom-left (at its anchor), axes off."""
    fig_w, fig_h = fig.get_size_inches()
    ax = fig.add_axes((x / fig_w, y / fig_h, w / fig_w, h / fig_h), anchor=anchor)
    ax.imshow(arr)
    ax.set_axis_off()


def _text(fig: Figure, x: float, y: float, s: str, size: float, **kwargs: Any) -> None:
    """Figure text at (x, y) inches; captions are never parsed as mathtext (e.g. "a $5 bill")."""
    if s == NO_CAPTION:
        kwargs.update(color="0.45", style="italic")
    fig.text(x, y, s, fontsize=size, transform=fig.dpi_scale_trans, parse_math=False,
             linespacing=_SPACING, multialignment=kwargs.get("ha", "left"), **kwargs)


@dataclass
class _Row:
    """One block of a text column: wrapped text, an optional number on its left and tag on its right."""

    text: str
    size: float
    weight: str = "normal"
    color: str = "black"
    prefix: str = ""
    tag: str = ""
    gap: float = 0.0  # inches above the row
    ha: str = "left"
    lines: list[str] = field(default_factory=list)


def _layout(rows: list[_Row], width: float, prefix_w: float = 0.0, tag_w: float = 0.0) -> float:
    """Wrap every row to the room its prefix/tag columns leave; return the column height in inches."""
    for row in rows:
        room = width - (prefix_w if row.prefix else 0) - (tag_w if row.tag else 0)
        row.lines = _wrap(row.text, room, row.size, row.weight, max_lines=30)
    return sum(row.gap + _text_h(len(row.lines), row.size) for row in rows)


def _draw(fig: Figure, rows: list[_Row], x: float, top: float, width: float, prefix_w: float = 0.0) -> None:
    for row in rows:
        top -= row.gap
        style = {"va": "top", "weight": row.weight, "color": row.color}
        if row.prefix:
            _text(fig, x, top, row.prefix, row.size, **style)
        left = x + (prefix_w if row.prefix else 0)
        _text(fig, left if row.ha == "left" else x + width / 2, top, "\n".join(row.lines), row.size,
              ha=row.ha, **style)
        if row.tag:
            _text(fig, x + width, top, row.tag, row.size, ha="right", **style)
        top -= _text_h(len(row.lines), row.size)


def _title_rows(title: str | None, size: float) -> list[_Row]:
    return [_Row(_clean(title), size, "bold", ha="center")] if title else []


# ----------------------------------------------------------------------------- captions
def show_caption(image: ImageLike, caption: str, *, title: str | None = None,
                 style: str = "below", width_in: float = 6.0) -> Figure:
    """The image with its caption wrapped neatly below it (style="below") or on a translucent band
    over its bottom (style="band"; falls back to "below" when the caption would hide the image)."""
    if style not in ("below", "band"):
        raise ValueError(f"style must be 'below' or 'band', not {style!r}")
    arr = _as_array(image)
    size = float(np.clip(2 * width_in, 9, 14))
    img_w = width_in - 2 * _PAD
    natural_h = img_w * arr.shape[0] / arr.shape[1]
    img_h = min(natural_h, 1.5 * width_in)  # very tall images are shown narrower
    head, cap = _title_rows(title, size + 1), [_Row(_clean(caption), size, ha="center")]
    title_h = _layout(head, img_w) + (_PAD if head else 0)
    text_h = _layout(cap, img_w - 2 * _PAD) + 2 * _PAD
    if style == "band" and (text_h > 0.6 * img_h or natural_h > img_h):
        style = "below"
    below = text_h if style == "below" else _PAD
    height = _PAD + title_h + img_h + below

    fig = _figure(width_in, height)
    _image_axes(fig, arr, _PAD, below, img_w, img_h)
    _draw(fig, head, _PAD, height - _PAD, img_w)
    if style == "band":
        fig.add_artist(Rectangle((_PAD, _PAD), img_w, text_h, transform=fig.dpi_scale_trans,
                                 facecolor="black", alpha=0.6, edgecolor="none", zorder=2))
        cap[0].color = "white"
    _draw(fig, cap, 2 * _PAD, below + (text_h if style == "band" else 0) - _PAD, img_w - 2 * _PAD)
    return fig


def caption_grid(images: Sequence[ImageLike], captions: Sequence[str], *, ncols: int | None = None,
                 titles: Sequence[str] | None = None, cell_in: float = 3.0) -> Figure:
    """A grid of images with wrapped captions; layout works for 1 to 50+ images (ncols auto ≈
    ceil(sqrt(n)) capped at 6). All cells are sized for the longest caption (at most 10 lines)."""
    n = len(images)
    if n == 0 or len(captions) > n or (titles is not None and len(titles) > n):
        raise ValueError(f"need 1+ images and no more captions/titles than images, got {n} images")
    size = float(np.clip(cell_in * 10 / 3, 7, 11))
    ncols = max(1, min(ncols or min(6, math.ceil(math.sqrt(n))), n))
    nrows, inner = math.ceil(n / ncols), cell_in - 2 * _PAD
    arrays = [_as_array(image, max(256, int(cell_in * 200))) for image in images]
    img_h = inner * float(np.clip(max(a.shape[0] / a.shape[1] for a in arrays), 0.4, 1.0))
    wrapped = [_wrap(_clean(captions[i] if i < len(captions) else None), inner, size, max_lines=10)
               for i in range(n)]
    heads = [_wrap(_clean(t), inner, size, "bold", max_lines=2) for t in titles or []]
    title_h = _text_h(max(map(len, heads)), size) + _PAD / 2 if heads else 0.0
    cell_h = _PAD + title_h + img_h + _text_h(max(map(len, wrapped)), size) + 2 * _PAD

    fig = _figure(ncols * cell_in, nrows * cell_h)
    for i, arr in enumerate(arrays):
        row, col = divmod(i, ncols)
        mid, top = (col + 0.5) * cell_in, (nrows - row) * cell_h - _PAD
        if i < len(heads):
            _text(fig, mid, top, "\n".join(heads[i]), size, ha="center", va="top", weight="bold")
        img_y = top - title_h - img_h
        _image_axes(fig, arr, col * cell_in + _PAD, img_y, inner, img_h, "S")  # on its caption
        _text(fig, mid, img_y - _PAD, "\n".join(wrapped[i]), size, ha="center", va="top")
    return fig


def show_nbest(image: ImageLike, alternatives: Sequence[tuple[str, float]], *,
               title: str | None = None) -> Figure:
    """One image with its n-best beam captions and their log-probabilities, best first."""
    arr = _as_array(image)
    width, size, prefix_w, tag_w = 6.0, 11.0, 0.35, 0.8
    img_w = width - 2 * _PAD
    img_h = min(img_w * arr.shape[0] / arr.shape[1], 1.2 * width)
    ranked = sorted(alternatives, key=lambda alt: -float(alt[1]))
    rows = [_Row("beam captions", size, color="0.4", tag="log p")]
    rows += [_Row(_clean(cap), size, "bold" if i == 0 else "normal", prefix=f"{i + 1}.",
                  tag=f"{float(logp):.2f}", gap=0.06) for i, (cap, logp) in enumerate(ranked)]
    rows += [] if ranked else [_Row(NO_CAPTION, size, gap=0.06)]
    list_h = _layout(rows, img_w, prefix_w, tag_w) + 2 * _PAD
    head = _title_rows(title, size + 1)
    height = _PAD + (_layout(head, img_w) + _PAD if head else 0) + img_h + list_h

    fig = _figure(width, height)
    _draw(fig, head, _PAD, height - _PAD, img_w)
    _image_axes(fig, arr, _PAD, list_h, img_w, img_h)
    _draw(fig, rows, _PAD, list_h - _PAD, img_w, prefix_w)
    return fig


def compare_captions(image: ImageLike, generated: str, references: Sequence[str], *,
                     scores: Mapping[str, float] | None = None) -> Figure:
    """Generated caption vs the human references side by side (for evaluation)."""
    arr = _as_array(image)
    img_w, col_w, size, prefix_w = 3.6, 4.6, 10.5, 0.3
    img_h = min(img_w * arr.shape[0] / arr.shape[1], 1.3 * img_w)
    rows = [_Row("Generated", size, "bold", "0.3"), _Row(_clean(generated), size, "bold", "#1f4e9a"),
            _Row(f"References ({len(references)})", size, "bold", "0.3", gap=0.15)]
    rows += [_Row(_clean(ref), size, prefix=f"{j + 1}.") for j, ref in enumerate(references)]
    rows += [] if references else [_Row(NO_CAPTION, size)]
    if scores:
        rows.append(_Row("Scores", size, "bold", "0.3", gap=0.15))
        rows.append(_Row("   ".join(f"{k} {float(v):.3f}" for k, v in scores.items()), size))
    height = max(img_h, _layout(rows, col_w, prefix_w)) + 2 * _PAD

    fig = _figure(3 * _PAD + img_w + col_w, height)
    _image_axes(fig, arr, _PAD, height - _PAD - img_h, img_w, img_h)
    _draw(fig, rows, 2 * _PAD + img_w, height - _PAD, col_w, prefix_w)
    return fig


# ----------------------------------------------------------------------------- model internals
def _steps_by_units(name: str, value: Any, steps: int) -> np.ndarray:
    """gates[name] as a float [T, H] array (accepts [T], [T, H], [T, 1, H] or [1, T, H])."""
    a = _to_numpy(value).astype(np.float64)
    if a.ndim == 3 and 1 in a.shape[:2]:
        a = a.squeeze(1 if a.shape[1] == 1 else 0)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] != steps:
        raise ValueError(f"gates[{name!r}] should be [T={steps}, H], got shape {a.shape}")
    return a


def plot_gates(tokens: Sequence[str], gates: Mapping[str, np.ndarray | torch.Tensor], *,
               max_units: int = 64) -> Figure:
    """Word × unit heatmaps of each gate's activations (gates[name] is [T, H]) above a panel of the
    per-word mean of each gate; an optional 'cell_norm' ([T], or [T, H] states) gets its own panel."""
    tokens = [str(t) for t in tokens]
    steps, x = len(tokens), np.arange(len(tokens))
    mats = {k: _steps_by_units(k, v, steps) for k, v in gates.items() if k != "cell_norm"}
    norm = _steps_by_units("cell_norm", gates["cell_norm"], steps) if "cell_norm" in gates else None
    if not mats and norm is None:
        raise ValueError("plot_gates needs at least one gate or 'cell_norm'")
    units = min(max((m.shape[1] for m in mats.values()), default=0), max_units)
    heights = [float(np.clip(units / 32, 1.0, 2.0))] * len(mats) + [1.8] * bool(mats)
    heights += [1.2] * (norm is not None)
    fig = _figure(float(np.clip(1.8 + 0.45 * steps, 6, 18)), sum(heights) + 1.0, layout="constrained")
    grid = fig.add_gridspec(len(heights), 2, width_ratios=[40, 1], height_ratios=heights)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    sigmoid = {name: bool(m.min() >= 0 and m.max() <= 1) for name, m in mats.items()}
    for i, (name, m) in enumerate(mats.items()):
        hi = 1.0 if sigmoid[name] else float(np.abs(m).max()) or 1.0  # tanh-like: symmetric scale
        cmap, lo = ("viridis", 0.0) if sigmoid[name] else ("RdBu_r", -hi)
        im = axes[i].imshow(m[:, :max_units].T, aspect="auto", origin="lower", cmap=cmap, vmin=lo,
                            vmax=hi, interpolation="nearest")
        fig.colorbar(im, cax=fig.add_subplot(grid[i, 1]))
        h = m.shape[1]
        shown = f"units 0–{max_units - 1} of {h}" if h > max_units else f"{h} units"
        label = name.replace("_", " ") + ("" if "gate" in name else " gate")
        axes[i].set(ylabel="unit", title=f"{label} ({shown})")
    if mats:
        ax = axes[len(mats)]
        for name, m in mats.items():
            ax.plot(x, m.mean(axis=1), marker="o", ms=3, label=name)
        if all(sigmoid.values()):
            ax.set_ylim(-0.03, 1.03)  # keep the absolute 0 (closed) to 1 (open) scale
        ax.set(ylabel="mean over units", title="per-word mean gate value")
        ax.legend(fontsize=8, framealpha=0.8)
    if norm is not None:
        axes[-1].plot(x, norm[:, 0] if norm.shape[1] == 1 else np.linalg.norm(norm, axis=1), "k--.")
        axes[-1].set(ylabel="‖c_t‖", title="cell-state norm")
    for ax in axes:
        ax.title.set(fontsize=10, ha="left", x=0)
        if ax.lines:
            ax.grid(alpha=0.3)
    rotate = steps > 8 or max(map(len, tokens), default=0) > 6
    axes[-1].set_xticks(x, tokens, rotation=45 * rotate, ha="right" if rotate else "center",
                        rotation_mode="anchor", parse_math=False)
    return fig


def plot_gradient_flow(norms: Mapping[str, Sequence[float]], *,
                       title: str = r"Gradient flow: $\|\partial h_t / \partial h_0\|$") -> Figure:
    """‖∂h_t/∂h_0‖ against t on a log y-axis, one line per cell name (the vanishing-gradient picture)."""
    fig = _figure(6.4, 4.0, layout="constrained")
    ax = fig.add_subplot()
    for name, values in norms.items():
        y = _to_numpy(values).astype(np.float64).reshape(-1)
        ax.plot(np.arange(len(y)), np.where(y > 0, y, np.nan), marker="o" if len(y) <= 40 else None,
                ms=3, label=str(name))
    ax.set_yscale("log")
    ax.set(xlabel="time step t", ylabel=r"$\|\partial h_t / \partial h_0\|$ (log scale)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="both", alpha=0.25)
    if norms:
        ax.legend()
    return fig


def plot_training_curves(records: Sequence[Mapping[str, Any]]) -> Figure:
    """Train/val loss and validation CIDEr per epoch from a metrics log (records have keys epoch,
    train_loss, and optionally val_loss and val_cider)."""
    recs = sorted((r for r in records if r.get("epoch") is not None), key=lambda r: r["epoch"])

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(float(r["epoch"]), float(r[key])) for r in recs if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    cider_x, cider_y = series("val_cider")
    fig = _figure(10.0 if cider_y else 6.0, 3.8, layout="constrained")
    axes = fig.subplots(1, 2 if cider_y else 1, squeeze=False)[0]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if (xy := series(key))[1]:
            axes[0].plot(*xy, marker="o", ms=3, label=label)
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss" if recs else "Loss (no records)")
    if axes[0].lines:
        axes[0].legend()
    if cider_y:
        axes[1].plot(cider_x, cider_y, marker="o", ms=3, color="C2")
        axes[1].set(xlabel="epoch", ylabel="CIDEr", title="Validation CIDEr")
        if np.isfinite(cider_y).any():
            best = int(np.nanargmax(cider_y))
            axes[1].plot(cider_x[best], cider_y[best], marker="*", ms=14, color="C3")
            axes[1].set_title(f"Validation CIDEr (best {cider_y[best]:.3f} at epoch {cider_x[best]:g})")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig


# ----------------------------------------------------------------------------- saving
def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Save a PNG atomically (temp file in the same folder, then os.replace), creating parent dirs;
    then close the figure in pyplot (if it is there) and drop its cached full-size render buffer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    FigureCanvasAgg(fig)  # a fresh canvas; the old one (and its RGBA buffer) can be freed
    return path
