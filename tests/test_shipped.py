"""The model that ships inside the package captions the sample photos sensibly."""

from pathlib import Path

import pytest

from captioning.captioner import Captioner
from captioning.checkpoint import PRETRAINED, Checkpoint

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_shipped_checkpoint_is_complete_and_loads():
    for name in ("config.json", "vocab.json", "model.safetensors"):
        assert (PRETRAINED / name).is_file()
    ckpt = Checkpoint.load()
    assert ckpt.encoder.name == "efficientnet_lite0" and ckpt.decoder.cfg.cell == "lstm"
    assert ckpt.extra["decoding"]["strategy"] in ("greedy", "beam")


@pytest.mark.integration
def test_shipped_model_captions_the_samples(core_one_thread):
    images = sorted(SAMPLES.glob("*.jpg"))
    assert 6 <= len(images) <= 10
    results = Captioner.from_pretrained(device="cpu")(images)
    captions = [r["caption"] for r in results]
    assert all(len(c.split()) >= 3 for c in captions)
    assert len(set(captions)) >= len(captions) // 2  # not all identical: they see different photos
