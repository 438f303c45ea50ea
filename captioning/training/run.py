"""Whole training jobs on a dataset's records and features: prepare the splits, then train; and
the export step that picks a checkpoint's default decoding on val."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from ..core.errors import InputError
from ..data.records import ImageRecord
from ..data.tensors import prepare_splits
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.search import StepDecoder
from ..features.config import EncoderSpec
from ..text.vocabulary import Vocabulary
from .config import TrainConfig
from .evaluation import evaluate_split
from .loop import fit

log = logging.getLogger(__name__)


def train_model(records: Sequence[ImageRecord], features: torch.Tensor, encoder: EncoderSpec,
                model: DecoderConfig, cfg: TrainConfig, out: str | Path, resume: bool = False,
                device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Vocabulary from the train captions, tensors for every split, then fit(); returns its summary."""
    vocab, split, _ = prepare_splits(records, features, cfg.min_count, cfg.max_words)
    if "val" not in split:
        raise InputError("the dataset has no 'val' split for early stopping")
    model = model.replace(vocab_size=len(vocab), feature_dim=encoder.feature_dim)
    log.info("training a %s decoder on %d images / %d captions, vocabulary %d", model.cell,
             len(split["train"]), len(split["train"].tokens), len(vocab))
    return fit(split["train"], split["val"], vocab, model, cfg, encoder, out, resume=resume,
               device=device, progress=progress)


def choose_decoding(decoder: StepDecoder, vocab: Vocabulary, features: torch.Tensor, val: Sequence[ImageRecord],
                    candidates: Sequence[DecodeConfig]) -> tuple[DecodeConfig, dict[str, float]]:
    """The candidate with the best val CIDEr (ties go to the earlier, cheaper one) and every score."""
    cider = {c.name: evaluate_split(decoder, features, val, vocab, c, meteor=False)["scores"]["CIDEr"]
             for c in candidates}
    best = max(range(len(candidates)), key=lambda i: (cider[candidates[i].name], -i))
    return candidates[best], cider
