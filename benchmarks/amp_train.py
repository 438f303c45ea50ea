"""Mixed-precision training, measured: `captioning train` with and without --amp on the same
split, seed and settings, reporting each epoch's time and val CIDEr.

--amp trains under autocast in the dtype core.devices.amp_dtype picks (bf16 on CPUs with
AVX512-BF16 or AMX, bf16 or fp16 on CUDA); where it picks none, --amp trains in fp32 and this
benchmark says so. Features come from the CLI's cache (extracted once, then reused by both runs).
Measure on a quiet machine: the two runs alternate epochs' worth of work, nothing else should.

Usage: python benchmarks/amp_train.py [--train-images N] [--val-images N] [--epochs 1] [--seed 0]
                                      [--encoder efficientnet_lite0] [--device cpu] [--json FILE]
                                      [-- extra `captioning train` flags]"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from captioning.core.devices import amp_dtype, resolve_device
from captioning.data.karpathy import write_karpathy
from captioning.lab.notebook import shared_records

COCO = Path(os.environ.get("CAPTIONING_SHARED_COCO", Path(__file__).resolve().parents[2] / "shared/data/coco-val2017"))


def train(split: Path, out: Path, args: argparse.Namespace, amp: bool) -> dict:
    """One `captioning train` run; returns its summary and per-epoch records."""
    argv = [sys.executable, "-m", "captioning", "train", "--dataset", str(split), "--out", str(out), "--force",
            "--epochs", str(args.epochs), "--seed", str(args.seed), "--encoder", args.encoder,
            "--device", args.device, "--quiet", *(["--amp"] if amp else []), *args.extra]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"captioning train failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"precision": summary["precision"], "epoch_seconds": [round(e["seconds"], 1) for e in epochs],
            "val_cider": [round(e["val_cider"], 2) for e in epochs],
            "train_loss": [round(e["train_loss"], 4) for e in epochs]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-images", type=int, default=0, help="first N train images (0: all)")
    p.add_argument("--val-images", type=int, default=0, help="first N val images (0: all)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", metavar="FILE", help="also write the results here")
    p.add_argument("extra", nargs="*", help="more `captioning train` flags (after --)")
    args = p.parse_args()
    device = resolve_device(args.device)
    records = shared_records(COCO, {"train": args.train_images, "val": args.val_images})  # 0 keeps a whole split
    with tempfile.TemporaryDirectory() as tmp:
        split = write_karpathy(records, Path(tmp) / "split.json")
        rows = {name: train(split, Path(tmp) / name, args, amp) for name, amp in (("fp32", False), ("amp", True))}
    result = {"device": str(device), "amp_dtype": str(amp_dtype(device)).replace("torch.", ""),
              "train_images": sum(r.split == "train" for r in records),
              "val_images": sum(r.split == "val" for r in records), "epochs": args.epochs, "seed": args.seed,
              "encoder": args.encoder, "runs": rows}
    for name, row in rows.items():
        print(f"{name:5s} ({row['precision']}): epoch seconds {row['epoch_seconds']}, val CIDEr {row['val_cider']}")
    if rows["amp"]["precision"] == "fp32":
        print(f"{device} has no fast half-precision type: --amp trained in fp32")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
