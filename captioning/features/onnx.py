"""The encoder on ONNX Runtime: the same features as the torch encoder (within 1e-4), faster on CPU.

The backbone is exported once and cached as an .onnx file keyed by the weights' SHA-256, the opset
and the exporter (torch) version, so a stale export is never reused; a JSON sidecar keeps its
EncoderSpec and the file's own SHA-256, so a cached encoder loads without building the torch model,
and a truncated or corrupt file is rebuilt rather than trusted. int8.py quantizes these exports."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..core.io import atomic_write, write_json
from .backbones import lite_weights_file
from .config import LITE_ENCODERS, EncoderSpec
from .encoder import Encoder, FeatureEncoder, build_encoder
from .preprocessing import Pixels

OPSET = 17


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _state_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_key(name: str, weights_digest: str) -> str:
    """What an export depends on: the encoder, its weights, the opset and the exporter version."""
    text = json.dumps([name, weights_digest, OPSET, "torch.onnx/torchscript", torch.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def onnx_cache_dir() -> Path:
    return Path(os.environ.get("CAPTIONING_CACHE", Path.home() / ".cache" / "captioning")) / "onnx"


def weights_digest(name: str, weights: str | Path | None = None) -> tuple[str, Encoder | None]:
    """SHA-256 of the encoder's weights file, or of the built model's state when its weights come
    from a hub (then the built torch encoder is returned too, so it is not built twice)."""
    if name in LITE_ENCODERS or weights:
        return file_digest(weights or lite_weights_file(name)), None
    encoder = build_encoder(name, weights)
    return _state_digest(encoder.backbone), encoder


def export_backbone(encoder: Encoder, path: str | Path) -> Path:
    """Write the encoder's backbone (normalized floats [N, 3, H, W] -> features [N, F]) as ONNX, atomically."""
    crop = encoder.spec.preprocessing.crop
    example = torch.zeros(2, 3, crop, crop)
    backbone = encoder.backbone.cpu().eval()

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():  # the exporter's notes on constant folding and such
            warnings.simplefilter("ignore")
            torch.onnx.export(backbone, (example,), str(tmp), input_names=["pixels"], output_names=["features"],
                              dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)

    return atomic_write(path, write)


def verified_model(path: Path) -> dict | None:
    """The sidecar of a cached model (path.json) if the model file is exactly the one it records
    (same SHA-256), else None: a missing, truncated, corrupt or foreign file is never trusted."""
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or "spec" not in meta or meta.get("sha256") != file_digest(path):
        return None
    return meta


def write_model(path: Path, write, spec: EncoderSpec, **extra) -> None:
    """Write a model atomically with `write(tmp)`, then its sidecar (spec, SHA-256, extra)."""
    atomic_write(path, write)
    write_json(path.with_suffix(".json"), {"spec": spec.to_dict(), "sha256": file_digest(path), **extra})


class OnnxEncoder(FeatureEncoder):
    """The encoder interface (see FeatureEncoder) on ONNX Runtime's CPU provider, for an fp32 or a
    quantized (int8) model of the backbone."""

    def __init__(self, path: str | Path, spec: EncoderSpec, threads: int | None = None,
                 runtime: str = "onnx", precision: str = "fp32") -> None:
        import onnxruntime as ort  # optional dependency, see onnx_available()

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path, self.spec, self.pixels = Path(path), spec, Pixels(spec.preprocessing)
        self.runtime, self.precision = runtime, precision

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"pixels": np.ascontiguousarray(x.numpy())})[0]
        return torch.from_numpy(out).reshape(len(x), -1)


def fp32_model(name: str, weights: str | Path | None = None, cache_dir: str | Path | None = None
               ) -> tuple[Path, EncoderSpec, str]:
    """(path, spec, weights digest) of the encoder's fp32 ONNX export: a verified cached one, or
    exported now (and cached). A cached export loads without building the torch model."""
    digest, torch_encoder = weights_digest(name, weights)
    path = Path(cache_dir or onnx_cache_dir()) / f"{name.replace(':', '_')}-{export_key(name, digest)}.onnx"
    meta = verified_model(path)
    if meta is None:
        torch_encoder = torch_encoder or build_encoder(name, weights)
        write_model(path, lambda tmp: export_backbone(torch_encoder, tmp), torch_encoder.spec)
        meta = verified_model(path) or {"spec": torch_encoder.spec.to_dict()}
    return path, EncoderSpec.from_dict(meta["spec"]), digest


def onnx_encoder(name: str, weights: str | Path | None = None, flip: bool = False,
                 cache_dir: str | Path | None = None) -> OnnxEncoder:
    """The named encoder on ONNX Runtime (fp32): a cached export when one matches, else export now."""
    path, spec, _ = fp32_model(name, weights, cache_dir)
    return OnnxEncoder(path, spec.replace(flip=flip))
