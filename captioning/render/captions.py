"""Images with their captions: one caption, a grid, an n-best list, or generated vs references.

Every function returns a standalone Figure (see layout.py); save it with save_figure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .layout import (
    NO_CAPTION,
    PAD,
    ImageLike,
    Row,
    as_array,
    clean,
    draw,
    figure,
    image_axes,
    layout,
    text,
    text_h,
    title_rows,
    wrap,
)

__all__ = ["caption_grid", "compare_captions", "show_caption", "show_nbest"]


def show_caption(image: ImageLike, caption: str, *, title: str | None = None,
                 style: str = "below", width_in: float = 6.0) -> Figure:
    """The image with its caption wrapped neatly below it (style="below") or on a translucent band
    over its bottom (style="band"; falls back to "below" when the caption would hide the image)."""
    if style not in ("below", "band"):
        raise ValueError(f"style must be 'below' or 'band', not {style!r}")
    arr = as_array(image)
    size = float(np.clip(2 * width_in, 9, 14))
    img_w = width_in - 2 * PAD
    natural_h = img_w * arr.shape[0] / arr.shape[1]
    img_h = min(natural_h, 1.5 * width_in)  # very tall images are shown narrower
    head, cap = title_rows(title, size + 1), [Row(clean(caption), size, ha="center")]
    title_h = layout(head, img_w) + (PAD if head else 0)
    text_h = layout(cap, img_w - 2 * PAD) + 2 * PAD
    if style == "band" and (text_h > 0.6 * img_h or natural_h > img_h):
        style = "below"
    below = text_h if style == "below" else PAD
    height = PAD + title_h + img_h + below

    fig = figure(width_in, height, photo=True)
    image_axes(fig, arr, PAD, below, img_w, img_h)
    draw(fig, head, PAD, height - PAD, img_w)
    if style == "band":
        fig.add_artist(Rectangle((PAD, PAD), img_w, text_h, transform=fig.dpi_scale_trans,
                                 facecolor="black", alpha=0.6, edgecolor="none", zorder=2))
        cap[0].color = "white"
    draw(fig, cap, 2 * PAD, below + (text_h if style == "band" else 0) - PAD, img_w - 2 * PAD)
    return fig


def caption_grid(images: Sequence[ImageLike], captions: Sequence[str], *, ncols: int | None = None,
                 titles: Sequence[str] | None = None, cell_in: float = 3.0) -> Figure:
    """A grid of images with wrapped captions; layout works for 1 to 50+ images (ncols auto ≈
    ceil(sqrt(n)) capped at 6). In every cell the title, the photo and its caption sit together
    at the top, whatever the photo's aspect ratio; cells are sized for the tallest such block."""
    n = len(images)
    if n == 0 or len(captions) > n or (titles is not None and len(titles) > n):
        raise ValueError(f"need 1+ images and no more captions/titles than images, got {n} images")
    size = float(np.clip(cell_in * 10 / 3, 7, 11))
    ncols = max(1, min(ncols or min(6, math.ceil(math.sqrt(n))), n))
    nrows, inner = math.ceil(n / ncols), cell_in - 2 * PAD
    arrays = [as_array(image, max(256, int(cell_in * 200))) for image in images]
    heights = [inner * float(np.clip(a.shape[0] / a.shape[1], 0.4, 1.0)) for a in arrays]  # drawn photo heights
    wrapped = [wrap(clean(captions[i] if i < len(captions) else None), inner, size, max_lines=10)
               for i in range(n)]
    heads = [wrap(clean(t), inner, size, "bold", max_lines=2) for t in titles or []]
    title_h = text_h(max(map(len, heads)), size) + PAD / 2 if heads else 0.0
    cell_h = PAD + title_h + max(h + text_h(len(w), size) for h, w in zip(heights, wrapped)) + 2 * PAD

    fig = figure(ncols * cell_in, nrows * cell_h, photo=True)
    for i, arr in enumerate(arrays):
        row, col = divmod(i, ncols)
        mid, top = (col + 0.5) * cell_in, (nrows - row) * cell_h - PAD
        if i < len(heads):
            text(fig, mid, top, "\n".join(heads[i]), size, ha="center", va="top", weight="bold")
        img_y = top - title_h - heights[i]
        image_axes(fig, arr, col * cell_in + PAD, img_y, inner, heights[i], "N")  # right under its title
        text(fig, mid, img_y - PAD, "\n".join(wrapped[i]), size, ha="center", va="top")
    return fig


def show_nbest(image: ImageLike, alternatives: Sequence[tuple[str, float]], *,
               title: str | None = None) -> Figure:
    """One image with its n-best beam captions and their log-probabilities, best first."""
    arr = as_array(image)
    width, size, prefix_w, tag_w = 6.0, 11.0, 0.35, 0.8
    img_w = width - 2 * PAD
    img_h = min(img_w * arr.shape[0] / arr.shape[1], 1.2 * width)
    ranked = sorted(alternatives, key=lambda alt: -float(alt[1]))
    rows = [Row("beam captions", size, color="0.4", tag="log p")]
    rows += [Row(clean(cap), size, "bold" if i == 0 else "normal", prefix=f"{i + 1}.",
                  tag=f"{float(logp):.2f}", gap=0.06) for i, (cap, logp) in enumerate(ranked)]
    rows += [] if ranked else [Row(NO_CAPTION, size, gap=0.06)]
    list_h = layout(rows, img_w, prefix_w, tag_w) + 2 * PAD
    head = title_rows(title, size + 1)
    height = PAD + (layout(head, img_w) + PAD if head else 0) + img_h + list_h

    fig = figure(width, height, photo=True)
    draw(fig, head, PAD, height - PAD, img_w)
    image_axes(fig, arr, PAD, list_h, img_w, img_h)
    draw(fig, rows, PAD, list_h - PAD, img_w, prefix_w)
    return fig


def compare_captions(image: ImageLike, generated: str, references: Sequence[str], *,
                     scores: Mapping[str, float] | None = None) -> Figure:
    """Generated caption vs the human references side by side (for evaluation)."""
    arr = as_array(image)
    img_w, col_w, size, prefix_w = 3.6, 4.6, 10.5, 0.3
    img_h = min(img_w * arr.shape[0] / arr.shape[1], 1.3 * img_w)
    rows = [Row("Generated", size, "bold", "0.3"), Row(clean(generated), size, "bold", "#1f4e9a"),
            Row(f"References ({len(references)})", size, "bold", "0.3", gap=0.15)]
    rows += [Row(clean(ref), size, prefix=f"{j + 1}.") for j, ref in enumerate(references)]
    rows += [] if references else [Row(NO_CAPTION, size)]
    if scores:
        rows.append(Row("Scores", size, "bold", "0.3", gap=0.15))
        rows.append(Row("   ".join(f"{k} {float(v):.3f}" for k, v in scores.items()), size))
    height = max(img_h, layout(rows, col_w, prefix_w)) + 2 * PAD

    fig = figure(3 * PAD + img_w + col_w, height, photo=True)
    image_axes(fig, arr, PAD, height - PAD - img_h, img_w, img_h)
    draw(fig, rows, 2 * PAD + img_w, height - PAD, col_w, prefix_w)
    return fig


