"""Throughput of `captioning caption` on a real image folder, torch vs ONNX Runtime, side by side.

Every phase runs in its own process (so no phase's memory, threads or malloc state can flatter
another), all phases --repeat times in interleaved rounds; the table shows medians and ranges.

  encoder-only   images/s of the CNN on already decoded, preprocessed batches (torch, onnx)
  end to end     images/s of `captioning caption FOLDER --beam 3 --runtime R --output out.jsonl`,
                 start-up included, with its peak RSS; the captions of both runtimes are compared
  naive loop     images/s of open -> preprocess -> encode -> greedy decode, one image at a time
  decode         seconds to decode all cached features, greedy and beam-3, and decoder rows/image
  profile        where end-to-end time goes: start-up, JPEG decode + resize (one core), beam search
  cuda           with a GPU: end to end and feature extraction, fp32 and AMP

The acceptance figure is end to end (auto runtime) over eager torch encoder-only, same run.
Usage: python benchmarks/caption_throughput.py [--images DIR] [--limit N] [--repeat N] [--json FILE]"""

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

RUNTIMES = ("torch", "onnx")


def _images(args) -> list[Path]:
    from captioning.images.discovery import discover_images

    paths, _ = discover_images([args.images])
    return paths[: args.limit] if args.limit else paths


def _shipped_encoder(args, **kw):
    """The shipped model's encoder (name, flip) on the requested runtime and device."""
    from captioning.decoder.ensemble import load_decoders
    from captioning.features.loading import load_encoder

    spec = load_decoders(None)[1].encoder
    return load_encoder(spec.name, flip=spec.flip, device=args.device, runtime=args.runtime, **kw)


def phase_encoder(args) -> dict:
    """Decode and crop outside the clock; time only the shipped encoder, batch by batch."""
    import torch

    from captioning.images.loading import load_image

    enc = _shipped_encoder(args)
    paths, timed = _images(args)[: args.sample or None], 0.0
    for i in range(0, len(paths), 256):
        chunk = torch.stack([enc.pixels(load_image(p)) for p in paths[i:i + 256]])
        for j in range(0, len(chunk), args.batch_size):
            start = time.perf_counter()
            enc(chunk[j:j + args.batch_size])
            timed += time.perf_counter() - start
    return {"images": len(paths), "seconds": timed, "images_per_s": len(paths) / timed}


def phase_e2e(args) -> dict:
    """The real command, as a user runs it, on the whole folder; start-up included."""
    start = time.perf_counter()
    from captioning.cli.main import main

    out = Path(args.out or tempfile.mkdtemp()) / f"captions-{args.runtime}.jsonl"
    out.unlink(missing_ok=True)
    inputs = [*map(str, _images(args))] if args.limit else [args.images]
    code = main(["caption", *inputs, "--beam", "3", "--batch-size", str(args.batch_size), "--runtime",
                 args.runtime, "--device", args.device, "--output", str(out), "--quiet", *args.extra])
    seconds = time.perf_counter() - start
    lines = len(out.read_text().splitlines())
    return {"images": lines, "exit_code": code, "seconds": seconds, "images_per_s": lines / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "output": str(out)}


def phase_naive(args) -> dict:
    """What tutorials do: one image at a time, one forward each, greedy."""
    from captioning.decoder.decode_config import DecodeConfig
    from captioning.decoder.search import decode
    from captioning.images.loading import load_image
    from captioning.tools.captioner import Captioner

    cap = Captioner.from_pretrained(device="cpu", runtime=args.runtime)
    paths = _images(args)[: args.naive]
    start = time.perf_counter()
    for p in paths:
        decode(cap.decoder, cap.encoder(cap.encoder.pixels(load_image(p))[None]), DecodeConfig(), cap.vocab)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "seconds": seconds, "images_per_s": len(paths) / seconds}


def phase_decode(args) -> dict:
    """Batched decoding only, on cached features: greedy vs beam-3, time and decoder rows."""
    from captioning.decoder.decode_config import DecodeConfig
    from captioning.features.cache import cached_features
    from captioning.lab.stats import decoding_work
    from captioning.tools.captioner import Captioner

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


