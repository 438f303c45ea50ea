"""Checkpoints as folders (config.json, vocab.json, model.safetensors), never pickles.

Loading maps to CPU (or the device asked for) automatically."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .decoder import CaptionDecoder, DecoderConfig
from .encoder import EncoderSpec
from .io import atomic_write, read_json, write_json
from .text import Vocabulary

PRETRAINED = Path(__file__).parent / "pretrained" / "coco-lite0-lstm"


@dataclass
class Checkpoint:
    """A decoder, its vocabulary, the encoder it expects and free-form metadata."""

    decoder: CaptionDecoder
    vocab: Vocabulary
    encoder: EncoderSpec
    extra: dict = field(default_factory=dict)  # training config, decoding defaults, scores

    def save(self, folder: str | Path, half: bool = False) -> Path:
        """Write the folder; files are replaced atomically so a crash never leaves half a checkpoint."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()
                 if not (self.decoder.cfg.tie_weights and k == "out.weight")}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
        self.vocab.save(folder / "vocab.json")
        write_json(folder / "config.json", {"decoder": self.decoder.cfg.to_dict(),
                                            "encoder": self.encoder.to_dict(), **self.extra})
        return folder

    @classmethod
    def load(cls, folder: str | Path | None = None, device: str | torch.device = "cpu") -> Checkpoint:
        """Load a checkpoint folder (the shipped model when None); errors name the bad file."""
        folder = Path(folder) if folder is not None else PRETRAINED
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such checkpoint folder")
        config = read_json(folder / "config.json", "checkpoint config")
        try:
            cfg = DecoderConfig.from_dict(config["decoder"])
            spec = EncoderSpec.from_dict(config["encoder"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{folder / 'config.json'}: invalid checkpoint config ({exc})") from None
        vocab = Vocabulary.load(folder / "vocab.json")
        if len(vocab) != cfg.vocab_size:
            raise ValueError(f"{folder}: vocab.json has {len(vocab)} words but the model expects "
                             f"{cfg.vocab_size} (mismatched checkpoint/vocab)")
        try:
            state = load_file(str(folder / "model.safetensors"), device="cpu")
        except (OSError, SafetensorError) as exc:
            raise ValueError(f"{folder / 'model.safetensors'}: cannot read weights ({exc})") from None
        decoder = CaptionDecoder(cfg)
        ref = decoder.state_dict()
        state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
        try:
            missing, unexpected = decoder.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # same names, other shapes: weights of another config
            raise ValueError(f"{folder / 'model.safetensors'}: weights do not match config.json "
                             f"({str(exc).splitlines()[-1].strip()})") from None
        missing = [k for k in missing if not (cfg.tie_weights and k == "out.weight")]
        if missing or unexpected:
            raise ValueError(f"{folder / 'model.safetensors'}: weights do not match config.json "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        extra = {k: v for k, v in config.items() if k not in ("decoder", "encoder")}
        return cls(decoder.to(device).eval(), vocab, spec, extra)
