"""The encoder on ONNX Runtime: the same features as the torch encoder (within 1e-4), faster on CPU.

The backbone is exported once and cached as an .onnx file keyed by the weights' SHA-256, the opset
and the exporter (torch) version, so a stale export is never reused; a JSON sidecar keeps its
EncoderSpec, so a cached encoder loads without building the torch model at all."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..core.io import atomic_write, read_json, write_json
from .backbones import lite_weights_file
from .config import LITE_ENCODERS, EncoderSpec
from .encoder import Encoder, build_encoder
from .preprocessing import Pixels, normalize

OPSET = 17


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def _file_digest(path: str | Path) -> str:
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


class OnnxEncoder:
    """Encoder's interface (spec, pixels, __call__ -> features [B, F] float32) on ONNX Runtime's CPU provider."""

    runtime = "onnx"
    chunk = 16
    device = torch.device("cpu")

    def __init__(self, path: str | Path, spec: EncoderSpec, threads: int | None = None) -> None:
        import onnxruntime as ort  # optional dependency, see onnx_available()

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path, self.spec, self.pixels = Path(path), spec, Pixels(spec.preprocessing)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"pixels": np.ascontiguousarray(x.numpy())})[0])

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features [B, F] of uint8 pixels or normalized floats [B, 3, H, W] (flip-averaged if the spec says so)."""
        out = []
        for part in images.cpu().split(self.chunk):
            x = normalize(self.spec.preprocessing, part) if part.dtype == torch.uint8 else part.float()
            f = self._run(x)
            out.append((f + self._run(x.flip(-1))) / 2 if self.spec.flip else f)
        return torch.cat(out).reshape(len(images), -1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        raise ValueError("the ONNX Runtime encoder has no ImageNet head; use runtime 'torch' to classify")


def onnx_encoder(name: str, weights: str | Path | None = None, flip: bool = False,
                 cache_dir: str | Path | None = None) -> OnnxEncoder:
    """The named encoder on ONNX Runtime: a cached export when one matches, else export now."""
    digest = _file_digest(weights or lite_weights_file(name)) if name in LITE_ENCODERS or weights else None
    torch_encoder = None
    if digest is None:  # weights from a hub: build the model to know what they are
        torch_encoder = build_encoder(name, weights)
        digest = _state_digest(torch_encoder.backbone)
    path = Path(cache_dir or onnx_cache_dir()) / f"{name.replace(':', '_')}-{export_key(name, digest)}.onnx"
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        torch_encoder = torch_encoder or build_encoder(name, weights)
        export_backbone(torch_encoder, path)
        write_json(sidecar, torch_encoder.spec.to_dict())
    spec = EncoderSpec.from_dict(read_json(sidecar, "ONNX encoder spec"))
    return OnnxEncoder(path, spec.replace(flip=flip))
