"""The int8 encoder: quantized from a calibration file (here a tiny one, 4 images), close to fp32,
cached under a key that changes with the export, the calibration and the quantizer, and rebuilt
when the cached file is corrupt; calibrations for other weights or another graph are refused."""

import json
from pathlib import Path

import pytest
import torch

from captioning.core.config import ConfigError
from captioning.core.errors import InputError
from captioning.features import int8, int8_debug, loading, onnx
from captioning.features.config import EncoderSpec
from captioning.features.preprocessing import Pixels, normalize
from captioning.images.loading import load_image

pytestmark = pytest.mark.skipif(not onnx.onnx_available(), reason="onnxruntime is not installed")
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
NAME = "efficientnet_lite0"


@pytest.fixture(scope="module")
def cache(core_onnx_cache, tmp_path_factory):
    """An ONNX cache folder that starts with the session's fp32 export of EfficientNet-Lite0."""
    return core_onnx_cache(tmp_path_factory.mktemp("int8")) / "onnx"


@pytest.fixture(scope="module")
def pixels():
    fp32 = Pixels(EncoderSpec().preprocessing)
    return torch.stack([fp32(load_image(p)) for p in sorted(SAMPLES.glob("*.jpg"))])


@pytest.fixture(scope="module")
def calibration(cache, pixels):
    """Ranges from 4 sample images (MinMax, uint8 activations), written like the shipped file."""
    x = normalize(EncoderSpec().preprocessing, pixels[:4]).numpy()
    path = cache / "calibration.json"
    int8.write_calibration(path, NAME, None, [x[:2], x[2:]], int8.QuantSettings("minmax"), ["a", "b", "c", "d"],
                           cache_dir=cache)
    return path


@pytest.fixture(scope="module")
def encoder(cache, calibration):
    return int8.int8_encoder(NAME, cache_dir=cache, calibration=calibration)


def test_int8_features_are_close_to_fp32(encoder, cache, pixels, core_one_thread):
    fp32 = onnx.onnx_encoder(NAME, cache_dir=cache)
    a, b = fp32(pixels), encoder(pixels)
    assert b.shape == a.shape == (len(pixels), 1280) and b.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.95  # 0.89 while pad widths were quantized
    assert (encoder.runtime, encoder.precision) == ("int8", "int8")
    assert (fp32.runtime, fp32.precision) == ("onnx", "fp32")


def test_the_int8_model_keeps_the_fp32_geometry(encoder, cache, pixels):
    """The export's TF "same" padding computes pad widths from shapes, in float: quantized, a width
    of 0.99998 cast to 0 and every strided convolution lost a row and a column (min cosine to fp32
    0.89 here; rank_layers failed on the shapes that differed). That arithmetic stays fp32."""
    import onnx as onnx_lib

    prepared = int8.prepared_model(onnx.fp32_model(NAME, cache_dir=cache)[0])
    model = onnx_lib.load(str(prepared))
    names = set(int8.shape_arithmetic(model))
    shapes = {out for n in model.graph.node if n.name in names for out in n.output}
    quantized = {n.input[0] for n in onnx_lib.load(str(encoder.path)).graph.node if n.op_type == "QuantizeLinear"}
    assert len(shapes) > 10 and not shapes & quantized
    x = normalize(EncoderSpec().preprocessing, pixels[:2]).numpy()
    ranking = int8_debug.rank_layers(prepared, encoder.path, [x])  # every activation compared at its fp32 shape
    assert len(ranking) > 50 and all(r.model_sqnr_db > 0 for r in ranking)


def test_the_calibration_file_says_what_it_is_valid_for(calibration):
    cal = json.loads(calibration.read_text())
    assert cal["encoder"] == NAME and cal["settings"]["activations"] == "uint8" and len(cal["images"]) == 4
    assert len(cal["ranges"]) > 50 and all(lo <= hi for lo, hi in cal["ranges"].values())


