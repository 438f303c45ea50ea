"""The Show-and-Tell decoder: image vector -> initial recurrent state -> words.

    features [B, F] --Linear+tanh--> (h0, c0) of every layer        (init-inject, default)
    <start> w1 .. wn --Embedding--> CellStack --Dropout--> Linear --> logits [B, T, V]

With inject="pre" the projected image is instead the first input, as in the original
Show and Tell, and the state starts at zero. Dropout can also be given as explicit masks (one per
caption and step), so that sampling and the recomputation of its log-probabilities share them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .cells import State
from .config import DecoderConfig
from .stack import CellStack

Masks = tuple[Tensor, Tensor]  # dropout masks (scaled by 1/keep) on embeddings [..., E] and outputs [..., H]


class CaptionDecoder(nn.Module):
    """Recurrent caption decoder whose state is initialized from one image feature vector."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.rnn = CellStack(cfg.cell, cfg.embed_dim, cfg.hidden_dim, cfg.num_layers,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                             forget_bias=cfg.forget_bias)
        n_state = cfg.num_layers * (2 if self.rnn.has_cell_state else 1)
        self.image = nn.Linear(cfg.feature_dim, n_state * cfg.hidden_dim if cfg.inject == "init"
                               else cfg.embed_dim)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tie_weights:  # project h to the embedding size so the output can share its matrix
            self.bridge = nn.Linear(cfg.hidden_dim, cfg.embed_dim)
            self.out = nn.Linear(cfg.embed_dim, cfg.vocab_size)
            self.out.weight = self.embed.weight
        else:
            self.bridge = nn.Identity()
            self.out = nn.Linear(cfg.hidden_dim, cfg.vocab_size)
        self._table: Tensor | None = None  # set only inside decoding_table()

    def init_state(self, features: Tensor) -> list[State]:
        """Image features [B, F] -> the per-layer initial state."""
        if self.cfg.inject == "pre":
            zero = self.rnn.zero_state(features.size(0), features.device, features.dtype)
            _, states = self.rnn.step(self.drop(torch.tanh(self.image(features))), zero)
            return states
        parts = torch.tanh(self.image(features)).chunk(self.cfg.num_layers, dim=1)
        k = 2 if self.rnn.has_cell_state else 1
        return [tuple(p.chunk(k, dim=1)) for p in parts]

    def logits(self, h: Tensor, mask: Tensor | None = None) -> Tensor:
        """Hidden outputs [..., H] -> vocabulary logits [..., V]; mask replaces dropout when given."""
        return self.out(self.bridge(self.drop(h) if mask is None else h * mask))

    def forward(self, features: Tensor, tokens: Tensor, masks: Masks | None = None) -> Tensor:
        """Teacher forcing: input ids [B, T] (starting with <start>) -> next-word logits [B, T, V].
        masks ([B, >=T, E], [B, >=T, H]) replace dropout (see dropout_masks)."""
        if masks is None:
            out, _ = self.rnn(self.drop(self.embed(tokens)), self.init_state(features))
            return self.logits(out)
        steps = tokens.size(1)
        out, _ = self.rnn(self.embed(tokens) * masks[0][:, :steps], self.init_state(features))
        return self.logits(out, masks[1][:, :steps])

    def step(self, tokens: Tensor, states: list[State], masks: Masks | None = None
             ) -> tuple[Tensor, list[State]]:
        """One word for each sequence: ids [B] -> log-probabilities [B, V] and the new state.
        masks ([B, E], [B, H]) replace dropout for this step.

        Inside decoding_table() (eval mode, no autograd, no masks) the first layer's input
        projection is looked up instead of multiplied out: the same numbers, half the LSTM's work."""
        if masks is not None:
            h, states = self.rnn.step(self.embed(tokens) * masks[0], states)
            return self.logits(h, masks[1]).log_softmax(-1), states
        if self._table is None or self.training or torch.is_grad_enabled():
            h, states = self.rnn.step(self.drop(self.embed(tokens)), states)
        else:
            h, states = self.rnn.step_projected(self._table[tokens], states)
        return self.logits(h).log_softmax(-1), states

    @contextlib.contextmanager
    def decoding_table(self) -> Iterator[None]:
        """Within this block, steps read the first layer's input pre-activations of every word
        ([V, nH], made on entry under the caller's autocast) from a table. It lives only as long
        as the block, so it cannot outlast a weight change or a change of precision."""
        with torch.no_grad():
            self._table = self.rnn.layers[0].project(self.embed.weight)
        try:
            yield
        finally:
            self._table = None

    def dropout_masks(self, rows: int, steps: int, generator: torch.Generator | None = None) -> Masks:
        """Dropout as explicit masks, one per row and step, scaled by 1/keep (ones without dropout)."""
        p, dev = self.cfg.dropout, self.embed.weight.device
        shapes = ((rows, steps, self.cfg.embed_dim), (rows, steps, self.cfg.hidden_dim))
        if p <= 0:
            return torch.ones(shapes[0], device=dev), torch.ones(shapes[1], device=dev)
        emb, out = (torch.empty(s, device=dev).bernoulli_(1 - p, generator=generator) / (1 - p) for s in shapes)
        return emb, out

    def step_with_gates(self, tokens: Tensor, states: list[State]) -> tuple[Tensor, list[State], list[dict]]:
        """Like step, plus each layer's gate activations for inspection."""
        h, states, gates = self.rnn.step_with_gates(self.drop(self.embed(tokens)), states)
        return self.logits(h).log_softmax(-1), states, gates

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class MaskedSteps:
    """A CaptionDecoder (for decoding) whose step t of row r uses dropout masks[.][r, t]: the state carries each
    live row's index, so rows can leave the batch as they finish."""

    training = False

    def __init__(self, decoder: CaptionDecoder, masks: Masks) -> None:
        self.decoder, self.masks, self.t = decoder, masks, 0

    def init_state(self, features: Tensor):
        return self.decoder.init_state(features), torch.arange(features.size(0), device=features.device)

    def step(self, tokens: Tensor, states):
        inner, rows = states
        masks = (self.masks[0][rows, self.t], self.masks[1][rows, self.t])
        self.t += 1
        logp, inner = self.decoder.step(tokens, inner, masks)
        return logp, (inner, rows)
