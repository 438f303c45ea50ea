"""Views of a training image (issue 27, lever 1): each differs from the encoder's own centre crop
by exactly its crop box or flip, view 0 is today's pixels and features bit for bit, and a cache
of one view keeps its file name and key while a multi-view cache gets its own."""

import numpy as np
import pytest
import torch
from PIL import Image

from captioning.data.records import ImageRecord
from captioning.features import cache as feats
from captioning.features.cache import cache_path_for, cached_features, record_views, stale_reason
from captioning.features.config import MAX_VIEWS, VIEWS, EncoderSpec, Preprocessing
from captioning.features.encoder import FeatureEncoder
from captioning.features.extraction import extract_features
from captioning.features.preprocessing import Pixels, resize_shorter
from captioning.features.views import ViewPixels

pytestmark = pytest.mark.usefixtures("core_one_thread")
PREP = Preprocessing(resize=32, crop=24)


class TinyEncoder(FeatureEncoder):
    """A CNN stand-in: features are the normalized pixels on a coarse grid (27 numbers), so
    different crops give different features and the test needs no weights."""

    def __init__(self) -> None:
        self.spec, self.pixels = EncoderSpec("tiny", 27, PREP), Pixels(PREP)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::8, ::8].flatten(1).float()


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.fixture
def pictures(tmp_path):
    paths = []
    for i, size in enumerate([(40, 32), (32, 50), (64, 64)]):
        path = tmp_path / "pics" / f"p{i}.png"
        path.parent.mkdir(exist_ok=True)
        noise(*size, seed=i).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("size", [(40, 32), (32, 50), (33, 33), (97, 41), (20, 16)])
def test_view_0_is_the_encoders_own_pixels_bit_for_bit(size):
    image = noise(*size)
    assert torch.equal(ViewPixels(PREP, [0])(image)[0], Pixels(PREP)(image))


@pytest.mark.parametrize("size", [(40, 32), (32, 50), (97, 41)])
def test_views_differ_from_the_centre_crop_by_exactly_their_box_or_flip(size):
    image = noise(*size)
    views = ViewPixels(PREP, range(MAX_VIEWS))(image)
    assert views.shape == (MAX_VIEWS, 3, 24, 24) and views.dtype == torch.uint8
    resized = torch.from_numpy(np.array(resize_shorter(image, PREP))).permute(2, 0, 1)
    w, h, c = resized.shape[2], resized.shape[1], 24
    boxes = {"top-left": (0, 0), "top-right": (w - c, 0), "bottom-left": (0, h - c), "bottom-right": (w - c, h - c)}
    side = min(size)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    whole = image.resize((c, c), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
    for v, name in enumerate(VIEWS):
        place, mirror = name.removesuffix("-mirror"), name.endswith("-mirror")
        if place == "centre":
            want = views[0]
        elif place == "whole":
            want = torch.from_numpy(np.array(whole)).permute(2, 0, 1)
        else:
            x, y = boxes[place]
            want = resized[:, y:y + c, x:x + c]
        assert torch.equal(views[v], want.flip(-1) if mirror else want), name
    assert len({bytes(v.numpy()) for v in views}) == MAX_VIEWS  # eight different views of noise


def test_views_are_checked():
    with pytest.raises(ValueError, match="views"):
        ViewPixels(PREP, [MAX_VIEWS])
    with pytest.raises(ValueError, match="views"):
        ViewPixels(PREP, [])


def test_extracted_view_0_equals_single_view_features(pictures):
    encoder = TinyEncoder()
    one, _ = extract_features(encoder, pictures, batch_size=2, num_workers=0, progress=False)
    many, errors = extract_features(encoder, pictures, batch_size=2, num_workers=0, progress=False,
                                    views=range(4))
    assert many.shape == (3, 4, 27) and not errors
    assert torch.equal(many[:, 0], one)
    assert not torch.equal(many[:, 1], many[:, 0])


def test_one_view_keeps_the_old_cache_name_and_key(pictures, tmp_path):
    encoder = TinyEncoder()
    assert cache_path_for(encoder.spec, pictures, tmp_path) == cache_path_for(encoder.spec, pictures, tmp_path, views=1)
    assert "-views" not in cache_path_for(encoder.spec, pictures, tmp_path).name
    assert cache_path_for(encoder.spec, pictures, tmp_path, views=8).name.startswith("tiny-views8-3-")
    cached_features(encoder, pictures, tmp_path / "one.safetensors", num_workers=0, progress=False)
    assert "views" not in feats._metadata(tmp_path / "one.safetensors")  # the metadata of every cache so far
    assert stale_reason(tmp_path / "one.safetensors", encoder.spec, pictures) is None
    assert stale_reason(tmp_path / "one.safetensors", encoder.spec, pictures, views=4) == "features of other views"


def test_record_views_caches_the_other_views_beside_the_features(pictures, tmp_path, monkeypatch):
    encoder = TinyEncoder()
    records = [ImageRecord(p, "train", ["a cap"], i) for i, p in enumerate(pictures)]
    single = tmp_path / "c" / "features.safetensors"
    one, _ = cached_features(encoder, pictures, single, num_workers=0, progress=False)
    extra = record_views(records, encoder, 4, single, progress=False, num_workers=0)
    assert extra.shape == (3, 3, 27) and (tmp_path / "c" / "features-views4.safetensors").is_file()
    every, _ = extract_features(encoder, pictures, num_workers=0, progress=False, views=range(4))
    assert torch.equal(extra, every[:, 1:]) and torch.equal(every[:, 0], one)
    monkeypatch.setattr(feats, "extract_features", lambda *a, **k: pytest.fail("the views cache was not reused"))
    assert torch.equal(record_views(records, encoder, 4, single, progress=False, num_workers=0), extra)
    with pytest.raises(ValueError, match="views >= 2"):
        record_views(records, encoder, 1, single)


def test_real_images_give_one_feature_vector_per_view(core_encoder, core_coco_records):
    """Integration: 4 shared COCO images through the pretrained CNN, V = 3 views each."""
    paths = [r.path for r in core_coco_records[:4]]
    many, errors = extract_features(core_encoder, paths, batch_size=4, num_workers=0, progress=False,
                                    views=range(3))
    one, _ = extract_features(core_encoder, paths, batch_size=4, num_workers=0, progress=False)
    assert many.shape == (4, 3, core_encoder.spec.feature_dim) and not errors
    assert torch.allclose(many[:, 0], one, atol=1e-5)  # the same pixels through the CNN in another batch
    assert (many[:, 1] - many[:, 0]).abs().max() > 1e-2  # the mirror is another view
