"""Training losses: next-word cross-entropy under teacher forcing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..decoder.model import CaptionDecoder
from ..text.vocabulary import Vocabulary


def caption_loss(decoder: CaptionDecoder, features: torch.Tensor, tokens: torch.Tensor,
                 label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of next-word prediction, ignoring padding."""
    tokens = tokens[:, : int((tokens != Vocabulary.pad_id).sum(1).max())]
    logits = decoder(features, tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1),
                           ignore_index=Vocabulary.pad_id, label_smoothing=label_smoothing)
