"""Checkpoints as folders (config.json, vocab.json, model.safetensors), never pickles.

config.json (format_version 2) has one section per concern: model, encoder, vocabulary,
training, decoding and scores. Folders written before format versions existed (version 1:
decoder/encoder/training/decoding at the top, scores loose) still load. Weights load on CPU,
or on the device asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.io import read_json, regular_file, save_tensors, write_json
from ..features.config import EncoderSpec
from ..text.tokenizer import TOKENIZER_NAME
from ..text.vocabulary import Vocabulary
from .config import DecoderConfig
from .decode_config import resolve_decoding
from .model import CaptionDecoder

FORMAT_VERSION = 2
ENSEMBLE_FILE = "ensemble.json"  # the index that makes a folder an ensemble (see ensemble.py)
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "coco-lite2-scst-x3"
CHECKPOINT_FILES = ((ENSEMBLE_FILE, "ensemble index"), ("config.json", "checkpoint config"),
                    ("vocab.json", "vocabulary"), ("model.safetensors", "weights file"))
SECTIONS = ("format_version", "model", "encoder", "vocabulary", "training", "decoding", "scores")


@dataclass
class Checkpoint:
    """A decoder, its vocabulary, the encoder it expects, and how it was made and scored."""

    decoder: CaptionDecoder
    vocab: Vocabulary
    encoder: EncoderSpec
    training: dict[str, Any] = field(default_factory=dict)  # config, epoch, stage
    decoding: dict[str, Any] | None = None  # the default DecodeConfig, as a dict
    scores: dict[str, Any] = field(default_factory=dict)  # val CIDEr, decoding choice, ...
    folder: Path | None = None  # where it was loaded from

    def config(self) -> dict[str, Any]:
        """The config.json content."""
        return {"format_version": FORMAT_VERSION, "model": self.decoder.cfg.to_dict(),
                "encoder": self.encoder.to_dict(),
                "vocabulary": {"size": len(self.vocab), "min_count": self.vocab.min_count,
                               "tokenizer": TOKENIZER_NAME},
                "training": self.training, "decoding": self.decoding, "scores": self.scores}

    def save(self, folder: str | Path, half: bool = False) -> Path:
        """Write the folder; files are replaced atomically so a crash never leaves half a checkpoint."""
        folder = Path(folder)
        if (folder / ENSEMBLE_FILE).is_file():  # it would keep loading as the old ensemble
            raise InputError(f"{folder}: holds an ensemble ({ENSEMBLE_FILE}); save into another folder")
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()
                 if not (self.decoder.cfg.tie_weights and k == "out.weight")}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        save_tensors(folder / "model.safetensors", state)
        self.vocab.save(folder / "vocab.json")
        write_json(folder / "config.json", self.config())
        return folder

    @classmethod
    def load(cls, folder: str | Path | None = None, device: str | torch.device = "cpu") -> Checkpoint:
        """Load a checkpoint folder (the shipped model when None); errors name the bad file."""
        folder = Path(folder) if folder is not None else PRETRAINED
        if not folder.is_dir():
            raise InputError(f"{folder}: no such checkpoint folder")
        for name, what in CHECKPOINT_FILES:  # a FIFO would hang the read, a device never end it
            regular_file(folder / name, what)
        if (folder / ENSEMBLE_FILE).is_file():
            raise InputError(f"{folder}: an ensemble folder; load it with Captioner.from_pretrained or "
                             "decoder.ensemble.load_decoders, or load one of its member-N/ folders")
        sections = _sections(read_json(folder / "config.json", "checkpoint config"), folder / "config.json")
        missing = sorted({"name", "feature_dim", "preprocessing"} - set(sections["encoder"]))
        if missing:
            raise InputError(f"{folder / 'config.json'}: invalid checkpoint config (encoder lacks {missing[0]})")
        try:
            cfg = DecoderConfig.from_dict(sections["model"])
            spec = EncoderSpec.from_dict(sections["encoder"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{folder / 'config.json'}: invalid checkpoint config ({exc})") from None
        vocab = Vocabulary.load(folder / "vocab.json")
        if len(vocab) != cfg.vocab_size:
            raise InputError(f"{folder}: vocab.json has {len(vocab)} words but the model expects "
                             f"{cfg.vocab_size} (mismatched checkpoint/vocab)")
        _check_vocabulary(sections.get("vocabulary"), vocab, folder / "config.json")
        decoding = checked_decoding(sections["decoding"], folder / "config.json")
        decoder = _load_weights(folder / "model.safetensors", cfg)
        return cls(decoder.to(device).eval(), vocab, spec, sections["training"], decoding,
                   sections["scores"], folder)


def checked_decoding(decoding: Any, path: Path) -> dict[str, Any] | None:
    """A stored default decoding (config.json or ensemble.json), validated now so that a bad value
    names that file and field rather than the flag a user might give."""
    if decoding is None:
        return None
    if not isinstance(decoding, dict):
        raise InputError(f"{path}: decoding must be a JSON object, got {type(decoding).__name__}")
    try:
        resolve_decoding(decoding)
    except ConfigError as exc:
        raise InputError(f"{path}: invalid decoding ({exc})") from None
    except TypeError as exc:  # a value of the wrong type, compared or counted
        raise InputError(f"{path}: invalid decoding ({exc})") from None
    return decoding


def _check_vocabulary(section: Any, vocab: Vocabulary, path: Path) -> None:
    """The vocabulary section must describe vocab.json and this release's tokenizer: a model fed
    tokens split another way would caption nonsense without an error. Format 1 has no section."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise InputError(f"{path}: invalid checkpoint config (vocabulary is not a JSON object)")
    for key, have in (("size", len(vocab)), ("min_count", vocab.min_count)):
        if key in section and section[key] != have:
            raise InputError(f"{path}: vocabulary.{key} is {section[key]} but vocab.json has {have}")
    tokenizer = section.get("tokenizer", TOKENIZER_NAME)
    if tokenizer != TOKENIZER_NAME:
        raise InputError(f"{path}: vocabulary.tokenizer is '{tokenizer}', but this release tokenizes captions "
                         f"with '{TOKENIZER_NAME}'; use a release that has it or retrain")


