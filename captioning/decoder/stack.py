"""The LSTM family by name, and CellStack: several layers of one cell with dropout in between."""

from __future__ import annotations

from torch import Tensor, nn

from .ablations import GRUOpenReset, LSTMOpenOutput
from .cells import GRU, LSTM, RNN, Cell, State
from .variants import CIFG, Peephole

CELLS: dict[str, type[Cell]] = {
    "lstm": LSTM,
    "peephole": Peephole,
    "cifg": CIFG,
    "gru": GRU,
    "rnn": RNN,
    "lstm-open-output": LSTMOpenOutput,  # ablations: one gate fixed open
    "gru-open-reset": GRUOpenReset,
}


def make_cell(name: str, input_size: int, hidden_size: int, forget_bias: float = 0.0) -> Cell:
    """Build one cell by name; unknown names raise ValueError listing the choices."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}")
    return CELLS[name](input_size, hidden_size, forget_bias)


class CellStack(nn.Module):
    """num_layers cells of one kind; dropout on the outputs between layers, not after the last."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        forget_bias: float = 0.0,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(make_cell(cell, n, hidden_size, forget_bias) for n in sizes)
        self.dropout = nn.Dropout(dropout)
        self.has_cell_state = CELLS[cell].has_cell_state
        self.gate_names = CELLS[cell].gate_names

    def zero_state(self, batch: int, device=None, dtype=None) -> list[State]:
        """One all-zeros State per layer."""
        return [layer.zero_state(batch, device, dtype) for layer in self.layers]

    def _run(self, method: str, x: Tensor, states: list[State]):
        """Apply layer.<method> bottom-up, dropout on inputs to layers above the first."""
        if len(states) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layer states, got {len(states)}")
        new, extras = [], []
        for k, (layer, state) in enumerate(zip(self.layers, states, strict=True)):
            x, state, *extra = getattr(layer, method)(self.dropout(x) if k else x, state)
            new.append(state)
            extras.extend(extra)
        return x, new, extras

    def forward(self, x: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """Whole sequence x [B, T, I] -> top-layer outputs [B, T, H] and the new states."""
        x, new, _ = self._run("__call__", x, states)
        return x, new

    def step(self, x: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One time step x [B, I] -> top h [B, H] and the new states."""
        x, new, _ = self._run("step", x, states)
        return x, new

    def step_with_gates(
        self, x: Tensor, states: list[State]
    ) -> tuple[Tensor, list[State], list[dict[str, Tensor]]]:
        """Like step, plus one gate dict per layer (bottom first)."""
        return self._run("step_with_gates", x, states)

    def step_projected(self, xp: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """Like step, with the first layer's input already projected (layers[0].project(x))."""
        if len(states) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layer states, got {len(states)}")
        h, first = self.layers[0].step_projected(xp, states[0])
        new = [first]
        for layer, state in zip(self.layers[1:], states[1:]):
            h, state = layer.step(self.dropout(h), state)
            new.append(state)
        return h, new
