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


class Encoder(nn.Module):
    """A frozen CNN backbone returning pooled features [B, feature_dim] (and logits if it has a head)."""

    chunk = 16  # images per CNN pass: bounds activation memory (~20 MB/image) at no speed cost
    runtime = "torch"

    def __init__(self, backbone: nn.Module, spec: EncoderSpec, classifier: nn.Module | None = None):
        super().__init__()
        self.backbone, self.spec, self.classifier = backbone, spec, classifier
        self.pixels = Pixels(spec.preprocessing)
        self.amp_dtype: torch.dtype | None = None  # set by use_amp() on CUDA
        self.eval().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features [B, F] (float32) of a batch [B, 3, H, W] of uint8 pixels (from `pixels`) or
        normalized floats, computed chunk by chunk on the model's device. With spec.flip, each
        image's features are averaged with those of its mirror image."""
        x = images.to(self.device)
        return torch.cat([self._pooled(part) for part in x.split(self.chunk)])

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(self.spec.preprocessing, x) if x.dtype == torch.uint8 else x.float()
        x = x.contiguous(memory_format=torch.channels_last)
        out = self._backbone(x)
        return (out + self._backbone(x.flip(-1))) / 2 if self.spec.flip else out

    def _backbone(self, x: torch.Tensor) -> torch.Tensor:
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
