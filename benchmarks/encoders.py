"""What each encoder costs: EfficientNet-Lite0, Lite1 and Lite2, each with and without averaging the
features of the image and its mirror image (flip), in encoder-only img/s and in end-to-end
`captioning caption FOLDER --beam 3` img/s (same decoder size as the shipped model, so only the
encoder differs). Quality per encoder comes from training, see MODEL_CARD.md.

Usage: python benchmarks/encoders.py [--images DIR] [--limit N] [--repeat N] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENCODERS = [(name, flip) for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
            for flip in (False, True)]


def phase(args) -> dict:
    """One encoder in this process: encoder-only img/s on decoded crops, then end to end."""
    import torch

    from captioning.decoder.checkpoint import Checkpoint
    from captioning.decoder.ensemble import load_decoders
    from captioning.decoder.model import CaptionDecoder
    from captioning.features.loading import load_encoder
    from captioning.images.discovery import discover_images
    from captioning.images.loading import load_image
    from captioning.text.vocabulary import Vocabulary

    shipped = load_decoders(None)[1]  # one member's decoder size and decoding
    enc = load_encoder(args.encoder, flip=args.flip, runtime="auto")
    paths = discover_images([args.images])[0][: args.limit or None]
    pixels = torch.stack([enc.pixels(load_image(p)) for p in paths[:256]])
    start = time.perf_counter()
    for i in range(0, len(pixels), 32):
        enc(pixels[i:i + 32])
    encoder_only = len(pixels) / (time.perf_counter() - start)
    cfg = shipped.decoder.cfg.replace(feature_dim=enc.spec.feature_dim)
    with tempfile.TemporaryDirectory() as tmp:
        Checkpoint(CaptionDecoder(cfg), Vocabulary(shipped.vocab.itos[4:], shipped.vocab.min_count), enc.spec,
                   decoding=shipped.decoding).save(Path(tmp) / "ckpt")
        argv = [sys.executable, "-m", "captioning", "caption", *map(str, paths), "--checkpoint", f"{tmp}/ckpt",
                "--beam", "3", "--output", f"{tmp}/out.jsonl", "--quiet"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        e2e = len(paths) / (time.perf_counter() - start)
    return {"encoder": args.encoder, "flip": args.flip, "encoder_only_img_per_s": encoder_only,
            "end_to_end_img_per_s": e2e, "images": len(paths)}


def main() -> None:
    shared = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017/images"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(shared.resolve()))
    ap.add_argument("--limit", type=int, default=1000, help="images for the end-to-end run (0: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--encoder"), ap.add_argument("--flip", action="store_true"), ap.add_argument("--phase", action="store_true")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args)))
        return
    rounds = []
    for _ in range(args.repeat):
        for name, flip in ENCODERS:
            cmd = [sys.executable, __file__, "--phase", "--encoder", name, "--images", args.images,
                   "--limit", str(args.limit), *(["--flip"] if flip else [])]
            rounds.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    rows = []
    for name, flip in ENCODERS:
        mine = [r for r in rounds if r["encoder"] == name and r["flip"] == flip]
        rows.append({"encoder": name, "flip": flip, **{k: statistics.median(r[k] for r in mine)
                                                       for k in ("encoder_only_img_per_s", "end_to_end_img_per_s")}})
    base = rows[0]["end_to_end_img_per_s"]
    print(f"medians of {args.repeat} rounds; end to end on {rounds[0]['images']} images, beam 3")
    print(f"{'encoder':<20}{'flip':>6}{'encoder-only img/s':>20}{'end-to-end img/s':>18}{'vs lite0':>10}")
    for r in rows:
        print(f"{r['encoder']:<20}{'yes' if r['flip'] else 'no':>6}{r['encoder_only_img_per_s']:>20.1f}"
              f"{r['end_to_end_img_per_s']:>18.1f}{r['end_to_end_img_per_s'] / base:>9.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"median": rows, "rounds": rounds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