def phase_profile(args) -> dict:
    """Start-up (import, model and encoder load), and per-image CPU of JPEG decode + resize."""
    start = time.perf_counter()
    import torch

    from captioning.images.loading import load_image
    from captioning.tools.captioner import Captioner

    cap = Captioner.from_pretrained(device="cpu")
    startup = time.perf_counter() - start
    torch.set_num_threads(1)
    paths = _images(args)[:500]
    t = time.process_time()
    for p in paths:
        cap.encoder.pixels(load_image(p, min_side=cap.encoder.spec.preprocessing.resize))
    return {"startup_seconds": startup, "jpeg_ms_per_image": 1e3 * (time.process_time() - t) / len(paths)}


def phase_extract(args) -> dict:
    """Feature extraction of the folder (the training path), no cache."""
    from captioning.features.extraction import extract_features

    enc = _shipped_encoder(args, amp="--amp" in args.extra)
    paths = _images(args)[: args.sample or None]
    start = time.perf_counter()
    extract_features(enc, paths, args.batch_size, progress=False)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "seconds": seconds, "images_per_s": len(paths) / seconds}


def run_phase(name: str, args, runtime: str = "auto", device: str = "cpu", extra: tuple = (),
              env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--images", args.images, "--limit", str(args.limit),
           "--naive", str(args.naive), "--sample", str(args.sample), "--batch-size", str(args.batch_size), "--runtime", runtime,
           "--device", device, "--out", args.out, *(f"--extra={e}" for e in extra)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"phase {name} ({runtime}, {device}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_round(args) -> dict:
    r = {f"{phase}_{rt}": run_phase(phase, args, rt) for phase in ("encoder", "e2e", "naive") for rt in RUNTIMES}
    r["e2e_auto"] = run_phase("e2e", args, "auto")
    r["decode"], r["profile"] = run_phase("decode", args), run_phase("profile", args)
    r["extract_cpu"] = run_phase("extract", args, "auto")
    r["encoder_torch_untuned"] = run_phase("encoder", args, "torch", env={"CAPTIONING_TUNE_MALLOC": "0"})
    eager = r["encoder_torch"]["images_per_s"]
    r["ratios"] = {f"e2e_{rt}_over_eager_encoder": r[f"e2e_{rt}"]["images_per_s"] / eager for rt in (*RUNTIMES, "auto")}
    r["ratios"].update({f"e2e_{rt}_over_naive_{rt}": r[f"e2e_{rt}"]["images_per_s"] / r[f"naive_{rt}"]["images_per_s"]
                        for rt in RUNTIMES})
    r["ratios"]["onnx_over_torch_encoder"] = r["encoder_onnx"]["images_per_s"] / eager
    return r


def cuda_round(args) -> dict:
    out = {}
    for amp in ((), ("--amp",)):
        tag = "amp" if amp else "fp32"
        out[f"e2e_cuda_{tag}"] = run_phase("e2e", args, "torch", "cuda", amp)
        out[f"extract_cuda_{tag}"] = run_phase("extract", args, "torch", "cuda", amp)
    return out


def caption_differences(a: str, b: str) -> list[dict]:
    """Images whose caption differs between two output files."""
    read = lambda p: {r["image"]: r["caption"] for r in map(json.loads, Path(p).read_text().splitlines())}  # noqa: E731
    x, y = read(a), read(b)
    return [{"image": k, "torch": x[k], "onnx": y.get(k)} for k in x if x[k] != y.get(k)]


def main() -> None:
    shared = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017/images"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(shared.resolve()))
    ap.add_argument("--limit", type=int, default=0, help="use the first N images (0: all)")
    ap.add_argument("--naive", type=int, default=300, help="images for the naive loop")
    ap.add_argument("--sample", type=int, default=1000, help="images for encoder-only and extraction, whose "
                    "speed does not depend on which images (every crop has the same size; 0: all)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of all phases; medians are reported")
    ap.add_argument("--json", metavar="FILE", help="also write every round as JSON")
    ap.add_argument("--phase"), ap.add_argument("--runtime", default="auto"), ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=""), ap.add_argument("--extra", action="append", default=[])
    args = ap.parse_args()
    if args.phase:
        if args.phase != "e2e":  # the command tunes itself; every other phase is an entry point too
            from captioning.core.runtime import tune

            tune()  # CAPTIONING_TUNE_MALLOC=0 (the "untuned" phase) turns the malloc setting off
        print(json.dumps(globals()[f"phase_{args.phase}"](args)))
        return
    args.out = args.out or tempfile.mkdtemp(prefix="captioning-bench-")
    rounds = [one_round(args) for _ in range(args.repeat)]  # interleaved: slow spells hit every phase
    import torch

    cuda = cuda_round(args) if torch.cuda.is_available() else None
    report(args, rounds, cuda, caption_differences(rounds[-1]["e2e_torch"]["output"], rounds[-1]["e2e_onnx"]["output"]))