def test_a_cached_model_is_reused_and_a_corrupt_one_rebuilt(encoder, cache, calibration, monkeypatch):
    real = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: pytest.fail("quantized again"))
    assert int8.int8_encoder(NAME, cache_dir=cache, calibration=calibration).path == encoder.path
    data = encoder.path.read_bytes()
    encoder.path.write_bytes(data[: len(data) // 2])  # a torn file from a crash
    monkeypatch.setattr(int8, "quantize", real)
    again = int8.int8_encoder(NAME, cache_dir=cache, calibration=calibration)
    assert again.path == encoder.path and int8.verified_model(again.path) is not None
    assert again(torch.zeros(1, 3, 224, 224, dtype=torch.uint8)).shape == (1, 1280)


def test_the_key_changes_with_calibration_and_quantizer(encoder, cache, calibration, tmp_path, monkeypatch):
    fp32 = onnx.fp32_model(NAME, cache_dir=cache)[0]
    base = int8.int8_key(fp32, calibration)
    other = tmp_path / "other.json"
    cal = json.loads(calibration.read_text())
    other.write_text(json.dumps({**cal, "settings": {**cal["settings"], "activations": "int8"}}))
    assert int8.int8_key(fp32, other) != base
    monkeypatch.setattr(int8, "ort_version", lambda: "0.0.1")
    assert int8.int8_key(fp32, calibration) != base


def test_a_calibration_for_other_weights_or_another_graph_is_refused(cache, calibration, tmp_path):
    cal = json.loads(calibration.read_text())
    for change, message in (({"weights_sha256": "0" * 64}, "other weights"),
                            ({"graph": "0" * 64}, "another export"),
                            ({"ranges": "none"}, "not an int8 calibration")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**cal, **change}))
        with pytest.raises(InputError, match=message):
            int8.int8_encoder(NAME, cache_dir=cache, calibration=bad)
    with pytest.raises(InputError, match="no int8 calibration"):
        int8.int8_encoder(NAME, cache_dir=cache, calibration=tmp_path / "missing.json")


def test_runtime_choice(monkeypatch, tmp_path):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    shipped = tmp_path / "shipped.json"
    monkeypatch.setattr(loading, "calibration_file", lambda name: shipped)
    assert loading.resolve_runtime("auto", cpu, NAME, lossy=True) == "onnx"  # nothing shipped
    shipped.write_text("{}")
    assert loading.resolve_runtime("auto", cpu, NAME, lossy=True) == ("int8" if loading.AUTO_INT8 else "onnx")
    assert loading.resolve_runtime("auto", cpu, NAME) == "onnx"  # training features stay fp32
    assert loading.resolve_runtime("auto", cuda, NAME, lossy=True) == "torch"
    with pytest.raises(ConfigError, match="int8 runs on the CPU"):
        loading.resolve_runtime("int8", cuda)
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: False)
    with pytest.raises(ConfigError, match="AVX512-BF16 or AMX") as err:
        loading.resolve_runtime("bf16", cpu)
    assert err.value.field == "runtime"
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    assert loading.resolve_runtime("bf16", cpu) == "bf16"


def test_auto_falls_back_to_fp32_when_the_calibration_does_not_fit(cache, tmp_path, monkeypatch):
    bad = tmp_path / "foreign.json"
    bad.write_text(json.dumps({"encoder": NAME, "weights_sha256": "0", "settings": {}, "ranges": {}}))
    monkeypatch.setattr(loading, "calibration_file", lambda name: bad)
    monkeypatch.setattr(int8, "calibration_file", lambda name: bad)
    monkeypatch.setattr(onnx, "onnx_cache_dir", lambda: cache)
    if loading.AUTO_INT8:
        assert loading.load_encoder(NAME, runtime="auto", lossy=True).runtime == "onnx"
    with pytest.raises(InputError):
        loading.load_encoder(NAME, runtime="int8")


def test_weights_keep_to_7_bits_without_vnni(monkeypatch, tmp_path):
    """Without VNNI, ONNX Runtime's U8S8 kernels saturate 16-bit sums: the int8 model is quantized
    with reduce_range, and cached under another key than a VNNI machine's."""
    from captioning.core import runtime

    keys, cal = {}, tmp_path / "cal.json"
    cal.write_text("{}")
    for vnni in ("1", "0"):
        monkeypatch.setenv("CAPTIONING_VNNI", vnni)
        runtime.cpu_has_vnni.cache_clear()
        keys[vnni] = (int8.reduce_range(), int8.int8_key(Path("enc.onnx"), cal))
    runtime.cpu_has_vnni.cache_clear()
    assert keys["1"][0] is False and keys["0"][0] is True and keys["1"][1] != keys["0"][1]