def _sections(config: Any, path: Path) -> dict[str, Any]:
    """config.json as format-2 sections; a version-1 file is mapped, unknown keys are errors."""
    if not isinstance(config, dict):
        raise InputError(f"{path}: invalid checkpoint config (not a JSON object)")
    version = config.get("format_version", 1)
    if version == 1:
        loose = {k: v for k, v in config.items() if k not in ("decoder", "encoder", "training", "decoding")}
        training = {"config": config.get("training", {}), "epoch": loose.pop("epoch", None)}
        config = {"model": config.get("decoder"), "encoder": config.get("encoder"), "training": training,
                  "decoding": config.get("decoding"), "scores": loose}
    elif version != FORMAT_VERSION:
        raise InputError(f"{path}: checkpoint format_version {version} is newer than this release "
                         f"reads ({FORMAT_VERSION}); upgrade captioning")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise InputError(f"{path}: invalid checkpoint config ({ConfigError(unknown[0], 'unknown section')})")
    if config.get("model") is None or config.get("encoder") is None:
        raise InputError(f"{path}: invalid checkpoint config (needs 'model' and 'encoder' sections)")
    return {"training": {}, "decoding": None, "scores": {}, **{k: v for k, v in config.items() if v is not None}}


def _load_weights(path: Path, cfg: DecoderConfig) -> CaptionDecoder:
    try:
        state = load_file(str(path), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise InputError(f"{path}: cannot read weights ({exc})") from None
    decoder = CaptionDecoder(cfg)
    ref = decoder.state_dict()
    state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
    try:
        missing, unexpected = decoder.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes: weights of another config
        raise InputError(f"{path}: weights do not match config.json "
                         f"({str(exc).splitlines()[-1].strip()})") from None
    missing = [k for k in missing if not (cfg.tie_weights and k == "out.weight")]
    if missing or unexpected:
        raise InputError(f"{path}: weights do not match config.json "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # they would decode to NaN scores: index errors in beam search, NaN in JSON outputs
        raise InputError(f"{path}: weights hold NaN or infinite values ({', '.join(bad[:3])})")
    return decoder
