"""The figure toolkit: standalone Agg figures, text measured and wrapped in inches, atomic saving.

Figures carry no pyplot state, so the CLI can render thousands of them, and notebooks still show
them inline. Layouts are computed in inches from the measured text, so long captions grow the
figure instead of running off it."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

from ..core.io import atomic_write
from ..images.loading import as_rgb
from .targets import figure_format, mark_options

ImageLike = Image.Image | np.ndarray | str | os.PathLike
NO_CAPTION = "(no caption)"
PAD = 0.12  # inches of margin around images and text blocks
SPACING = 1.25  # line spacing: n lines of text are n * SPACING * fontsize points tall
MAX_SIDE = 1024  # larger images are downsampled before plotting (memory, speed)
_RENDERERS = [RendererAgg(1, 1, dpi) for dpi in (72, 100)]  # to measure text at common dpis


def to_numpy(x: Any) -> np.ndarray:
    """A numpy array from an array-like or a (CUDA, bf16, grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.float() if x.is_floating_point() else x
    return np.asarray(x)


def as_array(image: Any, max_side: int = MAX_SIDE) -> np.ndarray:
    """HxWx3 uint8 array of any image input (see images.as_rgb: paths go through load_image, so a
    figure shows the photo exactly as the model saw it), at most max_side pixels on a side."""
    image = as_rgb(image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    return np.asarray(image)


def clean(caption: Any) -> str:
    """The caption on one line with collapsed whitespace, or NO_CAPTION when missing or blank."""
    return " ".join(str(caption).split()) if caption is not None and str(caption).strip() else NO_CAPTION


@lru_cache(maxsize=4096)
def text_width_in(text: str, size: float, weight: str = "normal") -> float:
    """Drawn width in inches; Agg's glyph hinting makes it vary with dpi, so take the widest."""
    prop = FontProperties(size=size, weight=weight)
    return 1.02 * max(r.get_text_width_height_descent(text, prop, ismath=False)[0] / r.dpi
                      for r in _RENDERERS)


def wrap(text: str, width_in: float, size: float, weight: str = "normal",
          max_lines: int | None = None) -> list[str]:
    """Wrap text into lines that measure at most width_in at this font size (long words are split)."""
    chars = max(1, int(width_in * 72 / (0.5 * size)))  # optimistic guess, shrunk until it fits
    while True:
        lines = textwrap.wrap(text, chars) or [""]
        widest = max(text_width_in(line, size, weight) for line in lines)
        if widest <= width_in or chars == 1:
            break
        chars = max(1, min(chars - 1, int(chars * width_in / widest)))
    if max_lines is not None and len(lines) > max_lines:
        lines, last = lines[:max_lines], lines[max_lines - 1]
        while last and text_width_in(last + "…", size, weight) > width_in:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def text_h(n_lines: int, size: float) -> float:
    return n_lines * SPACING * size / 72


class _Figure(Figure):
    """A Figure that Jupyter shows even if pyplot (which sets up inline display) was never imported."""

    def _repr_png_(self) -> bytes | None:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


class _PhotoFigure(_Figure):
    """A figure of photos: notebooks store it as a JPEG (a tenth of the PNG's bytes), not a PNG."""

    def _repr_png_(self) -> None:
        return None

    def _repr_jpeg_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="jpeg", bbox_inches="tight", pil_kwargs={"quality": 85})
        return buf.getvalue()


def figure(width_in: float, height_in: float, photo: bool = False, **kwargs: Any) -> Figure:
    """A standalone Agg figure; photo=True for figures of photographs (shown as JPEG in notebooks)."""
    fig = (_PhotoFigure if photo else _Figure)(figsize=(width_in, height_in), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def image_axes(fig: Figure, arr: np.ndarray, x: float, y: float, w: float, h: float,
                anchor: str = "C") -> None:
    """Draw arr in the inch box (x, y, w, h) from the bottom-left (at its anchor), axes off."""
    fig_w, fig_h = fig.get_size_inches()
    ax = fig.add_axes((x / fig_w, y / fig_h, w / fig_w, h / fig_h), anchor=anchor)
    ax.imshow(arr)
    ax.set_axis_off()


def text(fig: Figure, x: float, y: float, s: str, size: float, **kwargs: Any) -> None:
    """Figure text at (x, y) inches; captions are never parsed as mathtext (e.g. "a $5 bill")."""
    if s == NO_CAPTION:
        kwargs.update(color="0.45", style="italic")
    fig.text(x, y, s, fontsize=size, transform=fig.dpi_scale_trans, parse_math=False,
             linespacing=SPACING, multialignment=kwargs.get("ha", "left"), **kwargs)


@dataclass
class Row:
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


def layout(rows: list[Row], width: float, prefix_w: float = 0.0, tag_w: float = 0.0) -> float:
    """Wrap every row to the room its prefix/tag columns leave; return the column height in inches."""
    for row in rows:
        room = width - (prefix_w if row.prefix else 0) - (tag_w if row.tag else 0)
        row.lines = wrap(row.text, room, row.size, row.weight, max_lines=30)
    return sum(row.gap + text_h(len(row.lines), row.size) for row in rows)


def draw(fig: Figure, rows: list[Row], x: float, top: float, width: float, prefix_w: float = 0.0) -> None:
    for row in rows:
        top -= row.gap
        style = {"va": "top", "weight": row.weight, "color": row.color}
        if row.prefix:
            text(fig, x, top, row.prefix, row.size, **style)
        left = x + (prefix_w if row.prefix else 0)
        text(fig, left if row.ha == "left" else x + width / 2, top, "\n".join(row.lines), row.size,
              ha=row.ha, **style)
        if row.tag:
            text(fig, x + width, top, row.tag, row.size, ha="right", **style)
        top -= text_h(len(row.lines), row.size)


def title_rows(title: str | None, size: float) -> list[Row]:
    return [Row(clean(title), size, "bold", ha="center")] if title else []


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Save a PNG (or JPEG, by suffix) atomically, creating parent folders, marked as ours (see
    targets.py); then close the figure in pyplot (if it is there) and drop its cached full-size
    render buffer."""
    path = Path(path)
    fmt = figure_format(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt.lower(), dpi=dpi, **mark_options(fmt)))
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    FigureCanvasAgg(fig)  # a fresh canvas; the old one (and its RGBA buffer) can be freed
    return path
