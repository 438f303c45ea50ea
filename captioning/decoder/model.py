"""The Show-and-Tell decoder: image vector -> initial recurrent state -> words.

    features [B, F] --Linear+tanh--> (h0, c0) of every layer        (init-inject, default)
    <start> w1 .. wn --Embedding--> CellStack --Dropout--> Linear --> logits [B, T, V]

With inject="pre" the projected image is instead the first input, as in the original
Show and Tell, and the state starts at zero."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cells import State
from .config import DecoderConfig
from .stack import CellStack


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
        self._table: tuple[tuple, Tensor] | None = None  # see input_table

    def init_state(self, features: Tensor) -> list[State]:
        """Image features [B, F] -> the per-layer initial state."""
        if self.cfg.inject == "pre":
            zero = self.rnn.zero_state(features.size(0), features.device, features.dtype)
            _, states = self.rnn.step(self.drop(torch.tanh(self.image(features))), zero)
            return states
        parts = torch.tanh(self.image(features)).chunk(self.cfg.num_layers, dim=1)
        k = 2 if self.rnn.has_cell_state else 1
        return [tuple(p.chunk(k, dim=1)) for p in parts]

    def logits(self, h: Tensor) -> Tensor:
        """Hidden outputs [..., H] -> vocabulary logits [..., V]."""
        return self.out(self.bridge(self.drop(h)))

    def forward(self, features: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: input ids [B, T] (starting with <start>) -> next-word logits [B, T, V]."""
        out, _ = self.rnn(self.drop(self.embed(tokens)), self.init_state(features))
        return self.logits(out)

    def step(self, tokens: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One word for each sequence: ids [B] -> log-probabilities [B, V] and the new state.

        In eval mode without autograd (decoding), the first layer's input projection is looked
        up in input_table() instead of multiplied out: the same numbers, half the LSTM's work."""
        if self.training or torch.is_grad_enabled():
            h, states = self.rnn.step(self.drop(self.embed(tokens)), states)
        else:
            h, states = self.rnn.step_projected(self.input_table()[tokens], states)
        return self.logits(h).log_softmax(-1), states

    def input_table(self, refresh: bool = False) -> Tensor:
        """First-layer input pre-activations of every word, [V, nH]; kept until a weight
        changes (optimizer step, load_state_dict, .to(), any in-place op). Writes through
        `.data` bypass the version counters that tell: after those, pass refresh=True."""
        params = (self.embed.weight, *self.rnn.layers[0].parameters())
        if any(p.is_inference() for p in params):  # no version counters: cannot tell staleness
            return self.rnn.layers[0].project(self.embed.weight)
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        if refresh or self._table is None or self._table[0] != key:
            with torch.no_grad():
                self._table = (key, self.rnn.layers[0].project(self.embed.weight))
        return self._table[1]

    def step_with_gates(self, tokens: Tensor, states: list[State]) -> tuple[Tensor, list[State], list[dict]]:
        """Like step, plus each layer's gate activations for inspection."""
        h, states, gates = self.rnn.step_with_gates(self.drop(self.embed(tokens)), states)
        return self.logits(h).log_softmax(-1), states, gates

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
