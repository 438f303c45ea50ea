"""The encoder in int8 on ONNX Runtime: static QDQ quantization, uint8 activations and per-channel
int8 weights (U8S8, the fast path of VNNI CPUs), from activation ranges calibrated on train images.

Calibrating needs images and minutes, so the ranges are computed once (benchmarks/int8.py, on
train images only) and shipped in calibration/<encoder>.json; a first run only quantizes the
cached fp32 export with them (seconds). The int8 model is cached like the fp32 export, keyed by
the fp32 export, the calibration file and the ONNX Runtime version, with a sidecar holding its
SHA-256: a stale or corrupt file is rebuilt, never trusted. Ranges are used only on the graph
they were measured on (same tensor names, same weights), else the encoder is refused."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import Config, check
from ..core.errors import InputError
from ..core.io import atomic_write, write_json
from ..core.runtime import cpu_has_vnni
from .onnx import OnnxEncoder, file_digest, fp32_model, verified_model, write_model

CALIBRATION_DIR = Path(__file__).with_name("calibration")
METHODS = ("minmax", "entropy", "percentile")
QUANTIZER = ("fp32-shape-arithmetic",)  # changes to quantize() that rebuild every cached int8 model
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantSettings(Config):
    """How the encoder is quantized: calibration method (and percentile), activation type
    (uint8 = U8S8, int8 = S8S8), nodes kept in fp32; weights are always per-channel int8."""

    method: str = "percentile"
    percentile: float = 99.99
    activations: str = "uint8"
    fp32_ends: bool = False  # keep the first and the last convolution (stem, head) in fp32
    symmetric: bool = True  # percentile only: one cut of |x| (True) or each tail cut on its own
    fp32_nodes: tuple[str, ...] = ()  # nodes of the prepared graph kept in fp32 (int8_debug ranks them)

    def __post_init__(self) -> None:
        check(self.method in METHODS, "method", f"unknown '{self.method}' (choose from {', '.join(METHODS)})")
        check(self.activations in ("uint8", "int8"), "activations", "uint8 or int8")
        check(50 < self.percentile <= 100, "percentile", f"must be in (50, 100], got {self.percentile}")
        check(isinstance(self.symmetric, bool), "symmetric", f"must be true or false, got {self.symmetric!r}")
        check(self.symmetric or self.method == "percentile", "symmetric",
              "only percentile calibration is symmetric; minmax and entropy already fit each tail")
        nodes = self.fp32_nodes
        check(isinstance(nodes, tuple | list) and all(isinstance(n, str) and n for n in nodes), "fp32_nodes",
              "must be a list of node names")
        object.__setattr__(self, "fp32_nodes", tuple(sorted(set(nodes))))  # one key per set of nodes

    def to_dict(self) -> dict:
        """The fields, less symmetric and fp32_nodes at their defaults: settings written before
        they existed keep their calibration files byte for byte, hence their int8 cache keys."""
        data = super().to_dict()
        for name, default in (("symmetric", True), ("fp32_nodes", ())):
            if data[name] == default:
                del data[name]
        return data


def ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def graph_signature(path: str | Path) -> str:
    """SHA-256 of a model's node output names in order: ranges are keyed by these names."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = [out for node in model.graph.node for out in node.output]
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def prepared_model(fp32: Path) -> Path:
    """ONNX Runtime's pre-quantization pass (shape inference, graph clean-up) of an fp32 export,
    cached beside it; calibration and quantization both work on this graph."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path = fp32.with_name(f"{fp32.stem}.prep-ort{ort_version()}.onnx")
    if verified_model(path) is None:
        spec = verified_model(fp32) or {"spec": {}}
        atomic_write(path, lambda tmp: quant_pre_process(str(fp32), str(tmp)))
        write_json(path.with_suffix(".json"), {**spec, "sha256": file_digest(path)})
    return path


class _Batches:
    """CalibrationDataReader over normalized float batches [b, 3, H, W]."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self.batches = iter(batches)

    def get_next(self) -> dict | None:
        batch = next(self.batches, None)
        return None if batch is None else {"pixels": np.ascontiguousarray(batch, dtype=np.float32)}


