"""Throughput of `captioning caption` on a real image folder, against its parts and a naive loop.

Runs each phase in its own process (so one phase's memory or malloc state cannot flatter
another), all phases --repeat times in rounds, and prints one table of medians:

  encoder-only       images/s of the CNN on already decoded, preprocessed batches
  end-to-end         images/s of `captioning caption FOLDER --beam 3` (JPEG decoding in workers,
                     encoder, batched beam search, JSONL output), with its peak RSS
  naive loop         images/s of open -> preprocess -> encode -> greedy decode, one image at a time
  greedy / beam-3    seconds to decode all images' cached features, batched, and how many
                     decoder rows (one word for one hypothesis) each strategy computed per image

Usage: python benchmarks/caption_throughput.py [--images DIR] [--limit N] [--naive N] [--repeat N]"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("encoder", "e2e", "naive", "decode")


def _images(args) -> list[Path]:
    from captioning.images import discover_images

    paths, _ = discover_images([args.images])
    return paths[: args.limit] if args.limit else paths


def phase_encoder(args) -> dict:
    """Decode and preprocess outside the clock; time only the encoder, batch by batch."""
    import torch

    from captioning.encoder import build_encoder
    from captioning.images import load_image

    enc = build_encoder()
    paths, timed = _images(args), 0.0
    for i in range(0, len(paths), 256):
        chunk = torch.stack([enc.transform(load_image(p)) for p in paths[i:i + 256]])
        for j in range(0, len(chunk), args.batch_size):
            start = time.perf_counter()
            enc(chunk[j:j + args.batch_size])
            timed += time.perf_counter() - start
    return {"images": len(paths), "seconds": timed, "images_per_s": len(paths) / timed}


def phase_e2e(args) -> dict:
    """The real command, as a user runs it, on the whole folder."""
    from captioning.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        argv = [*map(str, _images(args))] if args.limit else [args.images]
        start = time.perf_counter()
        code = main(["caption", *argv, "--beam", "3", "--batch-size", str(args.batch_size),
                     "--output", f"{tmp}/out.jsonl", "--quiet"])
        seconds = time.perf_counter() - start
        lines = len(Path(f"{tmp}/out.jsonl").read_text().splitlines())
    kib_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"images": lines, "exit_code": code, "seconds": seconds, "images_per_s": lines / seconds,
            "peak_rss_mb": kib_self / 1024, "peak_worker_rss_mb": kib_workers / 1024}


def phase_naive(args) -> dict:
    """What tutorials do: one image at a time, greedy."""
    from captioning.captioner import Captioner
    from captioning.decoding import DecodeConfig, decode
    from captioning.images import load_image

    cap = Captioner.from_pretrained(device="cpu")
    paths = _images(args)[: args.naive]
    start = time.perf_counter()
    for p in paths:
        x = cap.encoder.transform(load_image(p))[None]
        decode(cap.decoder, cap.encoder(x), DecodeConfig(), cap.vocab)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "seconds": seconds, "images_per_s": len(paths) / seconds}


def phase_decode(args) -> dict:
    """Batched decoding only, on cached features: greedy vs beam-3, time and decoder rows."""
    from captioning.captioner import Captioner
    from captioning.decoding import DecodeConfig
    from captioning.features import cached_features
    from captioning.stats import decoding_work

    cap = Captioner.from_pretrained(device="cpu")
    feats, _ = cached_features(cap.encoder, _images(args), progress=False)
    out = {}
    for name, cfg in (("greedy", DecodeConfig()), ("beam3", DecodeConfig("beam", beam_size=3))):
        decoding_work(cap.decoder, feats[: args.batch_size], cfg)  # warm-up
        work = decoding_work(cap.decoder, feats, cfg, batch_size=args.batch_size)
        out[f"{name}_seconds"] = work["ms_per_image"] * len(feats) / 1e3
        out[f"{name}_rows_per_image"] = work["rows_per_image"]
    out["beam3_over_greedy"] = out["beam3_seconds"] / out["greedy_seconds"]
    return out


def run_phase(name: str, args, env: dict | None = None) -> dict:
    """One phase in a fresh process, so no phase's memory or malloc state can flatter another."""
    cmd = [sys.executable, __file__, "--phase", name, "--images", args.images, "--limit", str(args.limit),
           "--naive", str(args.naive), "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    shared = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017/images"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(shared.resolve()))
    ap.add_argument("--limit", type=int, default=0, help="use the first N images (0: all)")
    ap.add_argument("--naive", type=int, default=300, help="images for the naive loop")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of all phases; medians are reported")
    ap.add_argument("--phase", choices=PHASES)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(globals()[f"phase_{args.phase}"](args)))
        return
    rounds = []
    for _ in range(args.repeat):  # phases interleaved, so slow spells hit every phase alike
        r = {name: run_phase(name, args) for name in PHASES}
        r["encoder_no_malloc_tuning"] = run_phase("encoder", args, {"CAPTIONING_TUNE_MALLOC": "0"})
        r["naive_no_malloc_tuning"] = run_phase("naive", args, {"CAPTIONING_TUNE_MALLOC": "0"})
        e2e = r["e2e"]["images_per_s"]
        r["ratios"] = {"e2e_over_encoder": e2e / r["encoder"]["images_per_s"],
                       "e2e_over_naive": e2e / r["naive"]["images_per_s"],
                       "beam3_over_greedy": r["decode"]["beam3_over_greedy"]}
        rounds.append(r)
    r = {phase: {key: statistics.median(x[phase][key] for x in rounds) for key in rounds[0][phase]}
         for phase in rounds[0]}  # the median round, figure by figure
    enc, e2e, naive, ratio = (r["encoder"]["images_per_s"], r["e2e"]["images_per_s"],
                              r["naive"]["images_per_s"], r["ratios"])

    def spread(key: str, fmt: str, unit: str = "") -> str:
        lo, hi = min(x["ratios"][key] for x in rounds), max(x["ratios"][key] for x in rounds)
        return f"{ratio[key]:{fmt}}{unit} (rounds {lo:{fmt}}-{hi:{fmt}}{unit})"

    rows = [
        ("encoder-only (batched, pre-decoded)", f"{enc:.1f} img/s"),
        ("encoder-only, glibc malloc untuned", f"{r['encoder_no_malloc_tuning']['images_per_s']:.1f} img/s"),
        ("captioning caption, beam 3, end to end", f"{e2e:.1f} img/s = {spread('e2e_over_encoder', '.0%')} of encoder-only"),
        ("naive per-image loop, greedy", f"{naive:.1f} img/s; end to end is {spread('e2e_over_naive', '.1f', 'x')}"),
        ("naive loop, glibc malloc untuned", f"{r['naive_no_malloc_tuning']['images_per_s']:.1f} img/s"),
        ("batched greedy decode, all features", f"{r['decode']['greedy_seconds']:.2f} s"),
        ("batched beam-3 decode, all features", f"{r['decode']['beam3_seconds']:.2f} s "
                                                f"= {spread('beam3_over_greedy', '.2f', 'x')} greedy"),
        ("decoder steps per image (rows), greedy / beam-3",
         f"{r['decode']['greedy_rows_per_image']:.1f} / {r['decode']['beam3_rows_per_image']:.1f} "
         f"({r['decode']['beam3_rows_per_image'] / r['decode']['greedy_rows_per_image']:.2f}x)"),
        ("peak RSS, end to end (main / largest worker)",
         f"{r['e2e']['peak_rss_mb']:.0f} MB / {r['e2e']['peak_worker_rss_mb']:.0f} MB"),
    ]
    print(f"{r['e2e']['images']:.0f} images from {args.images}, batch size {args.batch_size}, "
          f"{os.cpu_count()} CPUs; medians of {args.repeat} rounds (ratios: median, range over rounds)")
    for name, value in rows:
        print(f"  {name:<46} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps({"median": r, "rounds": rounds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
