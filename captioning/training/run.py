"""Whole training jobs on a dataset's records and features: prepare the splits, then train with
either objective; and the export step that picks a checkpoint's default decoding on val."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..core.errors import InputError
from ..data.records import ImageRecord
from ..data.tensors import SplitTensors, prepare_splits
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.search import StepDecoder
from ..features.config import EncoderSpec
from ..text.vocabulary import Vocabulary
from .config import ScstConfig, TrainConfig
from .evaluation import evaluate_split
from .loop import CrossEntropy, SelfCritical, fit
from .provenance import caption_words

log = logging.getLogger(__name__)
EpochHook = Callable[[int, torch.nn.Module], None]  # loop.fit's on_epoch


def _with_val(split: dict[str, SplitTensors]) -> dict[str, SplitTensors]:
    if "val" not in split:
        raise InputError("the dataset has no 'val' split for early stopping")
    return split


def train_model(records: Sequence[ImageRecord], features: torch.Tensor, encoder: EncoderSpec,
                model: DecoderConfig, cfg: TrainConfig, out: str | Path, resume: bool = False,
                device: str | torch.device = "cpu", progress: bool = True, amp: bool = False,
                on_epoch: EpochHook | None = None, views: torch.Tensor | None = None) -> dict:
    """Vocabulary from the train captions, tensors for every split, then cross-entropy training.
    views: the train records' other views [n, V-1, F] (features.cache.record_views) when cfg.views > 1."""
    vocab, split, _ = prepare_splits(records, features, cfg.min_count, cfg.max_words, views=views,
                                     train_val=cfg.train_val)
    split = _with_val(split)
    model = model.replace(vocab_size=len(vocab), feature_dim=encoder.feature_dim)
    log.info("training a %s decoder on %d images / %d captions, vocabulary %d", model.cell,
             len(split["train"]), len(split["train"].tokens), len(vocab))
    return fit(CrossEntropy(cfg, vocab, model, encoder), split["train"], split["val"], out, resume=resume,
               device=device, progress=progress, amp=amp, on_epoch=on_epoch)


def fine_tune(init: Checkpoint, records: Sequence[ImageRecord], features: torch.Tensor, cfg: ScstConfig,
              out: str | Path, resume: bool = False, device: str | torch.device = "cpu", progress: bool = True,
              amp: bool = False, on_epoch: EpochHook | None = None, views: torch.Tensor | None = None) -> dict:
    """SCST from a cross-entropy or SCST checkpoint, on tensors in its own vocabulary and with
    the caption length of the cross-entropy run its record chain starts from (views: as train_model's)."""
    words = caption_words(init.training, str(init.folder))
    _, split, _ = prepare_splits(records, features, init.vocab.min_count, words, vocab=init.vocab, views=views,
                                 train_val=cfg.train_val)
    split = _with_val(split)
    return fit(SelfCritical(cfg, init), split["train"], split["val"], out, resume=resume, device=device,
               progress=progress, amp=amp, on_epoch=on_epoch)


def choose_decoding(decoder: StepDecoder, vocab: Vocabulary, features: torch.Tensor, val: Sequence[ImageRecord],
                    candidates: Sequence[DecodeConfig]) -> tuple[DecodeConfig, dict[str, float]]:
    """The candidate with the best val CIDEr (ties go to the earlier, cheaper one) and every score."""
    cider = {c.name: evaluate_split(decoder, features, val, vocab, c, meteor=False)["scores"]["CIDEr"]
             for c in candidates}
    best = max(range(len(candidates)), key=lambda i: (cider[candidates[i].name], -i))
    return candidates[best], cider
