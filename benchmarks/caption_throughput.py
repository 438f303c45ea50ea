"""Throughput of `captioning caption` on a real image folder, every CNN runtime side by side.

Every phase runs in its own process (so no phase's memory, threads or malloc state can flatter
another), all phases --repeat times in interleaved rounds; the table shows medians and ranges.

  encoder-only   img/s of the CNN on decoded, preprocessed batches: eager fp32 torch (channels_last,
                 malloc tuned: the reference), ONNX Runtime fp32, ONNX Runtime int8, torch bf16
  end to end     img/s of `captioning caption FOLDER --beam 3 --runtime R --output out.jsonl`, start-up
                 included, with peak RSS, for every runtime and auto (the default); captions vs torch
  decode         ms/image of beam-3 decoding of cached features, ensemble stacked and member by member
  profile        start-up, JPEG decode + resize (one core), writing records: with the CNN and decoder
                 figures, the per-image cost breakdown and the ceiling it implies
  first run      `captioning caption data/samples` with empty caches (export + int8 build included)

The acceptance figure (issue 23) is end to end (auto) over eager fp32 torch encoder-only, same run.
Usage: python benchmarks/caption_throughput.py [--images DIR] [--limit N] [--sample N] [--repeat N] [--json FILE]"""

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

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ("torch", "onnx", "int8", "bf16")


def _images(args) -> list[Path]:
    from captioning.images.discovery import discover_images

    paths, _ = discover_images([args.images])
    return paths[: args.limit] if args.limit else paths


def _shipped_encoder(args):
    """The shipped model's encoder on the requested runtime (auto as `caption` resolves it)."""
    from captioning.decoder.ensemble import load_decoders
    from captioning.features.loading import encoder_for

    return encoder_for(load_decoders(None)[1].encoder, args.device, args.runtime, lossy=True)


def phase_encoder(args) -> dict:
    """Decode and crop outside the clock; time only the shipped encoder, batch by batch."""
    import torch

    from captioning.images.loading import load_image

    enc = _shipped_encoder(args)
    paths, timed = _images(args)[: args.sample or None], 0.0
    enc(torch.stack([enc.pixels(load_image(p)) for p in paths[: args.batch_size]]))  # warm-up
    for i in range(0, len(paths), 256):
        chunk = torch.stack([enc.pixels(load_image(p)) for p in paths[i:i + 256]])
        for j in range(0, len(chunk), args.batch_size):
            start = time.perf_counter()
            enc(chunk[j:j + args.batch_size])
            timed += time.perf_counter() - start
    return {"images": len(paths), "seconds": timed, "images_per_s": len(paths) / timed, "runtime": enc.runtime}


def phase_e2e(args) -> dict:
    """The real command, as a user runs it, on the whole folder; start-up included."""
    start = time.perf_counter()
    from captioning.cli.main import main

    out = Path(args.out) / f"captions-{args.runtime}{args.tag}.jsonl"
    out.unlink(missing_ok=True)
    inputs = [*map(str, _images(args))] if args.limit else [args.images]
    code = main(["caption", *inputs, "--beam", "3", "--batch-size", str(args.batch_size), "--runtime",
                 args.runtime, "--device", args.device, "--output", str(out), "--quiet", *args.extra])
    seconds = time.perf_counter() - start
    lines = len(out.read_text().splitlines()) if out.exists() else 0
    return {"images": lines, "exit_code": code, "seconds": seconds, "images_per_s": lines / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "output": str(out)}


def phase_decode(args) -> dict:
    """Batched beam-3 decoding of cached features: the ensemble stacked and member by member."""
    from captioning.decoder.decode_config import DecodeConfig
    from captioning.features.cache import cached_features
    from captioning.lab.stats import decoding_work
    from captioning.tools.captioner import Captioner

    cap = Captioner.from_pretrained(device="cpu", runtime="onnx")
    feats, _ = cached_features(cap.encoder, _images(args)[: args.sample or None], progress=False)
    out, cfg = {}, DecodeConfig("beam", beam_size=3)
    for name, stacked in (("stacked", True), ("members", False)):
        cap.decoder.stackable = stacked and len(cap.decoder.members) > 1
        decoding_work(cap.decoder, feats[: args.batch_size], cfg)  # warm-up
        work = decoding_work(cap.decoder, feats, cfg, batch_size=args.batch_size)
        out[f"beam3_{name}_ms_per_image"] = work["ms_per_image"]
        out["beam3_rows_per_image"] = work["rows_per_image"]
    return out


