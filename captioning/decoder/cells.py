"""Recurrent cells with one small interface (step / step_with_gates / forward / zero_state), and the
three that PyTorch has fused kernels for: LSTM, GRU and the plain tanh RNN.

The chapter's LSTM variants (peephole, CIFG) are in variants.py; stack.py names and stacks them."""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = tuple[Tensor, ...]  # (h,) for gru/rnn, (h, c) for lstm/peephole/cifg; each [B, H]


class Cell(nn.Module):
    """One recurrent layer. Subclasses define step_with_gates; the rest has sensible defaults."""

    has_cell_state: bool = False
    gate_names: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.forget_bias = forget_bias

    def reset_parameters(self) -> None:
        """PyTorch's default init, uniform(-1/sqrt(H), 1/sqrt(H)), then the forget-gate bias."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        if self.forget_bias:
            with torch.no_grad():
                self._init_forget_bias(self.forget_bias)

    def _init_forget_bias(self, value: float) -> None:
        """Set the bias that controls forgetting (Jozefowicz et al. 2015); no-op by default."""

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: x [B, I] -> h [B, H] and the new state."""
        h, state, _ = self.step_with_gates(x, state)
        return h, state

    def step_with_gates(self, x: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        """Like step, but also returns gate activations [B, H] by name (and "cell_norm" [B])."""
        h, state, gates = self._recur(self.project(x), state)
        if self.has_cell_state:
            gates["cell_norm"] = state[1].norm(dim=-1)  # how much the conveyor belt carries
        return h, state, gates

    def project(self, x: Tensor) -> Tensor:
        """The input's share of every gate's pre-activation, W x + b: [..., nH]."""
        raise NotImplementedError

    def step_projected(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from an already projected input xp = project(x): decoding precomputes
        project(embedding) for the whole vocabulary once, then looks rows up."""
        h, state, _ = self._recur(xp, state)
        return h, state

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        """One step given the projected input; returns h, the new state and the gates."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Whole sequence x [B, T, I] -> outputs [B, T, H] and the final state."""
        outs = []
        for t in range(x.size(1)):
            h, state = self.step(x[:, t], state)
            outs.append(h)
        return torch.stack(outs, dim=1), state

    def zero_state(self, batch: int, device=None, dtype=None) -> State:
        """All-zeros state on the parameters' device/dtype unless told otherwise."""
        p = next(self.parameters())
        device = p.device if device is None else device
        dtype = p.dtype if dtype is None else dtype
        n = 2 if self.has_cell_state else 1
        return tuple(
            torch.zeros(batch, self.hidden_size, device=device, dtype=dtype) for _ in range(n)
        )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, forget_bias={self.forget_bias}"


class _FusedCell(Cell):
    """Cells with nn.*Cell-compatible parameters (weight_ih, weight_hh, bias_ih, bias_hh).

    step and forward call PyTorch's fused kernels (the ones behind nn.*Cell and nn.LSTM/GRU/RNN),
    so training over a whole sequence is as fast as the built-in modules.
    """

    num_chunks = 1
    forget_chunk: int | None = None  # which gate chunk a forget bias goes to
    _cell_kernel = staticmethod(torch.rnn_tanh_cell)  # (x, h or (h, c), w_ih, w_hh, b_ih, b_hh)
    _seq_kernel = staticmethod(torch.rnn_tanh)  # (x, hx, weights, bias, layers, dropout, ...)

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, forget_bias)
        n = self.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n, input_size))
        self.weight_hh = nn.Parameter(torch.empty(n, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(n))
        self.bias_hh = nn.Parameter(torch.empty(n))
        self.reset_parameters()

    def _init_forget_bias(self, value: float) -> None:
        if self.forget_chunk is not None:  # total bias b_ih + b_hh of that gate becomes `value`
            rows = slice(
                self.forget_chunk * self.hidden_size, (self.forget_chunk + 1) * self.hidden_size
            )
            self.bias_ih[rows].fill_(value)
            self.bias_hh[rows].zero_()

    def _weights(self) -> tuple[Tensor, ...]:
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def _hidden(self, h: Tensor) -> Tensor:
        """The recurrent share of the pre-activations, U h + b_hh: [B, num_chunks * H]."""
        return F.linear(h, self.weight_hh, self.bias_hh)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        hx = state if self.has_cell_state else state[0]
        out = self._cell_kernel(x, hx, *self._weights())
        state = tuple(out) if self.has_cell_state else (out,)
        return state[0], state

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        hx = tuple(s.unsqueeze(0).contiguous() for s in state)  # [num_layers=1, B, H]
        # cuDNN only keeps what backward needs when told it is training; with dropout 0 inside
        # one layer that is all the flag does, so follow grad mode rather than self.training.
        with warnings.catch_warnings():  # cuDNN packs our separate weights each call; cheap here
            warnings.filterwarnings("ignore", "RNN module weights are not part of single")
            out, *final = self._seq_kernel(
                x, hx if self.has_cell_state else hx[0], self._weights(),
                True, 1, 0.0, torch.is_grad_enabled(), False, True,
            )  # fmt: skip
        return out, tuple(s[0] for s in final)


class LSTM(_FusedCell):
    """Standard LSTM, numerically identical to nn.LSTMCell (gate order i, f, g, o).

    i = σ(W_i x + U_i h + b_i)   f = σ(W_f x + U_f h + b_f)   o = σ(W_o x + U_o h + b_o)
    g = tanh(W_g x + U_g h + b_g)   c' = f ⊙ c + i ⊙ g   h' = o ⊙ tanh(c')
    Each b is bias_ih + bias_hh; forget_bias sets bias_ih[H:2H] = b and bias_hh[H:2H] = 0.
    step/forward use the fused kernels; step_with_gates recomputes the gates by hand.
    """

    has_cell_state = True
    gate_names = ("forget", "input", "output")
    num_chunks, forget_chunk = 4, 1
    _cell_kernel, _seq_kernel = staticmethod(torch.lstm_cell), staticmethod(torch.lstm)

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        h, c = state
        i, f, g, o = (xp + self._hidden(h)).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        return h, (h, c), {"forget": f, "input": i, "output": o}


class GRU(_FusedCell):
    """GRU in PyTorch's reset-after form, identical to nn.GRUCell (gate order r, z, n).

    r = σ(W_r x + b_ir + U_r h + b_hr)   z = σ(W_z x + b_iz + U_z h + b_hz)
    n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))   h' = (1 − z) ⊙ n + z ⊙ h
    Cho et al. 2014 reset *before* the matmul, n = tanh(W_n x + U_n (r ⊙ h) + b_n); resetting after
    it lets all three recurrent matmuls run as one fused [3H, H] product (what cuDNN does).
    The update gate z plays the forget role (z = 1 keeps h), so forget_bias sets bias_ih[H:2H] = b.
    """

    gate_names = ("update", "reset")
    num_chunks, forget_chunk = 3, 1
    _cell_kernel, _seq_kernel = staticmethod(torch.gru_cell), staticmethod(torch.gru)

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        (h,) = state
        xr, xz, xn = xp.chunk(3, dim=-1)
        hr, hz, hn = self._hidden(h).chunk(3, dim=-1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        h = (1 - z) * (xn + r * hn).tanh() + z * h
        return h, (h,), {"update": z, "reset": r}


class RNN(_FusedCell):
    """The chapter's "standard RNN with a single tanh layer", identical to nn.RNNCell.

    h' = tanh(W x + b_ih + U h + b_hh). No gates, so forget_bias is ignored.
    """

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        h = (xp + self._hidden(state[0])).tanh()
        return h, (h,), {}
