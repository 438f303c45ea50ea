"""The frozen CNN encoder: image batch -> one pooled feature vector per image.

Like torchvision's weights objects, an `EncoderSpec` carries the preprocessing and metadata,
so training, feature caching and inference cannot disagree about how an image is prepared."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .backbones import build_backbone
from .config import DEFAULT_ENCODER, EncoderSpec
from .preprocessing import Pixels, normalize


class FeatureEncoder:
    """What every encoder runtime offers (torch, ONNX Runtime fp32 and int8): `spec`, `pixels`
    (PIL image -> uint8 crop, picklable for loader workers) and a call that turns a batch of uint8
    pixels or normalized floats [B, 3, H, W] into float32 features [B, F]. The chunking,
    normalization and flip averaging live here once; a runtime only supplies `_features`."""

    chunk = 16  # images per CNN pass: bounds activation memory (~20 MB/image) at no speed cost
    runtime = "torch"  # the runtime name that builds it
    precision = "fp32"  # fp32 features, or a lossy "bf16"/"int8" (feature caches keep them apart)
    spec: EncoderSpec
    pixels: Pixels

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Features [B, F] (float32) of uint8 pixels (from `pixels`) or normalized floats, chunk
        by chunk on the encoder's device; with spec.flip, averaged with the mirror image's."""
        x = images.to(self.device)
        if not len(x):
            return torch.zeros(0, self.spec.feature_dim, device=self.device)
        return torch.cat([self._pooled(part) for part in x.split(self.chunk)]).reshape(len(x), -1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(self.spec.preprocessing, x) if x.dtype == torch.uint8 else x.float()
        out = self._features(x)
        return (out + self._features(x.flip(-1))) / 2 if self.spec.flip else out

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized floats [b, 3, H, W] -> float32 features [b, F]."""
        raise NotImplementedError

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        raise ValueError(f"the {self.runtime} encoder has no ImageNet head; use runtime 'torch' to classify")


class Encoder(nn.Module, FeatureEncoder):
    """A frozen torch CNN backbone returning pooled features [B, feature_dim] (and logits if it
    has a head). With amp_dtype set, the CNN runs under autocast (bf16 on CPU, bf16/fp16 on CUDA)."""

    def __init__(self, backbone: nn.Module, spec: EncoderSpec, classifier: nn.Module | None = None):
        super().__init__()
        self.backbone, self.spec, self.classifier = backbone, spec, classifier
        self.pixels = Pixels(spec.preprocessing)
        self.amp_dtype: torch.dtype | None = None  # set by loading.load_encoder (amp, bf16)
        self.eval().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def precision(self) -> str:  # type: ignore[override]
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """See FeatureEncoder.encode."""
        return self.encode(images)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.amp_dtype is None:
            return self.backbone(x).float().flatten(1)
        with torch.autocast(x.device.type, dtype=self.amp_dtype):
            return self.backbone(x).float().flatten(1)

    @torch.inference_mode()
    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """ImageNet logits from pooled features (what the CNN 'sees')."""
        if self.classifier is None:
            raise ValueError(f"encoder {self.spec.name} has no ImageNet classifier head")
        return self.classifier(features.to(self.device))


def build_encoder(name: str = DEFAULT_ENCODER, weights: str | Path | None = None,
                  device: str | torch.device = "cpu", flip: bool = False) -> Encoder:
    """Build a pretrained encoder by name: 'efficientnet_lite0' (default, offline weights; also
    lite1, lite2), a timm model name ('timm:resnet50' or plain), or 'torchvision:resnet50'."""
    model, classifier, prep = build_backbone(name, weights)
    model.eval()  # the probe below must not update BatchNorm running stats
    with torch.no_grad():
        dim = model(torch.zeros(1, 3, prep.crop, prep.crop)).flatten(1).shape[1]
    spec = EncoderSpec(name, int(dim), prep, flip)
    return Encoder(model.to(memory_format=torch.channels_last), spec, classifier).to(device)
