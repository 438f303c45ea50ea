"""Is int8 worth it? ONNX Runtime static quantization of the encoder, calibrated on train images
only, against the fp32 ONNX encoder: encoder-only img/s and the shipped model's val CIDEr.

The verdict rule (issue 11): keep int8 only if val CIDEr drops by at most 0.5 and it is faster.

Usage: python benchmarks/int8.py [--calibration 256] [--repeat 3] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from captioning.core.runtime import tune
from captioning.data.coco import load_coco
from captioning.data.split import make_split
from captioning.decoder.decode_config import resolve_decoding
from captioning.decoder.ensemble import load_decoders
from captioning.features.extraction import extract_features
from captioning.features.loading import encoder_for
from captioning.features.onnx import OnnxEncoder
from captioning.features.preprocessing import normalize
from captioning.images.loading import load_image
from captioning.training.evaluation import evaluate_split

SHARED = Path(__file__).resolve().parents[1] / "../shared/data/coco-val2017"


class Calibration(CalibrationDataReader):
    """Normalized batches of train images for the quantizer's range statistics."""

    def __init__(self, encoder, paths, batch: int = 16) -> None:
        pixels = torch.stack([encoder.pixels(load_image(p)) for p in paths])
        x = normalize(encoder.spec.preprocessing, pixels).numpy()
        self.batches = iter([{"pixels": np.ascontiguousarray(x[i:i + batch])} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.batches, None)


def quantize(fp32: OnnxEncoder, calibration: list[Path], out: Path) -> Path:
    """Per-channel int8 weights, symmetric int8 activations (min/max ranges), QDQ format."""
    pre = out.with_name("pre.onnx")
    quant_pre_process(str(fp32.path), str(pre))
    quantize_static(str(pre), str(out), Calibration(fp32, calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": True})
    return out


def speed(encoder, pixels: torch.Tensor, batch: int) -> float:
    encoder(pixels[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(pixels), batch):
        encoder(pixels[i:i + batch])
    return len(pixels) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", type=int, default=256, help="train images to calibrate on")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    tune()
    records = make_split(load_coco(SHARED / "captions_val2017.json", SHARED / "images"))
    train = [r.path for r in records if r.split == "train"][: args.calibration]
    val = [r for r in records if r.split == "val"]
    model, ckpt = load_decoders(None)  # the shipped model (an ensemble decodes as one)
    fp32 = encoder_for(ckpt.encoder, runtime="onnx")
    with tempfile.TemporaryDirectory() as tmp:
        int8 = OnnxEncoder(quantize(fp32, train, Path(tmp) / "int8.onnx"), fp32.spec)
        cfg = resolve_decoding(ckpt.decoding)
        result = {"decoding": cfg.name, "calibration_images": len(train)}
        for name, enc in (("fp32", fp32), ("int8", int8)):
            feats, _ = extract_features(enc, [r.path for r in val], 64, None, progress=False)
            result[f"{name}_val_cider"] = evaluate_split(model, feats, val, ckpt.vocab, cfg, meteor=False)["scores"]["CIDEr"]
            result[f"{name}_features"] = feats
        a, b = result.pop("fp32_features"), result.pop("int8_features")
        result["feature_cosine_min"] = float(torch.nn.functional.cosine_similarity(a, b).min())
        pixels = torch.stack([fp32.pixels(load_image(r.path)) for r in val])
        rounds = [{name: speed(enc, pixels, args.batch_size) for name, enc in (("fp32", fp32), ("int8", int8))}
                  for _ in range(args.repeat)]
    for name in ("fp32", "int8"):
        result[f"{name}_img_per_s"] = statistics.median(r[name] for r in rounds)
    result["speedup"] = result["int8_img_per_s"] / result["fp32_img_per_s"]
    result["cider_drop"] = result["fp32_val_cider"] - result["int8_val_cider"]
    result["keep"] = result["cider_drop"] <= 0.5 and result["speedup"] > 1
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "rounds": rounds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