def phase_profile(args) -> dict:
    """Start-up (imports, model and encoder load), per-image JPEG decode + resize on one core, and
    the cost of writing one record."""
    start = time.perf_counter()
    import torch

    from captioning.images.loading import load_image
    from captioning.tools.captioner import Captioner
    from captioning.tools.outputs import CaptionWriter

    cap = Captioner.from_pretrained(device="cpu")
    startup = time.perf_counter() - start
    torch.set_num_threads(1)
    paths = _images(args)[:500]
    t = time.process_time()
    for p in paths:
        cap.encoder.pixels(load_image(p, min_side=cap.encoder.spec.preprocessing.resize))
    jpeg = 1e3 * (time.process_time() - t) / len(paths)
    writer = CaptionWriter(Path(args.out) / "write-cost.jsonl")
    writer.open()
    t = time.perf_counter()
    for i in range(0, 2000, args.batch_size):
        writer.write(*({"image": f"x/{j}.jpg", "caption": "a man riding a wave on a surfboard", "logprob": -3.2}
                       for j in range(i, i + args.batch_size)))
    writer.close()
    return {"startup_seconds": startup, "jpeg_ms_per_image": jpeg,
            "write_ms_per_image": 1e3 * (time.perf_counter() - t) / 2000}


def phase_firstrun(args) -> dict:
    """A new user's first `captioning caption data/samples`: empty caches, so the ONNX export and
    the int8 build are paid here; wall time of the whole command, start to end."""
    fresh = tempfile.mkdtemp(prefix="captioning-fresh-")
    env = {**os.environ, "CAPTIONING_CACHE": fresh, "MPLCONFIGDIR": fresh}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "captioning", "caption", str(ROOT / "data" / "samples"),
                           "--output", f"{fresh}/out.jsonl"], capture_output=True, text=True, env=env)
    return {"seconds": time.perf_counter() - start, "exit_code": done.returncode,
            "progress_lines": [x for x in done.stderr.splitlines() if "int8" in x or "ONNX" in x]}


def run_phase(name: str, args, runtime: str = "auto", env: dict | None = None, tag: str = "") -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--images", args.images, "--limit", str(args.limit),
           "--sample", str(args.sample), "--batch-size", str(args.batch_size), "--runtime", runtime,
           "--device", args.device, "--out", args.out, f"--tag={tag}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"phase {name} ({runtime}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_round(args) -> dict:
    r = {f"encoder_{rt}": run_phase("encoder", args, rt) for rt in (*args.runtimes, "auto")}
    r.update({f"e2e_{rt}": run_phase("e2e", args, rt) for rt in (*args.runtimes, "auto")})
    r["e2e_auto_no_overlap"] = run_phase("e2e", args, "auto", {"CAPTIONING_OVERLAP": "0"}, "-no-overlap")
    r["encoder_torch_untuned"] = run_phase("encoder", args, "torch", {"CAPTIONING_TUNE_MALLOC": "0"})
    r["decode"], r["profile"] = run_phase("decode", args), run_phase("profile", args)
    eager = r["encoder_torch"]["images_per_s"]
    r["ratios"] = {f"{k}_over_eager_torch_encoder": v["images_per_s"] / eager for k, v in r.items()
                   if k.startswith(("e2e_", "encoder_")) and k != "encoder_torch"}
    return r


def caption_differences(a: str, b: str) -> list[dict]:
    """Images whose caption differs between two output files."""
    read = lambda p: {r["image"]: r["caption"] for r in map(json.loads, Path(p).read_text().splitlines())}  # noqa: E731
    x, y = read(a), read(b)
    return [{"image": k, "a": x[k], "b": y.get(k)} for k in x if x[k] != y.get(k)]


def breakdown(med: dict, images: float) -> dict:
    """Per-image wall cost on both cores of each part of `caption` (auto runtime), and the
    ceiling they imply: CNN and decoder run on 2 threads, JPEG decoding is one core's work shared
    by 2 workers, start-up is paid once per run."""
    parts = {"cnn_ms": 1e3 / med["encoder_auto"]["images_per_s"] if "encoder_auto" in med else None,
             "decoder_ms": med["decode"]["beam3_stacked_ms_per_image"],
             "jpeg_ms": med["profile"]["jpeg_ms_per_image"] / 2,
             "write_ms": med["profile"]["write_ms_per_image"],
             "startup_ms": 1e3 * med["profile"]["startup_seconds"] / images}
    parts["ceiling_images_per_s"] = 1e3 / sum(v for v in parts.values() if v is not None)
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str((ROOT / "../shared/data/coco-val2017/images").resolve()))
    ap.add_argument("--limit", type=int, default=0, help="use the first N images (0: all)")
    ap.add_argument("--sample", type=int, default=1000, help="images for encoder-only and decode (0: all)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of all phases; medians are reported")
    ap.add_argument("--json", metavar="FILE", help="also write every round as JSON")
    ap.add_argument("--phase"), ap.add_argument("--runtime", default="auto"), ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=""), ap.add_argument("--tag", default="")
    ap.add_argument("--extra", action="append", default=[])
    args = ap.parse_args()
    if args.phase:
        if args.phase != "e2e":  # the command tunes itself; every other phase is an entry point too
            from captioning.core.runtime import tune

            tune()  # CAPTIONING_TUNE_MALLOC=0 (the "untuned" phase) turns the malloc setting off
        print(json.dumps(globals()[f"phase_{args.phase}"](args)))
        return
    from captioning.core.runtime import cpu_has_bf16

    args.runtimes = [*RUNTIMES[:3], *(["bf16"] if cpu_has_bf16() else [])]
    args.out = args.out or tempfile.mkdtemp(prefix="captioning-bench-")
    first = run_phase("firstrun", args)  # before anything fills the caches it measures
    rounds = [one_round(args) for _ in range(args.repeat)]  # interleaved: slow spells hit every phase
    last = rounds[-1]
    diffs = {rt: caption_differences(last["e2e_torch"]["output"], last[f"e2e_{rt}"]["output"])
             for rt in (*args.runtimes[1:], "auto")}
    report(args, rounds, first, diffs)


