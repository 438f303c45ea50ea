"""Every CNN runtime captions the samples with the shipped model: torch exactly as before issue 23
(samples_captions_torch.json was written by the code of that time), ONNX Runtime fp32 the same,
and the lossy ones (bf16 autocast, int8) close: features and most captions agree with torch."""

import json
import os
from pathlib import Path

import pytest
import torch

from captioning.core.runtime import cpu_has_bf16
from captioning.features.int8 import calibration_file
from captioning.features.onnx import onnx_available
from captioning.tools.caption_files import caption_paths
from captioning.tools.captioner import Captioner

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
GOLDEN = json.loads(Path(__file__).with_name("samples_captions_torch.json").read_text())["captions"]
# lowest feature cosine to torch fp32, and how many of the 8 captions must equal torch's
CLOSE = {"torch": (0.9999, 8), "onnx": (0.9999, 8), "bf16": (0.99, 6), "int8": (0.85, 4)}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Exports and int8 builds go to a fresh cache, as on a new install."""
    before = os.environ.get("CAPTIONING_CACHE")
    os.environ["CAPTIONING_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    os.environ.pop("CAPTIONING_CACHE") if before is None else os.environ.update(CAPTIONING_CACHE=before)


@pytest.fixture(scope="module")
def reference(cache):
    cap = Captioner.from_pretrained(device="cpu", runtime="torch")
    return cap.encoder(cap.preprocess(sorted(SAMPLES.glob("*.jpg"))))


def test_torch_gives_the_captions_it_gave_before(cache, tmp_path, core_one_thread):
    cap = Captioner.from_pretrained(device="cpu", runtime="torch")
    out = tmp_path / "out.jsonl"
    caption_paths(cap, [SAMPLES], output=out, progress=False, echo=False)
    records = {Path(r["image"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert {k: r["caption"] for k, r in records.items()} == {k: g["caption"] for k, g in GOLDEN.items()}
    for name, record in records.items():
        assert record["logprob"] == pytest.approx(GOLDEN[name]["logprob"], abs=1e-3)


@pytest.mark.parametrize("runtime", ["onnx", "bf16", "int8"])
def test_every_runtime_is_close_to_torch(runtime, reference, core_one_thread):
    if runtime in ("onnx", "int8") and not onnx_available():
        pytest.skip("onnxruntime is not installed")
    if runtime == "bf16" and not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16")
    if runtime == "int8" and not calibration_file("efficientnet_lite2").is_file():
        pytest.skip("no shipped int8 calibration")
    cap = Captioner.from_pretrained(device="cpu", runtime=runtime)
    assert cap.encoder.runtime == runtime
    images = sorted(SAMPLES.glob("*.jpg"))
    features = cap.encoder(cap.preprocess(images))
    cosine, same = CLOSE[runtime]
    assert torch.nn.functional.cosine_similarity(features, reference).min() >= cosine
    captions = [r["caption"] for r in cap(images)]
    assert sum(c == GOLDEN[p.name]["caption"] for c, p in zip(captions, images)) >= same
