"""The Python API: `Captioner.from_pretrained()(image)` -> {"caption": ..., "score": ...}.

In the Hugging Face pipeline habit: one object holds the encoder, decoder(s) and vocabulary, takes
PIL images, paths, arrays or tensors (one or a list) and returns plain dicts. Several checkpoints
make an ensemble. Decoding options follow decoder.decode_config.resolve_decoding, as in the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.devices import resolve_device
from ..core.errors import InputError
from ..decoder.decode_config import DecodeConfig, resolve_decoding
from ..decoder.ensemble import Ensemble, load_decoders
from ..decoder.model import CaptionDecoder
from ..decoder.search import Hypothesis, decode
from ..features.loading import AnyEncoder, encoder_for
from ..images.loading import as_rgb
from ..text.vocabulary import Vocabulary


def _as_list(images: Any) -> tuple[list, bool]:
    """(items, single): a list/tuple or a 4-D tensor/array is a batch; anything else one image."""
    if isinstance(images, list | tuple):
        return list(images), False
    if isinstance(images, Tensor | np.ndarray) and images.ndim == 4:
        return list(images), False
    return [images], True


class Captioner:
    """Image(s) -> caption(s): a frozen CNN encoder, a caption decoder (or ensemble) and its vocabulary."""

    def __init__(self, encoder: AnyEncoder, decoder: CaptionDecoder | Ensemble, vocab: Vocabulary,
                 default_decoding: DecodeConfig | dict | None = None) -> None:
        if decoder.cfg.feature_dim != encoder.spec.feature_dim:
            raise InputError(f"decoder expects {decoder.cfg.feature_dim}-d features but encoder "
                             f"{encoder.spec.name} gives {encoder.spec.feature_dim}")
        self.encoder, self.decoder, self.vocab = encoder, decoder.eval(), vocab
        self.default_decoding = resolve_decoding(default_decoding)
        self.device = next(decoder.parameters()).device
        # decode like the CNN on CUDA; on CPU (runtime bf16) the decoder stays fp32 (benchmarks/README.md)
        self.amp_dtype: torch.dtype | None = getattr(encoder, "amp_dtype", None) if self.device.type == "cuda" else None

    @classmethod
    def from_pretrained(cls, path: str | Path | Sequence[str | Path] | None = None,
                        device: str | torch.device | None = "auto", runtime: str = "auto",
                        amp: bool = False) -> Captioner:
        """Load a checkpoint folder (None: the shipped model), or several as an ensemble, and
        build the encoder they name: on CPU, ONNX Runtime when installed (runtime="auto": int8
        when features.loading says so), torch otherwise; amp=True uses mixed precision on CUDA."""
        paths = list(path) if isinstance(path, list | tuple) else [path]
        dev = resolve_device(device)
        decoder, first = load_decoders(paths, dev)
        where = str((first.folder or Path(".")) / "config.json")
        encoder = encoder_for(first.encoder, dev, runtime, amp, where, lossy=True)
        return cls(encoder, decoder, first.vocab, first.decoding)

    def __repr__(self) -> str:
        cfg = self.decoder.cfg
        members = f"{len(self.decoder.members)} x " if isinstance(self.decoder, Ensemble) else ""
        return (f"Captioner(encoder={self.encoder.spec.name}, decoder={members}{cfg.cell} "
                f"{cfg.num_layers}x{cfg.hidden_dim}, vocab={len(self.vocab)}, device={self.device})")

    def decode_config(self, beam_size: int | None = None, n_best: int | None = None,
                      **decode_kwargs: Any) -> DecodeConfig:
        """The checkpoint's default decoding with these overrides (see resolve_decoding)."""
        return resolve_decoding(self.default_decoding, beam_size=beam_size, n_best=n_best, **decode_kwargs)

    def __call__(self, images: Any, beam_size: int | None = None, n_best: int | None = None, *,
                 batch_size: int = 32, **decode_kwargs: Any) -> list[dict] | dict:
        """Caption one image or a list (PIL, path, CHW uint8 or [0, 1] float tensor, a 4-D batch).

        Returns {"caption", "score", "logprob"} per image (a list for list/batch inputs), plus
        "alternatives" [{"caption", "logprob", "score"}, ...] best first when n_best > 1.
        beam_size None uses the checkpoint's default decoding, 1 greedy, K > 1 beam search;
        decode_kwargs set DecodeConfig fields (max_len, length_penalty, temperature, top_k,
        top_p, seed, ...; sample=True samples). "score" is the ranking score: the caption's
        log-probability, divided by the length penalty when one is set."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
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
        """Inputs (one or a list) -> the encoder's uint8 pixel batch [B, 3, H, W] on the CPU."""
        items, _ = _as_list(images)
        crop = self.encoder.spec.preprocessing.crop
        if not items:
            return torch.empty(0, 3, crop, crop, dtype=torch.uint8)
        side = self.encoder.spec.preprocessing.resize
        return torch.stack([self.encoder.pixels(as_rgb(im, min_side=side)) for im in items])

    def encode(self, images: Any) -> Tensor:
        """Image features [B, F] (on the model's device) for one image or a list."""
        x = self.preprocess(images)
        if not len(x):
            return torch.empty(0, self.encoder.spec.feature_dim, device=self.device)
        return self.encoder(x)

    def caption_features(self, features: Tensor, cfg: DecodeConfig | None = None) -> list[list[Hypothesis]]:
        """Decode features [B, F] into n-best hypothesis lists (best first, with .text); with
        mixed precision on CUDA (amp), the decoder's matrix products run in bf16/fp16 too."""
        if self.amp_dtype is None:
            return decode(self.decoder, features, cfg or self.default_decoding, self.vocab)
        with torch.autocast(self.device.type, dtype=self.amp_dtype):
            return decode(self.decoder, features, cfg or self.default_decoding, self.vocab)
