"""Show-and-Tell image captioning: a pretrained CNN vector initializes an LSTM-family decoder.

The public API is exported lazily, so `import captioning` (and the CLI's help) stays fast:

    from captioning import Captioner
    Captioner.from_pretrained()("data/samples/000000574520.jpg")

Sub-packages follow the data flow, each importing only the ones before it: core, text, images,
data, features, decoder, metrics, render, training, tools, lab, cli."""

from __future__ import annotations

import importlib
from typing import Any

from .core import __version__

_EXPORTS = {
    "Captioner": "tools.captioner",
    "caption_paths": "tools.caption_files",
    "CaptionJob": "tools.job",
    "Checkpoint": "decoder.checkpoint",
    "load_decoders": "decoder.ensemble",
    "Ensemble": "decoder.ensemble",
    "DecoderConfig": "decoder.config",
    "DecodeConfig": "decoder.decode_config",
    "resolve_decoding": "decoder.decode_config",
    "EncoderConfig": "features.config",
    "EncoderSpec": "features.config",
    "ComputeConfig": "features.config",
    "TrainConfig": "training.config",
    "ComparisonConfig": "lab.config",
    "SplitConfig": "data.split",
    "ConfigError": "core.config",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'captioning' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
