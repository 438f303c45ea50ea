"""Which int8 encoder? ONNX Runtime static QDQ quantization of the shipped encoder, calibrated on
train images only, against the fp32 ONNX encoder: the shipped ensemble's val CIDEr at its default
decoding, the share of val captions that change, the lowest feature cosine, and encoder-only
speed (interleaved rounds) for every configuration: calibration method (minmax, entropy,
percentile), number of calibration images, and activation type (uint8 = U8S8, int8 = S8S8).

The rule (issue 23): int8 may be the CPU default only if its val CIDEr drop is <= 0.5 and it is
faster. --ship writes the best U8S8 configuration's ranges (highest val CIDEr; fewer images on
a tie) to captioning/features/calibration/, which `--runtime int8` then uses.

--split test --shipped scores the shipped calibration on test (the figures README quotes); --bf16
adds torch bf16 autocast on the same terms.

Usage: python benchmarks/int8.py [--configs percentile:128:uint8 ...] [--repeat 3] [--json FILE] [--ship]
       python benchmarks/int8.py --configs --shipped --bf16 --split test --json FILE"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from captioning.core.runtime import cpu_description, cpu_has_bf16, tune
from captioning.data.coco import load_coco
from captioning.data.split import make_split
from captioning.decoder.decode_config import resolve_decoding
from captioning.decoder.ensemble import load_decoders
from captioning.features.extraction import extract_features
from captioning.features.int8 import (
    QuantSettings,
    calibration_file,
    int8_encoder,
    write_calibration,
)
from captioning.features.loading import encoder_for
from captioning.features.preprocessing import normalize
from captioning.images.loading import load_image
from captioning.training.evaluation import evaluate_split

SHARED = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017"
DEFAULT_CONFIGS = ("minmax:256:int8", "minmax:64:uint8", "minmax:256:uint8", "entropy:64:uint8",
                   "entropy:128:uint8", "percentile:64:uint8", "percentile:128:uint8", "percentile:256:uint8",
                   "percentile-99.999:128:uint8", "percentile-99.9:128:uint8")


def parse_config(text: str) -> tuple[QuantSettings, int]:
    """'method[-percentile][+ends]:images:activations' -> (settings, images); +ends keeps the
    stem and head convolutions in fp32."""
    method, images, activations = text.split(":")
    method, ends, _ = method.partition("+ends")
    method, _, pct = method.partition("-")
    return QuantSettings(method, float(pct or 99.99), activations, bool(ends)), int(images)


def calibration_batches(encoder, paths: list[Path], batch: int = 16) -> list[np.ndarray]:
    """Normalized float batches of the train images, as the encoder sees them."""
    if not paths:
        return []
    pixels = torch.stack([encoder.pixels(load_image(p)) for p in paths])
    x = normalize(encoder.spec.preprocessing, pixels).numpy()
    return [x[i:i + batch] for i in range(0, len(x), batch)]


def speed(encoder, pixels: torch.Tensor, batch: int) -> float:
    encoder(pixels[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(pixels), batch):
        encoder(pixels[i:i + batch])
    return len(pixels) / (time.perf_counter() - start)


def score(model, ckpt, encoder, val) -> tuple[float, list[str], torch.Tensor]:
    """(val CIDEr, captions, features) with the shipped model's default decoding."""
    feats, _ = extract_features(encoder, [r.path for r in val], 32, None, progress=False)
    out = evaluate_split(model, feats, val, ckpt.vocab, resolve_decoding(ckpt.decoding), meteor=False)
    return out["scores"]["CIDEr"], [row["caption"] for row in out["images"]], feats


