"""Several decoders as one: each step is the mean of the members' log-probabilities, renormalized
(a product of experts), so greedy, beam search, n-best and sampling work on ensembles unchanged."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..core.errors import InputError
from ..core.io import read_json, regular_file, write_json
from .checkpoint import ENSEMBLE_FILE, FORMAT_VERSION, PRETRAINED, Checkpoint, checked_decoding
from .model import CaptionDecoder


class _Stacked(tuple):
    """The state of a stacked ensemble step: (h, c), each [B, members, H] (rows first, so
    decoding's row selection works on it as on any state)."""


class Ensemble(nn.Module):
    """Decoders over the same vocabulary and image features, decoded together.

    When every member is a one-layer LSTM of one shape (the shipped ensemble), a decoding step
    inside the members' decoding tables runs all members as one batched computation on stacked
    weights (one bmm per matrix instead of one matmul per member); otherwise member by member."""

    def __init__(self, members: Sequence[CaptionDecoder]) -> None:
        super().__init__()
        if not members:
            raise InputError("an ensemble needs at least one decoder")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg  # vocabulary and feature sizes are shared (checked by compatible())
        shapes = {(m.cfg.cell, m.cfg.num_layers, m.cfg.hidden_dim, m.cfg.tie_weights) for m in members}
        self.stackable = len(members) > 1 and len(shapes) == 1 and next(iter(shapes))[:2] == ("lstm", 1) \
            and not self.cfg.tie_weights
        self._weights: tuple[tuple, tuple[Tensor, ...]] | None = None  # see _stacked_weights
        self._tables: tuple[tuple[Tensor, ...], Tensor] | None = None

    def _stacked_now(self) -> bool:
        """Whether steps can run stacked: eval, no autograd, every member inside decoding_table()."""
        return (self.stackable and not self.training and not torch.is_grad_enabled()
                and all(m._table is not None for m in self.members))

    def init_state(self, features: Tensor) -> list[Any] | _Stacked:
        states = [m.init_state(features) for m in self.members]
        if not self._stacked_now():
            return states
        return _Stacked(torch.stack([s[0][k] for s in states], 1) for k in range(2))

    def _stacked_weights(self) -> tuple[Tensor, ...]:
        """(W_hh^T [M, H, 4H], b_hh [M, 1, 4H], W_out^T [M, H, V], b_out [M, 1, V]), rebuilt
        only when a member's weight changes (or moves, or changes dtype)."""
        params = [(m.rnn.layers[0].weight_hh, m.rnn.layers[0].bias_hh, m.out.weight, m.out.bias) for m in self.members]
        flat = [p for group in params for p in group]
        key = () if any(p.is_inference() for p in flat) else tuple((p.data_ptr(), p._version, p.dtype) for p in flat)
        if self._weights is None or not key or self._weights[0] != key:
            w_hh, b_hh, w_out, b_out = (torch.stack([group[i] for group in params]) for i in range(4))
            self._weights = key, (w_hh.transpose(1, 2), b_hh[:, None], w_out.transpose(1, 2), b_out[:, None])
        return self._weights[1]

    def _stacked_tables(self) -> Tensor:
        """The members' input tables [M, V, 4H], stacked once per decoding call."""
        tables = tuple(m._table for m in self.members)  # held, so they cannot be mistaken for new ones
        if self._tables is None or any(a is not b for a, b in zip(self._tables[0], tables)):
            self._tables = tables, torch.stack(tables)
        return self._tables[1]

    def _stacked_step(self, tokens: Tensor, state: _Stacked) -> tuple[Tensor, _Stacked]:
        """All members' LSTM step and output layer at once (the same arithmetic as CaptionDecoder.step)."""
        w_hh, b_hh, w_out, b_out = self._stacked_weights()
        h, c = (s.transpose(0, 1) for s in state)  # [M, B, H]
        gates = self._stacked_tables()[:, tokens] + torch.baddbmm(b_hh, h, w_hh)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        logp = torch.baddbmm(b_out, h, w_out).log_softmax(-1)  # [M, B, V]
        return logp.mean(0).log_softmax(-1), _Stacked((h.transpose(0, 1), c.transpose(0, 1)))

    def step(self, tokens: Tensor, states: list[Any] | _Stacked) -> tuple[Tensor, list[Any] | _Stacked]:
        """ids [B] -> log-probabilities [B, V] (renormalized mean over members) and new states."""
        if isinstance(states, _Stacked):
            return self._stacked_step(tokens, states)
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
            raise InputError(f"cannot ensemble {where}: different vocabularies "
                             f"({len(other.vocab)} vs {len(first.vocab)} words)")
        if other.encoder != first.encoder:
            raise InputError(f"cannot ensemble {where}: different encoders ({_describe(other, first)})")


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out


def _describe(ckpt: Checkpoint, other: Checkpoint) -> str:
    """The encoder settings in which two checkpoints differ, e.g. "preprocessing.resize 256 vs 292"."""
    mine, theirs = _flat(ckpt.encoder.to_dict()), _flat(other.encoder.to_dict())
    return ", ".join(f"{k} {mine[k]} vs {theirs[k]}" for k in mine if mine[k] != theirs.get(k))


def read_index(folder: Path) -> dict[str, Any] | None:
    """An ensemble folder's ensemble.json, checked: a JSON object whose members are names of
    distinct folders inside it and whose decoding is valid (errors name the file). None without one."""
    index = regular_file(folder / ENSEMBLE_FILE, "ensemble index")
    if not index.is_file():
        return None
    data = read_json(index, "ensemble index")
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise InputError(f"{index}: needs a non-empty 'members' list of folder names, in a JSON object")
    root, seen = os.path.realpath(folder), {}
    for m in members:
        real = os.path.realpath(folder / m)
        if os.path.commonpath([root, real]) != root:
            raise InputError(f"{index}: member '{m}' is outside the ensemble folder")
        if real in seen:  # each copy would be loaded again: 1,000 of them fill the memory
            again = "" if seen[real] == m else f" (as '{seen[real]}')"
            raise InputError(f"{index}: member '{m}' is listed more than once{again}; list each member folder once")
        seen[real] = m
    if not isinstance(data.get("scores", {}), dict):
        raise InputError(f"{index}: scores must be a JSON object")
    checked_decoding(data.get("decoding"), index)
    return data


def ensemble_members(folder: Path) -> list[Path] | None:
    """The member checkpoint folders of an ensemble folder (one with ensemble.json), else None."""
    index = read_index(folder)
    return None if index is None else [folder / m for m in index["members"]]


def weights_digest(path: str | Path | None = None) -> str:
    """A short fingerprint of a checkpoint's or ensemble's weights (default: the shipped model), so a
    record made with one model (a labelled error analysis) can tell it from the next one shipped."""
    folder = Path(path) if path is not None else PRETRAINED
    digest = hashlib.sha256()
    for member in ensemble_members(folder) or [folder]:
        weights = regular_file(member / "model.safetensors", "weights file")
        if not weights.is_file():
            raise InputError(f"{weights}: no weights file (model.safetensors) here")
        digest.update(weights.read_bytes())
    return digest.hexdigest()[:16]


def save_ensemble(checkpoints: Sequence[Checkpoint], folder: str | Path, decoding: dict | None,
                  scores: dict | None = None, half: bool = False) -> Path:
    """Write members as member-0/, member-1/ ... and then ensemble.json (their shared default
    decoding and scores), so a folder with an index is always complete."""
    compatible(checkpoints)
    folder = Path(folder)
    if (folder / "config.json").is_file() and not (folder / ENSEMBLE_FILE).is_file():
        raise InputError(f"{folder}: holds a single checkpoint; save the ensemble into another folder")
    names = [f"member-{i}" for i in range(len(checkpoints))]
    for name, ckpt in zip(names, checkpoints):
        ckpt.save(folder / name, half=half)
    write_json(folder / ENSEMBLE_FILE, {"format_version": FORMAT_VERSION, "members": names,
                                        "decoding": decoding, "scores": scores or {}})
    return folder


def load_decoders(paths: Sequence[str | Path | None] | None, device: str | torch.device = "cpu"
                  ) -> tuple[CaptionDecoder | Ensemble, Checkpoint]:
    """Load one checkpoint (a decoder), or several or an ensemble folder (an Ensemble). Also return
    the checkpoint whose vocabulary, encoder and default decoding apply: the first member's, with
    an ensemble folder's own default decoding and scores."""
    if paths is not None and not list(paths):
        raise InputError("no checkpoint given: pass one or more checkpoint folders, or None for the shipped model")
    given = [Path(p) if p is not None else PRETRAINED for p in (paths or [None])]
    members = [ensemble_members(g) for g in given]
    ckpts = [Checkpoint.load(f, device) for g, m in zip(given, members) for f in (m or [g])]
    compatible(ckpts)
    first = ckpts[0]
    if len(given) == 1 and members[0]:  # one ensemble folder: its own defaults apply
        index = read_index(given[0]) or {}
        first = replace(first, decoding=index.get("decoding"), scores=index.get("scores", {}), folder=given[0])
    model = ckpts[0].decoder if len(ckpts) == 1 else Ensemble([c.decoder for c in ckpts]).to(device)
    return model, first
