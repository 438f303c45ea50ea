"""Calibration options for the int8 sweep (issue 30) on a tiny synthetic ONNX model: asymmetric
percentile ranges, the layer ranking (ORT's QDQ debugging tools), nodes kept in fp32, and cache
keys (new settings never share a cached model; the default settings' files did not change)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from captioning.core.config import ConfigError
from captioning.core.errors import InputError
from captioning.core.io import write_json
from captioning.features import int8, int8_debug, onnx
from tests.shared import benchmark_script

pytestmark = pytest.mark.skipif(not onnx.onnx_available(), reason="onnxruntime is not installed")


class Tiny(torch.nn.Module):
    """Four convolutions: ReLU6 (folded into the Q/DQ), ReLU, a residual Add, a plain conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.c, self.d = torch.nn.Conv2d(8, 16, 1), torch.nn.Conv2d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.relu6(self.a(x))
        return self.d(self.c(torch.relu(self.b(y)) + y)).mean((2, 3))


def skewed(n: int, seed: int) -> list[np.ndarray]:
    """Batches whose values have a short negative tail and a long positive one (x < 0: x; else 10x)."""
    x = np.random.default_rng(seed).standard_normal((n, 4, 3, 32, 32)).astype(np.float32)
    return list(np.where(x < 0, x, 10 * x))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    torch.onnx.export(Tiny().eval(), (torch.randn(1, 3, 32, 32),), str(path), input_names=["pixels"],
                      output_names=["features"], dynamic_axes={"pixels": {0: "batch"}}, dynamo=False)
    return int8.prepared_model(path)


@pytest.fixture(scope="module")
def ranges(prepared):
    return int8.calibrate(prepared, skewed(4, 0), int8.QuantSettings("minmax"))


@pytest.fixture(scope="module")
def qdq(prepared, ranges, tmp_path_factory):
    return int8.quantize(prepared, ranges, int8.QuantSettings("minmax"), tmp_path_factory.mktemp("q") / "q.onnx")


def quantized_tensors(path: Path) -> set[str]:
    """Activations that a QuantizeLinear reads (weights are stored quantized, no Q node)."""
    import onnx as onnx_lib

    return {n.input[0] for n in onnx_lib.load(str(path)).graph.node if n.op_type == "QuantizeLinear"}


def test_default_settings_keep_their_files_and_keys(tmp_path, monkeypatch):
    """Settings written before symmetric/fp32_nodes existed serialize as before, so calibration
    files (hence int8 cache keys, which hash them) stay byte for byte the same."""
    old = {"method": "percentile", "percentile": 99.99, "activations": "uint8", "fp32_ends": False}
    assert int8.QuantSettings().to_dict() == old and int8.QuantSettings.from_dict(old) == int8.QuantSettings()
    assert int8.calibration_file("efficientnet_lite2").name == "efficientnet_lite2.json"
    monkeypatch.setattr(int8, "ort_version", lambda: "1.32.0")
    monkeypatch.setattr(int8, "reduce_range", lambda: False)
    cal = tmp_path / "cal.json"
    write_json(cal, {"encoder": "e", "settings": int8.QuantSettings().to_dict(), "ranges": {}})
    assert int8.int8_key(Path("enc.onnx"), cal) == "de039dc03e6a3c47"  # changes only with QUANTIZER


def test_new_settings_never_share_a_cached_model(tmp_path):
    keys = set()
    for settings in (int8.QuantSettings(), int8.QuantSettings(symmetric=False),
                     int8.QuantSettings(fp32_nodes=("/a/Conv",)), int8.QuantSettings(fp32_nodes=("/a/Conv", "/b/Conv"))):
        cal = tmp_path / "cal.json"
        write_json(cal, {"settings": settings.to_dict()})
        keys.add(int8.int8_key(Path("enc.onnx"), cal))
        assert int8.QuantSettings.from_dict(json.loads(cal.read_text())["settings"]) == settings
    assert len(keys) == 4
    same = int8.QuantSettings(fp32_nodes=["/b/Conv", "/a/Conv", "/a/Conv"])  # one key per set of nodes
    assert same.fp32_nodes == ("/a/Conv", "/b/Conv")
    with pytest.raises(ConfigError, match="only percentile"):
        int8.QuantSettings("minmax", symmetric=False)
    with pytest.raises(ConfigError, match="fp32_nodes"):
        int8.QuantSettings(fp32_nodes=("",))


