"""How long one update of the live notebook (notebooks/07, `captioning.lab.live`) takes on CPU once
the model is loaded: a control moves, the photo is decoded again and the panels are redrawn.

For each of the first --photos sample photos it loads the photo (its CNN features are computed once,
timed apart), then moves the controls through a fixed script: greedy, beam 2..5, n-best, length
penalty, a single ensemble member, sampling with two seeds and temperatures. Every move is timed
twice: "cached" as the notebook runs it (figures are kept per photo, checkpoint and caption, so a
move that keeps the caption redraws nothing), and "cold" with that cache emptied first (every
figure redrawn: the worst case). Wall time is what a learner waits; CPU time (this process, all
threads) is reported beside it, since on a shared machine wall time also counts other processes.
Each update sets the caption, n-best and next-word panels first and draws the gates last; the
"caption" column is the time until the first ones are on screen.

Usage: python benchmarks/live_update.py [--photos 3] [--threads N] [--checkpoint DIR] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from captioning.core.runtime import tune
from captioning.lab.live import LiveApp
from captioning.tools.captioner import Captioner

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# (control, value) moves, in order; the beam rows are the "beam <= 5" the target is about
SCRIPT = [("strategy", "greedy"), ("strategy", "beam"), *[("beam", k) for k in (2, 3, 4, 5)],
          ("n_best", 5), ("length_penalty", 0.6), ("length_penalty", 1.2), ("checkpoint", 1),
          ("strategy", "sample"), ("seed", 1), ("temperature", 0.5), ("top_p", 0.8)]


def timed(action) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return 1e3 * (time.perf_counter() - wall), 1e3 * (time.process_time() - cpu)


def reset(app: LiveApp) -> None:
    """Back to beam 1, n-best 1, no length penalty, the first checkpoint."""
    app.set(strategy="beam", beam=1, n_best=1, length_penalty=0.0, temperature=1.0, top_p=1.0, seed=0,
            checkpoint=app.controls["checkpoint"].options[0])


def move(app: LiveApp, name: str, value, cold: bool) -> dict:
    """Set one control (its observer runs the update) and time it."""
    c = app.controls[name]
    value = c.options[min(value, len(c.options) - 1)] if name == "checkpoint" else value
    if cold:
        app.renders.clear()
    if c.value == value:  # an unchanged value fires no observer: time the update directly
        wall, cpu = timed(app.update)
    else:
        wall, cpu = timed(lambda: setattr(c, "value", value))
    state, cfg = app.state, app.state["decoding"]
    return {"move": f"{name}={value}", "decoding": cfg.name, "cold": cold, "wall_ms": wall, "cpu_ms": cpu,
            "caption_ms": 1e3 * state["first_seconds"], "beam_le_5": cfg.strategy != "sample" and cfg.beam_size <= 5,
            "caption": state["caption"]}


def summary(rows: list[dict]) -> dict:
    """Median and max of each time, and how many whole updates took under 1 s of wall time."""
    out: dict = {"updates": len(rows), "under_1s": sum(r["wall_ms"] < 1000 for r in rows)}
    for key in ("wall_ms", "caption_ms", "cpu_ms"):
        values = [r[key] for r in rows]
        out |= {f"median_{key}": statistics.median(values), f"max_{key}": max(values)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=3, help="sample photos to run the script on")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint or ensemble folder (default: shipped)")
    ap.add_argument("--json", default=None, help="also write every timed update here")
    args = ap.parse_args()
    tune()
    if args.threads:
        torch.set_num_threads(args.threads)
    app = LiveApp(Captioner.from_pretrained(args.checkpoint, device="cpu"), SAMPLES)
    photos = [v for _, v in app.controls["sample"].options][: args.photos]
    app.load(photos[0])  # warm-up: the first decode builds the decoders' input tables
    rows, loads = [], []
    for photo in photos:
        app.photos.clear()
        loads.append(timed(lambda p=photo: app.load(p))[0])
        reset(app)
        for cold in (False, True):
            rows += [move(app, name, value, cold) | {"photo": Path(photo).name} for name, value in SCRIPT]
            reset(app)
    table = {f"{'cold' if cold else 'cached'}, {'beam <= 5' if beam else 'sampling'}":
             summary([r for r in rows if r["cold"] == cold and r["beam_le_5"] == beam])
             for cold in (False, True) for beam in (True, False)}
    result = {"threads": torch.get_num_threads(), "load_average": os.getloadavg(),
              "photo_load_ms": loads, "summary": table}
    print(f"torch threads {result['threads']}, load average {result['load_average'][0]:.1f} "
          f"(of {os.cpu_count()} CPUs); new photo (CNN + first update): "
          + ", ".join(f"{ms:.0f}" for ms in loads) + " ms")
    print("ms per update, median / max: wall (the whole update), caption (until the caption, n-best and\n"
          "next-word panels are set, before the gates are drawn), CPU (the whole update, all threads)")
    print(f"{'updates':<22}{'n':>4}{'wall':>13}{'caption':>13}{'CPU':>13}{'wall < 1 s':>12}")
    for name, s in table.items():
        cols = "".join(f"{s[f'median_{k}']:>7.0f} /{s[f'max_{k}']:>5.0f}" for k in ("wall_ms", "caption_ms", "cpu_ms"))
        print(f"{name:<22}{s['updates']:>4}{cols}{s['under_1s']:>8}/{s['updates']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result | {"updates": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
