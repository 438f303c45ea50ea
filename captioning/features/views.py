"""Several views of one training image, for feature augmentation: the encoder's own preprocessing
(resize, crop, normalization) with another crop box or a left-right flip.

View 0 is exactly `Pixels` (the centre crop every other use of the encoder sees); the others are
its mirror, corner crops of the same resized image (two of them mirrored), and the image's centred
square scaled to the crop size, plain and mirrored (config.VIEWS names them in order)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from .config import MAX_VIEWS, VIEWS, Preprocessing
from .preprocessing import as_pixels, centre_origin, pil_filter, resize_shorter


def check_views(views: Sequence[int]) -> tuple[int, ...]:
    """The view indices as a tuple; each must name one of config.VIEWS."""
    bad = [v for v in views if not 0 <= v < MAX_VIEWS]
    if bad or not views:
        raise ValueError(f"views must be indices in [0, {MAX_VIEWS}), got {list(views)}")
    return tuple(int(v) for v in views)


def corner_origin(size: tuple[int, int], crop: int, place: str) -> tuple[int, int]:
    """(left, top) of the crop x crop box at `place` (centre or a corner) of a (width, height) image."""
    if place == "centre":
        return centre_origin(size, crop)
    vertical, horizontal = place.split("-")
    return (0 if horizontal == "left" else size[0] - crop), (0 if vertical == "top" else size[1] - crop)


def view_image(image: Image.Image, resized: Image.Image, prep: Preprocessing, name: str) -> Image.Image:
    """One named view (config.VIEWS) of `image`, whose shorter-side resize is `resized`."""
    place, mirror = name.removesuffix("-mirror"), name.endswith("-mirror")
    crop = prep.crop
    if place == "whole":
        side = min(image.size)
        left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
        out = image.resize((crop, crop), pil_filter(prep), box=(left, top, left + side, top + side))
    else:
        left, top = corner_origin(resized.size, crop, place)
        out = resized.crop((left, top, left + crop, top + crop))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else out


class ViewPixels:
    """PIL RGB image -> uint8 tensor [len(views), 3, crop, crop], the chosen views in order.

    Picklable like `Pixels`, so loader workers run it; the encoder normalizes as usual."""

    def __init__(self, prep: Preprocessing, views: Sequence[int]) -> None:
        self.prep, self.views = prep, check_views(views)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        resized = resize_shorter(image, self.prep)
        return torch.stack([as_pixels(view_image(image, resized, self.prep, VIEWS[v])) for v in self.views])