def test_asymmetric_percentile_cuts_each_tail_on_its_own(prepared):
    """Symmetric ranks |x|: the long positive tail sets the cut and the negative side keeps its
    minimum; asymmetric cuts the negative tail too. Non-negative tensors still start at 0."""
    batches = skewed(4, 1)
    sym = int8.calibrate(prepared, batches, int8.QuantSettings("percentile", 99.99))
    asym = int8.calibrate(prepared, batches, int8.QuantSettings("percentile", 99.99, symmetric=False))
    low = float(np.min(batches))
    assert sym["pixels"][0] == pytest.approx(low) and sym["pixels"][1] < float(np.max(batches))
    assert low < asym["pixels"][0] < 0 and asym["pixels"][1] != pytest.approx(sym["pixels"][1])
    for name in ("/Clip_output_0", "/Relu_output_0"):  # ReLU6 and ReLU outputs
        assert 0 <= asym[name][0] < 1e-6 and asym[name][1] > 0 and sym[name][0] == 0


def test_the_ranking_orders_every_quantized_activation(prepared, qdq):
    ranking = int8_debug.rank_layers(prepared, qdq, skewed(2, 2))
    assert {row.tensor for row in ranking} == quantized_tensors(qdq)
    errors = [row.sqnr_db for row in ranking]
    assert errors == sorted(errors) and all(math.isfinite(e) for e in errors)
    assert all(row.nodes for row in ranking if row.tensor != "features")
    folded = next(row for row in ranking if row.tensor == "/Clip_output_0")  # the ReLU6 the Q/DQ clamps
    assert folded.sqnr_db > 20 and {"/a/Conv", "/Clip", "/b/Conv", "/Add"} == set(folded.nodes)
    assert int8_debug.top_nodes(ranking, 2) == tuple(sorted(set(ranking[0].nodes) | set(ranking[1].nodes)))


def test_excluded_nodes_stay_fp32(prepared, ranges, qdq, tmp_path):
    import onnx as onnx_lib

    ranking = int8_debug.rank_layers(prepared, qdq, skewed(1, 3))
    weights = {i.name for i in onnx_lib.load(str(prepared)).graph.initializer}
    for row in ranking[:3]:
        out = int8.quantize(prepared, ranges, int8.QuantSettings("minmax", fp32_nodes=row.nodes), tmp_path / "x.onnx")
        graph = onnx_lib.load(str(out)).graph
        assert row.tensor not in quantized_tensors(out)
        for node in (n for n in graph.node if n.name in row.nodes and n.op_type == "Conv"):
            assert node.input[1] in weights  # fp32 weights, not a DequantizeLinear output
            assert not any(n.op_type == "QuantizeLinear" and n.input[0] in node.output for n in graph.node)
    with pytest.raises(InputError, match="not in the graph"):
        int8.quantize(prepared, ranges, int8.QuantSettings("minmax", fp32_nodes=("/nope",)), tmp_path / "y.onnx")


def test_benchmark_configs():
    bench = benchmark_script("int8")
    settings, images, top = bench.parse_config("percentile-99.9+asym+fp32top4:128:uint8")
    assert (settings.percentile, settings.symmetric, images, top) == (99.9, False, 128, 4)
    assert bench.parse_config("minmax:64:int8") == (int8.QuantSettings("minmax", activations="int8"), 64, 0)
    assert bench.with_rankings(["minmax:64:uint8"], 5) == ["minmax:64:uint8"] + [
        f"minmax+fp32top{k}:64:uint8" for k in (1, 2, 4, 5)]
    with pytest.raises(SystemExit):
        bench.parse_config("minmax+fp32:64:uint8")
