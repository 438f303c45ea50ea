"""The Python API: `Captioner.from_pretrained()(image)` -> {"caption": ..., "score": ...}.

In the Hugging Face pipeline habit: one object holds the encoder, decoder and vocabulary, takes
PIL images, paths or tensors (one or a list) and returns plain dicts. `caption_paths` (the
`captioning caption` command) lives in caption_files.py and is re-exported here."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .caption_files import CaptionSummary, caption_paths
from .checkpoint import PRETRAINED, Checkpoint
from .decoder import CaptionDecoder
from .decoding import DecodeConfig, Hypothesis, decode
from .encoder import Encoder, build_encoder
from .images import load_image, to_rgb
from .runtime import resolve_device
from .text import Vocabulary

__all__ = ["CaptionSummary", "Captioner", "caption_paths"]

_DECODE_FIELDS = frozenset(f.name for f in fields(DecodeConfig))


def _to_pil(image: Any, min_side: int | None = None) -> Image.Image:
    """One input as an RGB PIL image: a PIL image, a path, a CHW tensor (uint8, or float in
    [0, 1]) or an HWC uint8 array. Normalized tensors are refused: we apply the normalization."""
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, str | os.PathLike):
        return load_image(image, min_side=min_side)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.array(image))  # a copy: PIL's arrays are read-only
        image = image.permute(2, 0, 1) if image.ndim == 3 else image
    if not isinstance(image, Tensor):
        raise TypeError(f"cannot caption a {type(image).__name__}: pass PIL images, paths or tensors")
    t = image.detach().cpu()
    t = t[None] if t.ndim == 2 else t
    if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
        raise ValueError(f"image tensor must be CHW with 1, 3 or 4 channels, got shape {tuple(image.shape)}")
    if t.is_floating_point():
        if t.numel() and (t.isnan().any() or t.min() < 0 or t.max() > 1):
            raise ValueError("float image tensors must hold pixels in [0, 1] (not normalized); "
                             "the encoder's normalization is applied for you")
        t = (t.float() * 255).round().to(torch.uint8)
    elif t.dtype != torch.uint8:
        raise ValueError(f"image tensors must be uint8 or float, not {t.dtype}")
    arr = t.permute(1, 2, 0).numpy()
    return to_rgb(Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr))


def _as_list(images: Any) -> tuple[list, bool]:
    """(items, single): a list/tuple or a 4-D tensor is a batch; anything else one image."""
    if isinstance(images, list | tuple):
        return list(images), False
    if isinstance(images, Tensor | np.ndarray) and images.ndim == 4:
        return list(images), False
    return [images], True


class Captioner:
    """Image(s) -> caption(s): a frozen CNN encoder, a caption decoder and its vocabulary."""

    def __init__(self, encoder: Encoder, decoder: CaptionDecoder, vocab: Vocabulary,
                 default_decoding: dict | None = None) -> None:
        if decoder.cfg.feature_dim != encoder.spec.feature_dim:
            raise ValueError(f"decoder expects {decoder.cfg.feature_dim}-d features but encoder "
                             f"{encoder.spec.name} gives {encoder.spec.feature_dim}")
        self.encoder, self.decoder, self.vocab = encoder, decoder.eval(), vocab
        self.default_decoding: dict = dict(default_decoding or {})
        self.device = next(decoder.parameters()).device

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | None = "auto") -> Captioner:
        """Load a checkpoint folder (None: the shipped model) and build the encoder it names."""
        dev = resolve_device(device)
        ckpt = Checkpoint.load(path, dev)
        folder = Path(path) if path is not None else PRETRAINED
        encoder = build_encoder(ckpt.encoder.name, device=dev)
        want, got = ckpt.encoder, encoder.spec
        if (want.feature_dim, want.preprocessing) != (got.feature_dim, got.preprocessing):
            raise ValueError(f"{folder / 'config.json'}: checkpoint expects encoder {want.name} with "
                             f"{want.feature_dim}-d features and {want.preprocessing}, but it builds "
                             f"{got.feature_dim}-d features and {got.preprocessing}")
        return cls(encoder, ckpt.decoder, ckpt.vocab, ckpt.extra.get("decoding"))

    def __repr__(self) -> str:
        cfg = self.decoder.cfg
        return (f"Captioner(encoder={self.encoder.spec.name}, decoder={cfg.cell} "
                f"{cfg.num_layers}x{cfg.hidden_dim}, vocab={len(self.vocab)}, device={self.device})")

    def decode_config(self, beam_size: int | None = None, n_best: int = 1, **decode_kwargs: Any) -> DecodeConfig:
        """The checkpoint's default decoding overridden by call arguments (see __call__)."""
        base = dict(self.default_decoding)
        sample = decode_kwargs.pop("sample", None)
        unknown = set(decode_kwargs) - _DECODE_FIELDS
        if unknown:
            raise TypeError(f"unknown decoding option(s): {', '.join(sorted(unknown))}")
        if sample and beam_size is not None and beam_size > 1:
            raise ValueError("choose beam search (beam_size > 1) or sample=True, not both")
        if sample:
            base["strategy"] = "sample"
        elif beam_size is not None:
            if beam_size < 1:
                raise ValueError("beam_size must be >= 1")
            if beam_size == 1 and n_best > 1:
                raise ValueError("greedy decoding (beam_size=1) gives one caption; use beam_size "
                                 ">= n_best or sample=True for alternatives")
            base.update(strategy="beam" if beam_size > 1 else "greedy", beam_size=beam_size)
        elif sample is False and base.get("strategy") == "sample":
            base["strategy"] = "greedy"
        base.update(decode_kwargs, n_best=n_best)
        if base.get("strategy") == "beam":
            base["beam_size"] = max(base.get("beam_size", 3), n_best)
        return DecodeConfig(**base)

    def __call__(self, images: Any, beam_size: int | None = None, n_best: int = 1, *,
                 batch_size: int = 32, **decode_kwargs: Any) -> list[dict] | dict:
        """Caption one image or a list (PIL, path, CHW uint8 or [0, 1] float tensor, a 4-D batch).

        Returns {"caption", "score", "logprob"} per image (a list for list/batch inputs), plus
        "alternatives" [{"caption", "logprob", "score"}, ...] best first when n_best > 1.
        beam_size None uses the checkpoint's default decoding, 1 greedy, K > 1 beam search;
        decode_kwargs set DecodeConfig fields (max_len, length_penalty, temperature, top_k,
        top_p, seed, ...; sample=True samples). "score" is the ranking score: the caption's
        log-probability, divided by the length penalty when one is set."""
        items, single = _as_list(images)
        cfg = self.decode_config(beam_size, n_best, **decode_kwargs)
        results = []
        for start in range(0, len(items), batch_size):
            features = self.encode(items[start:start + batch_size])
            results += [self._result(h, cfg.n_best) for h in self.caption_features(features, cfg)]
        return results[0] if single else results

    @staticmethod
    def _result(hyps: Sequence[Hypothesis], n_best: int) -> dict:
        best = hyps[0]
        out: dict = {"caption": best.text, "score": best.score, "logprob": best.logprob}
        if n_best > 1:
            out["alternatives"] = [{"caption": h.text, "logprob": h.logprob, "score": h.score}
                                   for h in hyps]
        return out

    def preprocess(self, images: Any) -> Tensor:
        """Inputs (one or a list) -> the encoder's normalized batch [B, 3, H, W] on the CPU."""
        items, _ = _as_list(images)
        if not items:
            crop = self.encoder.spec.preprocessing.crop
            return torch.empty(0, 3, crop, crop)
        side = self.encoder.spec.preprocessing.resize
        return torch.stack([self.encoder.transform(_to_pil(im, side)) for im in items])

    def encode(self, images: Any) -> Tensor:
        """Image features [B, F] (on the model's device) for one image or a list."""
        x = self.preprocess(images)
        if not len(x):
            return torch.empty(0, self.encoder.spec.feature_dim, device=self.device)
        return self.encoder(x)

    def caption_features(self, features: Tensor, cfg: DecodeConfig | None = None) -> list[list[Hypothesis]]:
        """Decode features [B, F] into n-best hypothesis lists (best first, with .text).

        Greedy search has one answer, so n_best > 1 with greedy runs a beam of max(beam_size,
        n_best); sampling with n_best > 1 draws n_best samples per image (duplicates dropped)."""
        cfg = cfg or self.decode_config()
        if not len(features):
            return []
        if cfg.n_best > 1 and cfg.strategy == "greedy":
            cfg = DecodeConfig(**{**cfg.to_dict(), "strategy": "beam",
                                  "beam_size": max(cfg.beam_size, cfg.n_best)})
        if cfg.n_best == 1 or cfg.strategy != "sample":
            return decode(self.decoder, features, cfg, self.vocab)
        draws = decode(self.decoder, features.repeat_interleave(cfg.n_best, 0), cfg, self.vocab)
        out = []
        for i in range(len(features)):
            unique: dict[tuple, Hypothesis] = {}
            for h in sorted((d[0] for d in draws[i * cfg.n_best:(i + 1) * cfg.n_best]),
                            key=lambda h: -h.score):
                unique.setdefault(tuple(h.tokens), h)
            out.append(list(unique.values()))
        return out