def calibrate(prepared: Path, batches: Iterable[np.ndarray], settings: QuantSettings) -> dict[str, list[float]]:
    """Activation ranges {tensor: [low, high]} of the prepared graph over calibration batches."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.method]
    # symmetric percentile ranks |x|: its range is (-t, t) cut to the tensor's real (min, max), so a
    # non-negative tensor gets (0, t). Asymmetric (ORT >= 1.20 histograms real values over (-t, t))
    # cuts (100 - p) / 2 % off each tail, again within (min, max): a ReLU output still starts at 0
    # (its low tail is zeros), a skewed tensor gets a tighter short side (tests/features/test_int8_options.py)
    extra = ({"percentile": settings.percentile, "symmetric": settings.symmetric}
             if settings.method == "percentile" else {})
    with tempfile.TemporaryDirectory() as tmp:
        calibrator = create_calibrator(prepared, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=method, extra_options=extra)
        for batch in batches:  # one batch per call: ORT holds a call's activations in memory
            calibrator.collect_data(_Batches([batch]))
        data = calibrator.compute_data()
    return {name: [float(np.asarray(lo).item()), float(np.asarray(hi).item())]
            for name, (lo, hi) in ((k, v.range_value) for k, v in data.items())}


def quantize(prepared: Path, ranges: dict[str, list[float]], settings: QuantSettings, out: Path) -> Path:
    """Write the QDQ int8 model of a prepared graph with these ranges, atomically."""
    from onnxruntime.quantization import CalibrationMethod, QuantType
    from onnxruntime.quantization.calibrate import TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
    from onnxruntime.quantization.quant_utils import load_model_with_shape_infer

    activations = QuantType.QUInt8 if settings.activations == "uint8" else QuantType.QInt8
    extra = {"ActivationSymmetric": settings.activations == "int8"}
    data = TensorsData(CalibrationMethod.MinMax, {k: (np.float32(lo), np.float32(hi)) for k, (lo, hi) in ranges.items()})
    ops = quantized_op_types()

    def write(tmp: Path) -> None:
        model = load_model_with_shape_infer(prepared)
        keep = fp32_node_names(model, settings)
        quantizer = QDQQuantizer(model, True, reduce_range(), QuantType.QInt8, activations, data, [], keep, ops, extra)
        quantizer.quantize_model()
        quantizer.model.save_model_to_file(str(tmp))

    return atomic_write(out, write)


def quantized_op_types() -> list[str]:
    """The operator types the quantizer turns to int8 (every one ONNX Runtime's QDQ format knows)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def shape_arithmetic(model) -> list[str]:
    """Nodes that compute from tensor shapes only (Shape and what it feeds, with constants): the
    exports' TF "same" padding computes pad widths in float; quantized, a width of 0.99998 can
    cast to 0 and every strided convolution loses a row and a column (lite0 at 224 px, 4-image
    MinMax: min cosine to fp32 0.89 -> 0.98; lite2 at 260 px happened to come through intact)."""
    derived = {i.name for i in model.graph.initializer}
    derived |= {out for n in model.graph.node if n.op_type == "Constant" for out in n.output}
    constants, found = set(derived), []
    for node in model.graph.node:  # topological order
        inputs = [name for name in node.input if name]
        if node.op_type == "Shape" or (set(inputs) <= derived and not set(inputs) <= constants):
            derived.update(node.output)
            found.append(node.name)
    return found


def fp32_node_names(model, settings: QuantSettings) -> list[str]:
    """The nodes of a (prepared) model the quantizer leaves in fp32: the shape arithmetic, the
    first and last convolution for fp32_ends, and fp32_nodes, every one of which must exist."""
    names = [n.name for n in model.graph.node]
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    missing = sorted(set(settings.fp32_nodes) - set(names))
    if missing:
        raise InputError(f"fp32_nodes not in the graph: {', '.join(missing[:5])}; rank the layers of this export again")
    ends = [convs[0], convs[-1]] if settings.fp32_ends and convs else []
    return list(dict.fromkeys(shape_arithmetic(model) + ends + list(settings.fp32_nodes)))


def calibration_file(name: str) -> Path:
    return CALIBRATION_DIR / f"{name.replace(':', '_')}.json"


def read_calibration(path: Path, name: str, digest: str, prepared: Path) -> dict:
    """A calibration file's content, checked against the encoder, its weights and its graph."""
    if not path.is_file():
        raise InputError(f"no int8 calibration for encoder {name} ({path} missing); use the onnx runtime")
    try:
        cal = json.loads(path.read_text())
        QuantSettings.from_dict(cal["settings"])
        if not isinstance(cal["ranges"], dict) or any(len(v) != 2 for v in cal["ranges"].values()):
            raise TypeError("ranges")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not an int8 calibration file ({exc.__class__.__name__})") from None
    if cal.get("encoder") != name or cal.get("weights_sha256") != digest:
        raise InputError(f"{path}: calibrated for other weights than encoder {name}'s; use the onnx runtime")
    if cal.get("graph") != graph_signature(prepared):
        raise InputError(f"{path}: calibrated on another export of {name} (other torch or onnxruntime "
                         "version); recalibrate with benchmarks/int8.py or use the onnx runtime")
    return cal


def reduce_range() -> bool:
    """7-bit weights on CPUs without VNNI, whose U8S8 kernels saturate 16-bit sums of 8-bit products."""
    return not cpu_has_vnni()


def int8_key(fp32: Path, calibration: Path) -> str:
    """What an int8 model depends on: the fp32 export, the calibration file, the quantizer (ORT's
    version, ours: QUANTIZER) and whether its weights keep to 7 bits (reduce_range, without VNNI)."""
    text = json.dumps([fp32.name, hashlib.sha256(calibration.read_bytes()).hexdigest(), ort_version()]
                      + (["reduce_range"] if reduce_range() else []) + list(QUANTIZER))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def int8_encoder(name: str, weights: str | Path | None = None, flip: bool = False,
                 cache_dir: str | Path | None = None, calibration: str | Path | None = None) -> OnnxEncoder:
    """The named encoder in int8 on ONNX Runtime: a verified cached model, else quantized now from
    the shipped calibration (or `calibration`, a file benchmarks/int8.py writes)."""
    fp32, spec, digest = fp32_model(name, weights, cache_dir)
    calibration = Path(calibration) if calibration else calibration_file(name)
    if not calibration.is_file():
        raise InputError(f"no int8 calibration for encoder {name} ({calibration} missing); use the onnx runtime")
    path = fp32.with_name(f"{fp32.stem}-int8-{int8_key(fp32, calibration)}.onnx")
    if verified_model(path) is None:
        log.info("building the int8 encoder from %s (once; cached in %s)", calibration.name, path.parent)
        prepared = prepared_model(fp32)
        cal = read_calibration(calibration, name, digest, prepared)
        settings = QuantSettings.from_dict(cal["settings"])
        write_model(path, lambda tmp: quantize(prepared, cal["ranges"], settings, tmp), spec,
                    calibration=calibration.name, settings=settings.to_dict())
    return OnnxEncoder(path, spec.replace(flip=flip), runtime="int8", precision="int8")


def write_calibration(path: str | Path, name: str, weights: str | Path | None, batches: Iterable[np.ndarray],
                      settings: QuantSettings, images: list[str], cache_dir: str | Path | None = None) -> dict:
    """Calibrate the named encoder on batches of normalized train images and write the file
    int8_encoder reads: ranges plus what they are valid for (weights, graph, settings, images)."""
    fp32, _, digest = fp32_model(name, weights, cache_dir)
    prepared = prepared_model(fp32)
    cal = {"encoder": name, "weights_sha256": digest, "settings": settings.to_dict(), "images": images,
           "graph": graph_signature(prepared), "onnxruntime": ort_version(),
           "ranges": calibrate(prepared, batches, settings)}
    write_json(path, cal)
    return cal
