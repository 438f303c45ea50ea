"""The chapter's LSTM variants, written out by hand: peephole connections and coupled input-forget gates."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import Cell, State


class _HandCell(Cell):
    """Hand-written LSTM variants: weight_ih [nH, I], weight_hh [nH, H], one bias [nH].

    forward projects the whole input sequence with one matmul, then loops the recurrence (CIFG
    overrides it with the fused LSTM kernel).
    """

    num_chunks = 4

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, forget_bias)
        n = self.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n, input_size))
        self.weight_hh = nn.Parameter(torch.empty(n, hidden_size))
        self.bias = nn.Parameter(torch.empty(n))

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        xp = self.project(x)  # [B, T, nH] in one matmul
        outs = []
        for t in range(x.size(1)):
            h, state, _ = self._recur(xp[:, t], state)
            outs.append(h)
        return torch.stack(outs, dim=1), state


class Peephole(_HandCell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000); gate order i, f, g, o.

    i = σ(W_i x + U_i h + p_i ⊙ c + b_i)   f = σ(W_f x + U_f h + p_f ⊙ c + b_f)
    g = tanh(W_g x + U_g h + b_g)   c' = f ⊙ c + i ⊙ g
    o = σ(W_o x + U_o h + p_o ⊙ c' + b_o)   h' = o ⊙ tanh(c')
    The peepholes p_* are diagonal (vectors [H]); forget_bias sets bias[H:2H] = b.
    """

    has_cell_state = True
    gate_names = ("forget", "input", "output")

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, forget_bias)
        self.peep_i = nn.Parameter(torch.empty(hidden_size))
        self.peep_f = nn.Parameter(torch.empty(hidden_size))
        self.peep_o = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def _init_forget_bias(self, value: float) -> None:
        H = self.hidden_size
        self.bias[H : 2 * H].fill_(value)

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        h, c = state
        ai, af, ag, ao = (xp + F.linear(h, self.weight_hh)).chunk(4, dim=-1)
        i = (ai + self.peep_i * c).sigmoid()
        f = (af + self.peep_f * c).sigmoid()
        c = f * c + i * ag.tanh()
        o = (ao + self.peep_o * c).sigmoid()
        h = o * c.tanh()
        return h, (h, c), {"forget": f, "input": i, "output": o}


class CIFG(_HandCell):
    """LSTM with coupled input-forget gates: f = 1 − i, no forget parameters; order i, g, o.

    i = σ(W_i x + U_i h + b_i)   f = 1 − i   g = tanh(W_g x + U_g h + b_g)
    o = σ(W_o x + U_o h + b_o)   c' = f ⊙ c + i ⊙ g   h' = o ⊙ tanh(c')
    Since 1 − σ(a) = σ(−a), a forget bias b means an input-gate bias of −b: bias[0:H] = −b.
    """

    has_cell_state = True
    gate_names = ("forget", "input", "output")
    num_chunks = 3

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, forget_bias)
        self.reset_parameters()

    def _init_forget_bias(self, value: float) -> None:
        self.bias[: self.hidden_size].fill_(-value)

    def _lstm_weights(self) -> tuple[Tensor, ...]:
        """The same cell as an LSTM's (i, f, g, o) weights: the forget rows are the input rows
        negated, since σ(−a) = 1 − σ(a). PyTorch's fused LSTM kernels then compute CIFG exactly
        (up to rounding), about twice as fast as the Python loop; autograd sums both uses."""
        H = self.hidden_size

        def four(w: Tensor) -> Tensor:
            return torch.cat([w[:H], -w[:H], w[H:]])

        return four(self.weight_ih), four(self.weight_hh), four(self.bias), self.bias.new_zeros(4 * H)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = torch.lstm_cell(x, state, *self._lstm_weights())
        return h, (h, c)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        hx = tuple(s.unsqueeze(0).contiguous() for s in state)
        out, h, c = torch.lstm(x, hx, self._lstm_weights(), True, 1, 0.0, torch.is_grad_enabled(), False, True)
        return out, (h[0], c[0])

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        h, c = state
        ai, ag, ao = (xp + F.linear(h, self.weight_hh)).chunk(3, dim=-1)
        i, o = ai.sigmoid(), ao.sigmoid()
        f = 1 - i
        c = f * c + i * ag.tanh()
        h = o * c.tanh()
        return h, (h, c), {"forget": f, "input": i, "output": o}