def report(args, rounds: list[dict], cuda: dict | None, diffs: list[dict]) -> None:
    med = {p: {k: statistics.median(x[p][k] for x in rounds) for k, v in rounds[0][p].items()
               if isinstance(v, int | float)} for p in rounds[0]}

    def span(p: str, k: str, fmt: str) -> str:
        values = [x[p][k] for x in rounds]
        return f"{med[p][k]:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    print(f"{med['e2e_auto']['images']:.0f} images from {args.images}, batch {args.batch_size}, {os.cpu_count()} CPUs;"
          f" medians of {args.repeat} rounds (ranges)")
    for rt in RUNTIMES:
        print(f"  {rt:<6} encoder-only {span(f'encoder_{rt}', 'images_per_s', '.1f')} img/s | end to end "
              f"{span(f'e2e_{rt}', 'images_per_s', '.1f')} img/s | naive loop {span(f'naive_{rt}', 'images_per_s', '.1f')} img/s")
    print(f"  end to end (auto) {span('e2e_auto', 'images_per_s', '.1f')} img/s = "
          f"{span('ratios', 'e2e_auto_over_eager_encoder', '.2f')} x eager torch encoder-only")
    print(f"  ONNX Runtime encoder over eager torch: {span('ratios', 'onnx_over_torch_encoder', '.2f')} x; torch "
          f"untuned malloc {span('encoder_torch_untuned', 'images_per_s', '.1f')} img/s")
    print(f"  end to end over naive loop: torch {span('ratios', 'e2e_torch_over_naive_torch', '.1f')} x, "
          f"onnx {span('ratios', 'e2e_onnx_over_naive_onnx', '.1f')} x")
    d, p = med["decode"], med["profile"]
    print(f"  decode all features: greedy {d['greedy_seconds']:.2f} s, beam-3 {d['beam3_seconds']:.2f} s "
          f"({d['beam3_rows_per_image']:.1f} vs {d['greedy_rows_per_image']:.1f} rows/image)")
    print(f"  profile: start-up {p['startup_seconds']:.2f} s, JPEG decode + crop {p['jpeg_ms_per_image']:.2f} ms/image "
          f"(one core); peak RSS end to end {med['e2e_auto']['peak_rss_mb']:.0f} MB (+ {med['e2e_auto']['peak_worker_rss_mb']:.0f} MB worker)")
    print(f"  feature extraction (auto runtime, no cache, {med['extract_cpu']['images']:.0f} images): "
          f"{span('extract_cpu', 'images_per_s', '.1f')} img/s; encoder-only timed on {med['encoder_torch']['images']:.0f} images")
    for k, v in (cuda or {}).items():
        print(f"  {k}: {v['images_per_s']:.1f} img/s")
    print(f"  captions that differ, torch vs onnx: {len(diffs)} of {med['e2e_torch']['images']:.0f}")
    for x in diffs:
        print(f"    {Path(x['image']).name}: torch '{x['torch']}' | onnx '{x['onnx']}'")
    if args.json:
        Path(args.json).write_text(json.dumps({"median": med, "rounds": rounds, "cuda": cuda,
                                               "caption_differences": diffs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
