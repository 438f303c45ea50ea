"""Several decoders as one: each step is the mean of the members' log-probabilities, renormalized
(a product of experts), so greedy, beam search, n-best and sampling work on ensembles unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint
from .model import CaptionDecoder


class Ensemble(nn.Module):
    """Decoders over the same vocabulary and image features, decoded together."""

    def __init__(self, members: Sequence[CaptionDecoder]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one decoder")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg  # vocabulary and feature sizes are shared (checked by compatible())

    def init_state(self, features: Tensor) -> list[Any]:
        return [m.init_state(features) for m in self.members]

    def step(self, tokens: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
        """ids [B] -> log-probabilities [B, V] (renormalized mean over members) and new states."""
        outs = [m.step(tokens, s) for m, s in zip(self.members, states)]
        mean = torch.stack([logp for logp, _ in outs]).mean(0)
        return mean.log_softmax(-1), [s for _, s in outs]

    def num_parameters(self) -> int:
        return sum(m.num_parameters() for m in self.members)


def compatible(checkpoints: Sequence[Checkpoint]) -> None:
    """Raise a one-line ValueError unless the checkpoints share vocabulary and encoder."""
    first = checkpoints[0]
    for other in checkpoints[1:]:
        where = f"{other.folder or 'checkpoint'} vs {first.folder or 'checkpoint'}"
        if other.vocab.itos != first.vocab.itos:
            raise ValueError(f"cannot ensemble {where}: different vocabularies "
                             f"({len(other.vocab)} vs {len(first.vocab)} words)")
        if other.encoder != first.encoder:
            raise ValueError(f"cannot ensemble {where}: different encoders "
                             f"({_describe(other)} vs {_describe(first)})")


def _describe(ckpt: Checkpoint) -> str:
    spec = ckpt.encoder
    return f"{spec.name}{' + flip' if spec.flip else ''}, {spec.feature_dim}-d, crop {spec.preprocessing.crop}"


def load_decoders(paths: Sequence[str | None], device: str | torch.device = "cpu"
                  ) -> tuple[CaptionDecoder | Ensemble, Checkpoint]:
    """Load one checkpoint (a decoder) or several (an Ensemble); also return the first checkpoint,
    whose vocabulary, encoder and default decoding the ensemble uses."""
    ckpts = [Checkpoint.load(p, device) for p in paths or [None]]
    compatible(ckpts)
    model = ckpts[0].decoder if len(ckpts) == 1 else Ensemble([c.decoder for c in ckpts]).to(device)
    return model, ckpts[0]
