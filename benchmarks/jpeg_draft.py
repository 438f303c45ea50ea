"""How much reduced-scale JPEG decoding (load_image's min_side) saves on a phone-sized photo.

Upscales one COCO image to 4000x3000, saves it as JPEG in a temporary folder, then times
load_image with and without min_side=256 and compares the encoder's features of both.

Usage: python benchmarks/jpeg_draft.py [--image FILE] [--repeat N]"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from captioning.features.encoder import build_encoder
from captioning.images.loading import load_image


def _median_ms(path: Path, repeat: int, **kwargs) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load_image(path, **kwargs)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    shared = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017/images"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(min(shared.resolve().glob("*.jpg"), default="")))
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    enc = build_encoder()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jpg"
        load_image(args.image).resize((4000, 3000), Image.BICUBIC).save(path, quality=92)
        full, draft = _median_ms(path, args.repeat), _median_ms(path, args.repeat, min_side=256)
        a, b = load_image(path), load_image(path, min_side=256)
        fa, fb = enc(enc.pixels(a)[None]), enc(enc.pixels(b)[None])
    print(f"4000x3000 JPEG from {args.image}: full decode {full:.0f} ms ({a.size[0]}x{a.size[1]}), "
          f"min_side=256 {draft:.0f} ms ({b.size[0]}x{b.size[1]}), {full / draft:.1f}x faster; "
          f"feature cosine similarity {torch.cosine_similarity(fa, fb).item():.4f}")


if __name__ == "__main__":
    main()
