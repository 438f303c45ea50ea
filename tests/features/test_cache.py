"""Feature extraction with the real encoder on tiny images, and the cache's staleness rules."""

import logging
import os
from dataclasses import replace

import pytest
import torch
from PIL import Image

from captioning.data.records import ImageRecord
from captioning.features import cache as feats
from captioning.features.cache import cache_path_for, cached_features, record_features, stale_reason
from captioning.features.config import Preprocessing
from captioning.features.encoder import Encoder
from captioning.features.extraction import extract_features

pytestmark = pytest.mark.usefixtures("core_one_thread")

COLORS = [(255, 0, 0), (0, 128, 0), (20, 40, 200), (250, 250, 250)]


@pytest.fixture
def images(tmp_path):
    """Four small, different images (JPEG and PNG)."""
    paths = []
    for i, color in enumerate(COLORS):
        im = Image.new("RGB", (48 + 8 * i, 40), color)
        im.paste((0, 0, 0), (0, 0, 10 + 5 * i, 10))
        path = tmp_path / "pics" / f"img{i}.{'png' if i % 2 else 'jpg'}"
        path.parent.mkdir(exist_ok=True)
        im.save(path)
        paths.append(path)
    return paths


def extract(encoder, paths, cache, **kw):
    return cached_features(encoder, paths, cache, batch_size=2, num_workers=0, progress=False, **kw)


@pytest.fixture
def spy(monkeypatch):
    """Counts calls of features.extract_features (still doing the real work)."""
    calls = []
    real = feats.extract_features

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(feats, "extract_features", counting)
    return calls


def test_extract_features_matches_the_encoder(core_encoder, images):
    out, errors = extract_features(core_encoder, images, batch_size=2, num_workers=0, progress=False)
    assert out.shape == (4, 1280) and errors == {}
    direct = core_encoder(torch.stack([core_encoder.pixels(Image.open(p).convert("RGB")) for p in images]))
    assert torch.allclose(out, direct, atol=1e-4)
    assert len({tuple(row[:8].tolist()) for row in out}) == 4  # different images, different features


def test_cache_is_written_then_reused(core_encoder, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "f.safetensors"
    first, errors = extract(core_encoder, images, cache)
    assert cache.is_file() and errors == {}
    assert stale_reason(cache, core_encoder.spec, images) is None

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(feats, "extract_features", must_not_run)
    second, errors = extract(core_encoder, images, cache)
    assert torch.equal(first, second) and errors == {}


def test_modified_image_rebuilds(core_encoder, images, tmp_path, spy, caplog):
    caplog.set_level(logging.INFO, logger="captioning")
    cache = tmp_path / "f.safetensors"
    before, _ = extract(core_encoder, images, cache)
    Image.new("RGB", (48, 40), (255, 255, 0)).save(images[0])  # new content (size and mtime change)
    assert stale_reason(cache, core_encoder.spec, images) == "image files changed since the cache was written"
    after, _ = extract(core_encoder, images, cache)
    assert len(spy) == 2
    assert not torch.equal(before[0], after[0]) and torch.allclose(before[1:], after[1:], atol=1e-5)
    assert "image files changed" in caplog.text
    assert stale_reason(cache, core_encoder.spec, images) is None


def test_touched_image_rebuilds(core_encoder, images, tmp_path, spy):
    cache = tmp_path / "f.safetensors"
    extract(core_encoder, images, cache)
    st = images[2].stat()
    os.utime(images[2], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touch: same bytes
    assert stale_reason(cache, core_encoder.spec, images) is not None
    extract(core_encoder, images, cache)
    assert len(spy) == 2


def test_different_image_list_rebuilds(core_encoder, images, tmp_path, spy):
    cache = tmp_path / "f.safetensors"
    extract(core_encoder, images, cache)
    assert stale_reason(cache, core_encoder.spec, images[:3]) == "different image list"
    assert stale_reason(cache, core_encoder.spec, images[::-1]) == "different image list"
    out, _ = extract(core_encoder, images[:3], cache)
    assert out.shape == (3, 1280) and len(spy) == 2
    assert stale_reason(cache, core_encoder.spec, images[:3]) is None


def test_different_encoder_spec_rebuilds(core_encoder, images, tmp_path, spy):
    cache = tmp_path / "f.safetensors"
    extract(core_encoder, images, cache)
    spec = replace(core_encoder.spec, preprocessing=Preprocessing(resize=240))
    assert stale_reason(cache, spec, images) == "different encoder or preprocessing"
    assert stale_reason(cache, replace(core_encoder.spec, name="timm:other"), images) is not None
    other = Encoder(core_encoder.backbone, spec, core_encoder.classifier)
    extract(other, images, cache)
    assert len(spy) == 2
    assert stale_reason(cache, spec, images) is None
    assert stale_reason(cache, core_encoder.spec, images) == "different encoder or preprocessing"


@pytest.mark.parametrize("content", [b"", b"garbage, not safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_corrupt_cache_rebuilds(core_encoder, images, tmp_path, spy, content):
    cache = tmp_path / "f.safetensors"
    good, _ = extract(core_encoder, images, cache)
    cache.write_bytes(content)
    assert stale_reason(cache, core_encoder.spec, images) is not None
    again, _ = extract(core_encoder, images, cache)
    assert len(spy) == 2 and torch.allclose(good, again, atol=1e-5)
    assert stale_reason(cache, core_encoder.spec, images) is None


def test_unreadable_image_gives_zero_row_and_error(core_encoder, images, tmp_path, monkeypatch):
    bad = images[0].parent / "broken.jpg"
    bad.write_bytes(b"")
    paths = [images[0], bad, images[1]]
    cache = tmp_path / "f.safetensors"
    out, errors = extract(core_encoder, paths, cache)
    assert list(errors) == [1] and "broken.jpg" in errors[1]
    assert (out[1] == 0).all() and out[0].abs().sum() > 0 and out[2].abs().sum() > 0
    # errors are stored in the cache and come back with it
    monkeypatch.setattr(feats, "extract_features", None)
    again, errors_again = extract(core_encoder, paths, cache)
    assert errors_again == errors and torch.equal(again, out)
    # record_features drops the unreadable image and reports it
    recs = [ImageRecord(p, "train", ["c"], i) for i, p in enumerate(paths)]
    kept_feats, kept, messages = record_features(recs, core_encoder, cache, progress=False)
    assert [r.image_id for r in kept] == [0, 2]
    assert torch.equal(kept_feats, out[[0, 2]])
    assert messages == [errors[1]]


def test_default_cache_location_follows_captioning_cache(core_encoder, images, tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTIONING_CACHE", str(tmp_path / "c"))
    path = cache_path_for(core_encoder.spec, images)
    assert path.parent == tmp_path / "c" / "features"
    assert path.name.startswith("efficientnet_lite0-4-") and path.suffix == ".safetensors"
    assert cache_path_for(core_encoder.spec, images[:3]) != path
    _, errors = cached_features(core_encoder, images, batch_size=4, num_workers=0, progress=False)
    assert path.is_file() and errors == {}
