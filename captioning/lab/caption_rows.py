"""One row per image: the photo, each model's caption with its scores, and the human references,
so captions of several models (before and after a change) are read side by side, image by image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from ..render.layout import PAD, ImageLike, Row, as_array, clean, draw, figure, image_axes, layout

PALETTE = ("#1f4e9a", "#a0361b", "#2e7d32", "#6a1b9a")  # one colour per model's caption


def _rows(captions: Mapping[str, str], references: Sequence[str],
          scores: Mapping[str, Mapping[str, float]] | None, size: float) -> list[Row]:
    """The text column of one image: per model a label line (with scores, one decimal) and its
    caption, then the numbered references."""
    rows: list[Row] = []
    for k, (label, caption) in enumerate(captions.items()):
        numbers = "   ".join(f"{metric} {value:.1f}" for metric, value in (scores or {}).get(label, {}).items())
        rows.append(Row(f"{label}   {numbers}".strip(), size, "bold", "0.3", gap=0.1 * bool(k)))
        rows.append(Row(clean(caption), size, "bold", PALETTE[k % len(PALETTE)]))
    rows.append(Row(f"References ({len(references)})", size, "bold", "0.3", gap=0.12))
    rows += [Row(clean(ref), size, prefix=f"{j + 1}.") for j, ref in enumerate(references)]
    return rows


def caption_rows(images: Sequence[ImageLike], captions: Sequence[Mapping[str, str]],
                 references: Sequence[Sequence[str]],
                 scores: Sequence[Mapping[str, Mapping[str, float]]] | None = None) -> Figure:
    """images[i] with captions[i] ({model: caption}), scores[i] ({model: {metric: value}}, shown
    with one decimal) and references[i]. Text is wrapped a margin inside its column."""
    if not images or len(captions) != len(images) or len(references) != len(images):
        raise ValueError(f"need one captions mapping and one reference list per image, got "
                         f"{len(images)} images, {len(captions)} captions, {len(references)} references")
    img_w, col_w, size, prefix_w = 3.0, 5.6, 10.5, 0.3
    arrays = [as_array(image) for image in images]
    blocks = [_rows(captions[i], references[i], scores[i] if scores else None, size) for i in range(len(images))]
    img_h = [min(img_w * a.shape[0] / a.shape[1], 1.3 * img_w) for a in arrays]
    heights = [max(h, layout(rows, col_w - PAD, prefix_w)) + 2 * PAD for h, rows in zip(img_h, blocks)]
    width = 4 * PAD + img_w + col_w
    fig = figure(width, sum(heights), photo=True)
    top = sum(heights)
    for arr, h, rows, row_h in zip(arrays, img_h, blocks, heights):
        image_axes(fig, arr, PAD, top - PAD - h, img_w, h)
        draw(fig, rows, 2 * PAD + img_w, top - PAD, col_w - PAD, prefix_w)
        top -= row_h
    return fig
