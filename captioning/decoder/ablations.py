"""Gate ablations for the LSTM-vs-GRU question: an LSTM whose output gate is fixed open (o = 1) and a
GRU whose reset gate is fixed open (r = 1). Each keeps every other gate and equation of its parent.

Both run PyTorch's fused LSTM/GRU kernels, like their parents, so they cost the same per step: the
fixed gate's rows get zero weights and a bias of OPEN, and σ(OPEN) rounds to exactly 1 in fp32 and
bf16, so its derivative σ(1 − σ) is exactly 0. The fixed rows are constants, not parameters, so the
ablated cells have fewer parameters than their parents (3/4 and 2/3 of the recurrent weights)."""

from __future__ import annotations

import torch
from torch import Tensor

from .cells import State, _FusedCell

OPEN = 40.0  # 1 / (1 + e^-40) == 1.0 exactly in fp32: the gate is open and passes no gradient


class LSTMOpenOutput(_FusedCell):
    """LSTM with the output gate fixed open: the whole squashed cell state is exposed.

    i = σ(W_i x + U_i h + b_i)   f = σ(W_f x + U_f h + b_f)   g = tanh(W_g x + U_g h + b_g)
    c' = f ⊙ c + i ⊙ g   h' = tanh(c')        (the LSTM's o = σ(...) replaced by o = 1)
    Parameters hold the chunks i, f, g; the fused kernel gets o's rows as constants.
    """

    has_cell_state = True
    gate_names = ("forget", "input")
    num_chunks, forget_chunk = 3, 1
    _cell_kernel, _seq_kernel = staticmethod(torch.lstm_cell), staticmethod(torch.lstm)

    def _weights(self) -> tuple[Tensor, ...]:
        H = self.hidden_size
        w_ih, w_hh = self.weight_ih, self.weight_hh
        return (torch.cat([w_ih, w_ih.new_zeros(H, w_ih.size(1))]),
                torch.cat([w_hh, w_hh.new_zeros(H, H)]),
                torch.cat([self.bias_ih, self.bias_ih.new_full((H,), OPEN)]),
                torch.cat([self.bias_hh, self.bias_hh.new_zeros(H)]))

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        h, c = state
        i, f, g = (xp + self._hidden(h)).chunk(3, dim=-1)
        i, f = i.sigmoid(), f.sigmoid()
        c = f * c + i * g.tanh()
        h = c.tanh()
        return h, (h, c), {"forget": f, "input": i}


class GRUOpenReset(_FusedCell):
    """GRU with the reset gate fixed open: the candidate always sees the whole previous state.

    z = σ(W_z x + b_iz + U_z h + b_hz)   n = tanh(W_n x + b_in + U_n h + b_hn)
    h' = (1 − z) ⊙ n + z ⊙ h              (the GRU's r = σ(...) replaced by r = 1)
    Parameters hold the chunks z, n; the fused kernel gets r's rows (first) as constants. The
    update gate z plays the forget role, so forget_bias sets its bias, as in the GRU.
    """

    gate_names = ("update",)
    num_chunks, forget_chunk = 2, 0
    _cell_kernel, _seq_kernel = staticmethod(torch.gru_cell), staticmethod(torch.gru)

    def _weights(self) -> tuple[Tensor, ...]:
        H = self.hidden_size
        w_ih, w_hh = self.weight_ih, self.weight_hh
        return (torch.cat([w_ih.new_zeros(H, w_ih.size(1)), w_ih]),
                torch.cat([w_hh.new_zeros(H, H), w_hh]),
                torch.cat([self.bias_ih.new_full((H,), OPEN), self.bias_ih]),
                torch.cat([self.bias_hh.new_zeros(H), self.bias_hh]))

    def _recur(self, xp: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        (h,) = state
        xz, xn = xp.chunk(2, dim=-1)
        hz, hn = self._hidden(h).chunk(2, dim=-1)
        z = (xz + hz).sigmoid()
        h = (1 - z) * (xn + hn).tanh() + z * h
        return h, (h,), {"update": z}
