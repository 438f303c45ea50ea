"""The ONNX Runtime encoder: torch's features within 1e-4, exported once and cached under a key
that changes with the weights, the opset and the exporter, so a stale export is never reused."""

import pytest
import torch

from captioning.core.config import ConfigError
from captioning.features import onnx
from captioning.features.loading import encoder_for, load_encoder, resolve_runtime
from captioning.images.loading import load_image

pytestmark = pytest.mark.skipif(not onnx.onnx_available(), reason="onnxruntime is not installed")


@pytest.fixture(scope="module")
def cache(core_onnx_cache, tmp_path_factory):
    """An ONNX cache folder that starts with the session's export of EfficientNet-Lite0."""
    return core_onnx_cache(tmp_path_factory.mktemp("onnx")) / "onnx"


@pytest.fixture(scope="module")
def ort_encoder(cache):
    return onnx.onnx_encoder("efficientnet_lite0", cache_dir=cache)


@pytest.mark.integration
def test_features_match_torch_on_real_images(ort_encoder, core_encoder, core_shared_coco, core_one_thread):
    images = [load_image(p) for p in sorted(core_shared_coco.glob("images/*.jpg"))[:12]]
    pixels = torch.stack([core_encoder.pixels(im) for im in images])
    ours, reference = ort_encoder(pixels), core_encoder(pixels)
    assert ours.shape == reference.shape == (12, 1280) and ours.dtype == torch.float32
    assert (ours - reference).abs().max() < 1e-4
    flip = onnx.OnnxEncoder(ort_encoder.path, ort_encoder.spec.replace(flip=True))
    mirrored = (core_encoder(pixels) + core_encoder(pixels.flip(-1))) / 2
    assert (flip(pixels) - mirrored).abs().max() < 1e-4


def test_a_cached_export_loads_without_building_the_torch_model(ort_encoder, cache, monkeypatch):
    monkeypatch.setattr(onnx, "build_encoder", lambda *a, **k: pytest.fail("rebuilt the torch model"))
    again = onnx.onnx_encoder("efficientnet_lite0", cache_dir=cache)
    assert again.path == ort_encoder.path and again.spec == ort_encoder.spec
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".onnx"]  # no temp files left


def test_the_key_changes_with_weights_opset_and_exporter(monkeypatch):
    base = onnx.export_key("efficientnet_lite0", "abc")
    assert onnx.export_key("efficientnet_lite0", "abd") != base
    assert onnx.export_key("efficientnet_lite1", "abc") != base
    monkeypatch.setattr(onnx, "OPSET", onnx.OPSET + 1)
    assert onnx.export_key("efficientnet_lite0", "abc") != base
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert onnx.export_key("efficientnet_lite0", "abc") != base


def test_other_weights_get_their_own_export(ort_encoder, cache, tmp_path, core_encoder):
    weights = tmp_path / "tweaked.pt"
    state = torch.load(onnx.lite_weights_file("efficientnet_lite0"), weights_only=True)
    first = next(iter(state))
    state[first] = state[first] + 0.01
    torch.save(state, weights)
    other = onnx.onnx_encoder("efficientnet_lite0", weights, cache_dir=cache)
    assert other.path != ort_encoder.path


def test_a_failed_export_leaves_no_file(tmp_path, core_encoder, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        onnx.export_backbone(core_encoder, tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []


def test_runtime_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_runtime("auto", cpu) == "onnx" and resolve_runtime("auto", cuda) == "torch"
    assert resolve_runtime("torch", cpu) == "torch"
    with pytest.raises(ConfigError, match="onnx runs on the CPU") as err:
        resolve_runtime("onnx", cuda)
    assert err.value.field == "runtime"


def test_a_checkpoint_spec_gets_a_checked_onnx_encoder(ort_encoder, monkeypatch, cache):
    monkeypatch.setattr(onnx, "onnx_cache_dir", lambda: cache)
    encoder = encoder_for(ort_encoder.spec, runtime="onnx")
    assert encoder.runtime == "onnx" and encoder.path == ort_encoder.path
    assert load_encoder(runtime="torch").runtime == "torch"