def report(args, rounds: list[dict], first: dict, diffs: dict) -> None:
    med = {p: {k: statistics.median(x[p][k] for x in rounds) for k, v in rounds[0][p].items()
               if isinstance(v, int | float)} for p in rounds[0]}

    def span(p: str, k: str = "images_per_s", fmt: str = ".1f") -> str:
        values = [x[p][k] for x in rounds]
        return f"{med[p][k]:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    n = med["e2e_auto"]["images"]
    from captioning.core.runtime import SPEED_FLAGS, cpu_description

    cpu = cpu_description()
    print(f"CPU: {cpu['model']}, {cpu['cpus']} CPUs, flags {' '.join(cpu['flags']) or 'none of ' + str(SPEED_FLAGS)}")
    print(f"{n:.0f} images from {args.images}, batch {args.batch_size}, {os.cpu_count()} CPUs; medians of "
          f"{args.repeat} rounds (ranges); auto = {rounds[-1]['encoder_auto']['runtime']}")
    for rt in (*args.runtimes, "auto"):
        print(f"  {rt:<5} encoder-only {span(f'encoder_{rt}')} img/s | end to end {span(f'e2e_{rt}')} img/s, "
              f"peak RSS {med[f'e2e_{rt}']['peak_rss_mb']:.0f} MB (+ {med[f'e2e_{rt}']['peak_worker_rss_mb']:.0f} MB "
              f"worker) | captions differing from torch: {len(diffs.get(rt, []))}")
    print(f"  ACCEPTANCE end to end (auto) / eager fp32 torch encoder-only = "
          f"{span('ratios', 'e2e_auto_over_eager_torch_encoder', '.2f')} x (bar: 1.2)")
    print(f"  end to end (auto) without the CNN thread: {span('e2e_auto_no_overlap')} img/s; torch encoder, "
          f"malloc untuned: {span('encoder_torch_untuned')} img/s")
    d = med["decode"]
    print(f"  beam-3 decoding: stacked ensemble {d['beam3_stacked_ms_per_image']:.2f} ms/image, member by member "
          f"{d['beam3_members_ms_per_image']:.2f} ms/image ({d['beam3_rows_per_image']:.1f} rows/image)")
    parts = breakdown(med, n)
    print("  per image: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v is not None))
    print(f"  first run on data/samples with empty caches: {first['seconds']:.1f} s (exit {first['exit_code']}); "
          + " | ".join(first["progress_lines"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "median": med, "rounds": rounds, "first_run": first, "breakdown": parts,
                                               "caption_differences": diffs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
