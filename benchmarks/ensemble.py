"""What each member of an ensemble adds and costs: for the first k members (k = 1 .. N) of an
ensemble folder (default: the shipped model), val (or test) CIDEr with greedy and beam-3, and the
decoder's milliseconds per image on cached features. The encoder runs once per image whatever k
is, so its cost is the same for every row (see benchmarks/encoders.py).

With --e2e N it also times `captioning caption` (beam 3, start-up included) on the split's first N
images for every k, the members passed as repeated --checkpoint flags.

Usage: python benchmarks/ensemble.py [--ensemble DIR] [--split val] [--repeat 3] [--e2e N] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from captioning.core.runtime import tune
from captioning.data.coco import load_coco
from captioning.data.split import make_split
from captioning.decoder.checkpoint import PRETRAINED, Checkpoint
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.ensemble import Ensemble, ensemble_members
from captioning.features.cache import cached_features
from captioning.features.loading import encoder_for
from captioning.lab.stats import decoding_work
from captioning.training.evaluation import evaluate_split

SHARED = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017"
DECODINGS = {"greedy": DecodeConfig(), "beam3": DecodeConfig("beam", beam_size=3)}


def end_to_end(paths: list[Path], folders: list[Path]) -> float:
    """Images per second of `captioning caption` with these member folders, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "captioning", "caption", *map(str, paths), "--beam", "3",
                *(a for f in folders for a in ("--checkpoint", str(f))), "--output", f"{tmp}/out.jsonl", "--quiet"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return len(paths) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ensemble", default=str(PRETRAINED))
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--repeat", type=int, default=3, help="timing rounds; medians are reported")
    ap.add_argument("--e2e", type=int, default=0, metavar="N", help="also time `captioning caption` on N images")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    tune()
    folders = ensemble_members(Path(args.ensemble)) or [Path(args.ensemble)]
    members = [Checkpoint.load(m) for m in folders]
    records = [r for r in make_split(load_coco(SHARED / "captions_val2017.json", SHARED / "images"))
               if r.split == args.split]
    feats, failed = cached_features(encoder_for(members[0].encoder), [r.path for r in records], progress=False)
    assert not failed, failed
    rows = []
    for k in range(1, len(members) + 1):
        model = members[0].decoder if k == 1 else Ensemble([m.decoder for m in members[:k]])
        row = {"members": k}
        for name, cfg in DECODINGS.items():
            scores = evaluate_split(model, feats, records, members[0].vocab, cfg, meteor=False)
            row[f"{name}_cider"] = scores["scores"]["CIDEr"]
            row[f"{name}_distinct"] = scores["scores"]["distinct_captions"]
            with torch.inference_mode():
                decoding_work(model, feats[:32], cfg)  # warm-up
                row[f"{name}_ms_per_image"] = statistics.median(
                    decoding_work(model, feats, cfg)["ms_per_image"] for _ in range(args.repeat))
        if args.e2e:
            row["e2e_img_per_s"] = end_to_end([r.path for r in records[: args.e2e]], folders[:k])
        rows.append(row)
        print(f"{k} member(s): {args.split} CIDEr greedy {row['greedy_cider']:.1f}, beam-3 {row['beam3_cider']:.1f} "
              f"({row['beam3_distinct']} distinct); decoder {row['greedy_ms_per_image']:.1f} / "
              f"{row['beam3_ms_per_image']:.1f} ms per image (greedy / beam-3), {torch.get_num_threads()} thread(s)"
              + (f"; captioning caption end to end {row['e2e_img_per_s']:.1f} img/s" if args.e2e else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"ensemble": args.ensemble, "split": args.split, "rows": rows},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
