"""The model that ships inside the package captions the sample photos sensibly."""

from pathlib import Path

import pytest
import torch

from captioning.decoder.checkpoint import PRETRAINED, Checkpoint
from captioning.decoder.decode_config import DecodeConfig, resolve_decoding
from captioning.decoder.ensemble import ensemble_members, load_decoders
from captioning.images.loading import load_image
from captioning.tools.caption_files import caption_paths
from captioning.tools.captioner import Captioner

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_shipped_ensemble_is_complete_and_loads():
    members = ensemble_members(PRETRAINED)
    assert members and len(members) <= 5
    for folder in members:
        for name in ("config.json", "vocab.json", "model.safetensors"):
            assert (folder / name).is_file()
    size = sum(f.stat().st_size for f in PRETRAINED.rglob("*") if f.is_file())
    assert size <= 30 * 2**20, f"shipped model is {size / 2**20:.1f} MB (limit 30)"
    model, ckpt = load_decoders(None)
    assert ckpt.encoder.name == "efficientnet_lite2" and ckpt.decoder.cfg.cell == "lstm"
    assert ckpt.training["objective"] == "scst" and resolve_decoding(ckpt.decoding).strategy in ("greedy", "beam")
    assert len(model.members) == len(members)
    with pytest.raises(ValueError, match="an ensemble folder"):
        Checkpoint.load()


@pytest.mark.integration
def test_shipped_model_captions_the_samples(core_one_thread):
    images = sorted(SAMPLES.glob("*.jpg"))
    assert 6 <= len(images) <= 10
    results = Captioner.from_pretrained(device="cpu")(images)
    captions = [r["caption"] for r in results]
    assert all(len(c.split()) >= 3 for c in captions)
    assert len(set(captions)) >= len(captions) // 2  # not all identical: they see different photos


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_shipped_model_on_cuda_agrees_with_cpu(tmp_path):
    """The CUDA path (uint8 pixels normalized on the GPU, the per-word input table, rows leaving
    the batch) gives the CPU's features and, from the same features, the CPU's captions."""
    images = sorted(SAMPLES.glob("*.jpg"))
    cpu, gpu = Captioner.from_pretrained(device="cpu"), Captioner.from_pretrained(device="cuda")
    pixels = torch.stack([cpu.encoder.pixels(load_image(p)) for p in images])
    f_cpu, f_gpu = cpu.encoder(pixels), gpu.encoder(pixels)
    assert f_gpu.is_cuda and torch.allclose(f_gpu.cpu(), f_cpu, atol=5e-2, rtol=1e-2)
    for cfg in (DecodeConfig(), DecodeConfig("beam", beam_size=3, n_best=3)):
        a, b = cpu.caption_features(f_cpu, cfg), gpu.caption_features(f_cpu.cuda(), cfg)
        assert [[h.tokens for h in row] for row in a] == [[h.tokens for h in row] for row in b]
        assert [row[0].logprob for row in a] == pytest.approx([row[0].logprob for row in b], abs=1e-3)
    summary = caption_paths(gpu, [SAMPLES], output=tmp_path / "out.jsonl", batch_size=3, progress=False, echo=False)
    assert summary.captioned == len(images) and summary.skipped == 0
