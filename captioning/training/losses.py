"""Training losses: next-word cross-entropy under teacher forcing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..text.vocabulary import Vocabulary


def caption_loss(model: nn.Module, features: torch.Tensor, tokens: torch.Tensor,
                 label_smoothing: float = 0.0, normalizer: float | None = None) -> torch.Tensor:
    """Cross-entropy of next-word prediction over the non-padding targets: their mean, or their
    sum / normalizer. DDP ranks pass the whole global batch's target count (times 1 / world size),
    so that the gradients DDP averages equal a single process's on the whole batch."""
    tokens = tokens[:, : int((tokens != Vocabulary.pad_id).sum(1).max())]
    logits = model(features, tokens[:, :-1])
    reduction = "mean" if normalizer is None else "sum"
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), tokens[:, 1:].reshape(-1),
                           ignore_index=Vocabulary.pad_id, label_smoothing=label_smoothing,
                           reduction=reduction)
    return loss if normalizer is None else loss / normalizer