def candidates(args, ckpt, fp32, train: list[Path]):
    """(name, settings, calibration images, encoder, extra fields) for every encoder to score:
    each --configs entry calibrated now, the shipped calibration (--shipped), torch bf16 (--bf16)."""
    configs = [parse_config(c) for c in args.configs]
    batches = calibration_batches(fp32, train[:max((n for _, n in configs), default=0)])
    tmp = Path(tempfile.mkdtemp(prefix="captioning-int8-"))
    for text, (settings, n) in zip(args.configs, configs):
        cal = tmp / f"{text.replace(':', '_')}.json"
        start = time.perf_counter()
        write_calibration(cal, ckpt.encoder.name, None, batches[: -(-n // 16)], settings,
                          [p.name for p in train[:n]], cache_dir=tmp)
        enc = int8_encoder(ckpt.encoder.name, cache_dir=tmp, calibration=cal)
        yield text, settings.to_dict(), n, enc, {"calibrate_and_quantize_s": time.perf_counter() - start,
                                                  "calibration_file": str(cal)}
    if args.shipped:  # the calibration in the package, as `--runtime int8` uses it
        cal = json.loads(calibration_file(ckpt.encoder.name).read_text())
        yield "shipped", cal["settings"], len(cal["images"]), int8_encoder(ckpt.encoder.name), {}
    if args.bf16 and cpu_has_bf16():  # torch bf16 autocast, the other lossy runtime, on the same terms
        yield "torch-bf16", {"activations": "bf16"}, 0, encoder_for(ckpt.encoder, runtime="bf16"), {}


def run(args) -> dict:
    records = make_split(load_coco(SHARED / "captions_val2017.json", SHARED / "images"))
    train = [r.path for r in records if r.split == "train"]
    val = [r for r in records if r.split == args.split]  # "val" to choose; "test" to report
    model, ckpt = load_decoders(None)  # the shipped ensemble
    fp32 = encoder_for(ckpt.encoder, runtime="onnx")
    base_cider, base_caps, base_feats = score(model, ckpt, fp32, val)
    rows, encoders = [], {"fp32": fp32}
    for name, settings, n, enc, extra in candidates(args, ckpt, fp32, train):
        cider, caps, feats = score(model, ckpt, enc, val)
        rows.append({"config": name, "settings": settings, "calibration_images": n,
                     "val_cider": cider, "cider_drop": base_cider - cider,
                     "changed_captions": sum(a != b for a, b in zip(caps, base_caps)) / len(caps),
                     "feature_cosine_min": float(torch.nn.functional.cosine_similarity(feats, base_feats).min()),
                     **extra})
        encoders[name] = enc
        print(json.dumps(rows[-1]), flush=True)
    pixels = torch.stack([fp32.pixels(load_image(r.path)) for r in val])
    rounds = [{name: speed(enc, pixels, args.batch_size) for name, enc in encoders.items()}
              for _ in range(args.repeat)]  # interleaved: a slow spell hits every encoder
    fp32_speed = statistics.median(r["fp32"] for r in rounds)
    for row in rows:
        row["img_per_s"] = statistics.median(r[row["config"]] for r in rounds)
        row["speedup_vs_fp32"] = row["img_per_s"] / fp32_speed
        row["keep"] = row["cider_drop"] <= 0.5 and row["speedup_vs_fp32"] > 1
    return {"decoding": resolve_decoding(ckpt.decoding).name, "split": args.split, "val_images": len(val),
            "fp32_val_cider": base_cider, "fp32_img_per_s": fp32_speed, "threads": torch.get_num_threads(),
            "configs": rows, "rounds": rounds}


def best_u8s8(result: dict) -> dict:
    """The shipped choice: highest val CIDEr among uint8-activation configs, fewer images on a tie."""
    rows = [r for r in result["configs"] if r["settings"]["activations"] == "uint8" and r["config"] != "shipped"]
    return max(rows, key=lambda r: (round(r["val_cider"], 2), -r["calibration_images"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="*", default=list(DEFAULT_CONFIGS),
                    help="method[-percentile][+ends]:train images:uint8|int8 (activations)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved speed rounds")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--ship", action="store_true", help="write the best U8S8 calibration into the package")
    ap.add_argument("--split", default="val", choices=("val", "test"), help="split to score on (the "
                    "'val_' fields then hold this split's figures)")
    ap.add_argument("--shipped", action="store_true", help="also score the calibration shipped in the package")
    ap.add_argument("--bf16", action="store_true", help="also score torch bf16 autocast (CPUs with AVX512-BF16/AMX)")
    args = ap.parse_args()
    tune()
    result = {"cpu": cpu_description(), **run(args)}
    print(f"CPU: {result['cpu']['model']}, flags {' '.join(result['cpu']['flags'])}")
    print(f"fp32 ONNX: val CIDEr {result['fp32_val_cider']:.2f}, {result['fp32_img_per_s']:.1f} img/s")
    print("| config | val CIDEr | drop | captions changed | min cosine | img/s | vs fp32 |")
    for r in result["configs"]:
        print(f"| {r['config']} | {r['val_cider']:.2f} | {r['cider_drop']:+.2f} | {r['changed_captions']:.1%} | "
              f"{r['feature_cosine_min']:.3f} | {r['img_per_s']:.1f} | {r['speedup_vs_fp32']:.2f}x |")
    if not any(r["settings"]["activations"] == "uint8" and r["config"] != "shipped" for r in result["configs"]):
        return _save(args, result)
    choice = best_u8s8(result)
    result["choice"] = choice["config"]
    print(f"best U8S8 on val: {choice['config']} (drop {choice['cider_drop']:+.2f})")
    if args.ship:
        target = calibration_file(load_decoders(None)[1].encoder.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Path(choice["calibration_file"]).read_text())
        print(f"wrote {target}")
    _save(args, result)


def _save(args, result: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
