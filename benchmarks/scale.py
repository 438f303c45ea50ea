"""Training at full-COCO scale: one epoch over a synthetic split of 120,000 images x 5 captions
(random features, random 8-14-word captions over a 10,000-word vocabulary), single process and
with 2 gloo ranks under torchrun, reporting captions/s and the peak RSS of every rank.

Two ways to hold the 120k x 1280 features, measured (issue 12): "mmap" memory-maps the fp32
cache, so ranks share the page cache; "fp16" reads a private float16 copy per rank, converted to
float32 batch by batch.

With --train-images N the epoch covers only the first N train images (and their captions), for a
captions/s figure in minutes rather than an hour; every feature row is still read once before
training, so the peak RSS counts the whole cache, and the vocabulary and caption tensors are those
of the full split.

Usage: python benchmarks/scale.py [--images 120000] [--train-images N] [--features mmap|fp16]
                                  [--ranks 1 2] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from captioning.core import distributed
from captioning.core.runtime import tune
from captioning.data.records import ImageRecord
from captioning.data.tensors import prepare_splits
from captioning.decoder.config import DecoderConfig
from captioning.features.cache import _write, load_mapped
from captioning.features.config import EncoderSpec
from captioning.training.config import TrainConfig
from captioning.training.loop import fit

VAL = 250  # validation images (rank 0 validates once, after the epoch)


def make_data(folder: Path, images: int, seed: int = 0) -> None:
    """features.safetensors (fp32, N x 1280) and captions.json (N lists of 5 captions)."""
    g = torch.Generator().manual_seed(seed)
    words = [f"w{i}" for i in range(10_000)]
    ranks = torch.arange(1, len(words) + 1, dtype=torch.float64)
    zipf = (1 / ranks) / (1 / ranks).sum()
    lengths = torch.randint(8, 15, (images * 5,), generator=g)
    ids = torch.multinomial(zipf, int(lengths.sum()), replacement=True, generator=g).tolist()
    caps, at = [], 0
    for n in lengths.tolist():
        caps.append(" ".join(words[i] for i in ids[at:at + n]))
        at += n
    (folder / "captions.json").write_text(json.dumps([caps[i * 5:(i + 1) * 5] for i in range(images)]))
    _write(folder / "features.safetensors", torch.randn(images, 1280, generator=g), {})


def phase_train(args) -> dict:
    """One epoch on the synthetic data (run directly, or by torchrun for several ranks)."""
    tune()
    distributed.init(torch.device("cpu"))
    w = distributed.world()
    folder = Path(args.data)
    captions = json.loads((folder / "captions.json").read_text())
    features = load_mapped(folder / "features.safetensors")
    if args.features == "fp16":
        features = features.to(torch.float16)  # a private copy per rank, half the bytes
    for i in range(0, len(features), 4096):  # read every page once: the peak RSS counts the whole cache
        features[i:i + 4096].sum()
    n = len(captions)
    records = [ImageRecord(Path(f"/synthetic/{i}.jpg"), "val" if i >= n - VAL else "train", caps, i)
               for i, caps in enumerate(captions)]
    cfg = TrainConfig(epochs=1, patience=1, min_count=5, warmup_epochs=0.1)
    vocab, split, _ = prepare_splits(records, features, cfg.min_count, cfg.max_words)
    full_train = len(split["train"].tokens)
    split["train"] = split["train"].subset(args.train_images)
    model = DecoderConfig(vocab_size=len(vocab), feature_dim=1280)
    start = time.perf_counter()
    summary = fit(split["train"], split["val"], vocab, model, cfg, EncoderSpec(), folder / f"run-{w.size}",
                  device="cpu", progress=False)
    seconds = time.perf_counter() - start
    result = {"rank": w.rank, "ranks": w.size, "features": args.features, "train_captions": len(split["train"].tokens),
              "split_train_captions": full_train,
              "epoch_train_seconds": summary["train_seconds"], "wall_seconds": seconds,
              "captions_per_s": len(split["train"].tokens) / summary["train_seconds"],
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": torch.get_num_threads()}
    (folder / f"result-{args.features}-{w.size}-rank{w.rank}.json").write_text(json.dumps(result))
    return result


def run(args, ranks: int) -> list[dict]:
    script = [__file__, "--phase", "train", "--data", args.data, "--features", args.features,
              "--train-images", str(args.train_images)]
    launch = [sys.executable] if ranks == 1 else [str(Path(sys.executable).with_name("torchrun")), "--standalone",
                                                    f"--nproc-per-node={ranks}"]
    done = subprocess.run([*launch, *script], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    return [json.loads((Path(args.data) / f"result-{args.features}-{ranks}-rank{r}.json").read_text()) for r in range(ranks)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=120_000)
    ap.add_argument("--features", choices=("mmap", "fp16"), default="mmap")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--train-images", type=int, default=0, help="train on the first N train images only (0: all)")
    ap.add_argument("--data", help="folder for the synthetic data (default: a temporary one)")
    ap.add_argument("--phase"), ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase_train(args)))
        return
    with tempfile.TemporaryDirectory(prefix="captioning-scale-") as tmp:
        args.data = args.data or tmp
        if not (Path(args.data) / "captions.json").is_file():
            make_data(Path(args.data), args.images)
        results = {str(r): run(args, r) for r in args.ranks}
    for ranks, rows in results.items():
        total = rows[0]["train_captions"] / max(r["epoch_train_seconds"] for r in rows)
        rss = ", ".join(f"{r['peak_rss_mb']:.0f}" for r in rows)
        print(f"{ranks} rank(s), {args.features}: {rows[0]['train_captions']:,} of {rows[0]['split_train_captions']:,} "
              f"train captions in "
              f"{max(r['epoch_train_seconds'] for r in rows):.0f} s = {total:.0f} captions/s; peak RSS per rank {rss} MB "
              f"({rows[0]['threads']} thread(s) each)")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": args.images, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
