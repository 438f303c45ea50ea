"""How far back does the gradient reach? ‖∂h_t/∂h_0‖ (or ∂c_t/∂c_0) per time step, for any CellStack.

This makes the chapter's vanishing-gradient argument measurable: a tanh RNN's Jacobian norm
decays geometrically with t, while the LSTM's additive cell path (forget gate near 1) keeps it
alive. recurrence_stats measures what each decay rate comes with: forget gates, tanh slopes;
steps_to_fraction turns a per-step rate into a reach in words.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..decoder.cells import State
from ..decoder.stack import CellStack

_STATE_INDEX = {"h": 0, "c": 1}  # where h and c sit in a layer's State tuple
_KEEP_GATES = ("forget", "update")  # the gate that decides how much old state survives a step


def _state_index(stack: CellStack, which: str, role: str) -> int:
    """Position of "h" or "c" in the stack's State tuples; a clear error for anything else."""
    if which not in _STATE_INDEX:
        raise ValueError(f"{role} must be 'h' or 'c', got {which!r}")
    if which == "c" and not stack.has_cell_state:
        raise ValueError(f"{role}='c' needs a cell state, but a {stack.cell!r} cell has only h")
    return _STATE_INDEX[which]


def _probe_vectors(size: int, probes: int | None, seed: int, dtype: torch.dtype) -> Tensor:
    """[K, size] probe vectors: the unit vectors (exact) or `probes` seeded Gaussian draws."""
    if probes is None:
        return torch.eye(size, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(probes, size, generator=gen, dtype=dtype)


def gradient_flow(
    stack: CellStack,
    inputs: Tensor,
    init_states: list[State] | None = None,
    *,
    probes: int | None = 16,
    seed: int = 0,
    source: str = "h",
    target: str = "h",
) -> Tensor:
    """Mean over the batch of ‖∂target_t/∂source_0‖_F for t = 1..T, as a float tensor [T].

    source is the first layer's initial h_0 or c_0, target the top layer's h_t or c_t after step t;
    the other initial states are held fixed ("c" needs a cell with a cell state). With Gaussian
    probes v ~ N(0, I), E‖vᵀJ‖² = ‖J‖_F², so we average ‖vᵀJ‖² over `probes` draws (seeded, one
    reverse pass per t for all probes at once by replicating the batch). probes=None is exact: v
    runs over the H unit vectors (batch replicated H times). Runs in eval mode, restores the flag.
    """
    src, tgt = _state_index(stack, source, "source"), _state_index(stack, target, "target")
    B, T, _ = inputs.shape
    p = next(stack.parameters())
    inputs = inputs.to(device=p.device, dtype=p.dtype)
    if init_states is None:
        init_states = stack.zero_state(B)
    v = _probe_vectors(stack.hidden_size, probes, seed, p.dtype)
    K = v.size(0)
    v = v.to(p.device).repeat_interleave(B, dim=0)  # [K*B, H], row k*B + b probes sample b

    def rep(t: Tensor) -> Tensor:  # [B, ...] -> [K*B, ...], same layout as v
        return t.detach().repeat(K, *([1] * (t.dim() - 1)))

    was_training = stack.training
    stack.eval()
    try:
        with torch.enable_grad():
            states = [tuple(rep(s) for s in st) for st in init_states]
            s0 = states[0][src].requires_grad_(True)
            x = rep(inputs)
            norms = []
            for t in range(T):
                h, states = stack.step(x[:, t], states)
                out = h if tgt == 0 else states[-1][tgt]
                (g,) = torch.autograd.grad((out * v).sum(), s0, retain_graph=t < T - 1)
                sq = g.pow(2).sum(-1).view(K, B)  # ‖vᵀJ_b‖² per probe and sample
                per_sample = sq.sum(0) if probes is None else sq.mean(0)
                norms.append(per_sample.sqrt().mean())
    finally:
        stack.train(was_training)
    return torch.stack(norms).detach().float()


def gradient_flow_by_cell(
    cells: dict[str, CellStack], inputs: Tensor, **kwargs
) -> dict[str, Tensor]:
    """gradient_flow for several stacks on the same inputs (and the same probes), keyed by name."""
    return {name: gradient_flow(stack, inputs, **kwargs) for name, stack in cells.items()}


def _decoder_inputs(decoder, features: Tensor, tokens: Tensor) -> tuple[list[State], Tensor]:
    """The decoder's initial states from the image and its embedded input words, without grad."""
    with torch.no_grad():
        return decoder.init_state(features), decoder.embed(tokens)


def decoder_gradient_flow(decoder, features: Tensor, tokens: Tensor, **kwargs) -> Tensor:
    """‖∂h_t/∂h_0‖ (or, with source/target="c", the cell-state version) through a caption decoder
    reading real captions.

    features [B, F] give h_0 (and c_0) exactly as in captioning; tokens [B, T] are the word ids
    (starting with <start>) fed as inputs, embedded by the decoder's own embedding. kwargs go to
    gradient_flow (probes, seed, source, target)."""
    states, inputs = _decoder_inputs(decoder, features, tokens)
    return gradient_flow(decoder.rnn, inputs, states, **kwargs)


def decay_rate(norms: Tensor) -> float:
    """Geometric mean over t = 2..T of the per-step ratio n_t / n_{t-1} of a gradient_flow curve,
    i.e. (n_T / n_1)^(1/(T-1)): below 1 the gradient vanishes, above 1 it explodes."""
    n = torch.as_tensor(norms, dtype=torch.float64).reshape(-1)
    if n.numel() < 2:
        raise ValueError(f"decay_rate needs at least 2 time steps, got {n.numel()}")
    return float((n[-1] / n[0]) ** (1.0 / (n.numel() - 1)))


def steps_to_fraction(rate: float, fraction: float = 0.01) -> float:
    """Steps after which a constant per-step ratio `rate` (decay_rate) leaves `fraction` of the
    first step's norm: log(fraction) / log(rate); inf when the rate does not shrink (rate >= 1)."""
    if not 0 < fraction < 1 or rate <= 0:
        raise ValueError(f"need 0 < fraction < 1 and rate > 0, got fraction={fraction}, rate={rate}")
    return math.inf if rate >= 1 else math.log(fraction) / math.log(rate)


def _trace(stack: CellStack, inputs: Tensor, states: list[State], layer: int) -> tuple[list, list]:
    """Teacher-force inputs [B, T, I] through the stack; one layer's gate dicts and h per step."""
    gates, hs = [], []
    with torch.no_grad():
        for t in range(inputs.size(1)):
            _, states, per_layer = stack.step_with_gates(inputs[:, t], states)
            gates.append(per_layer[layer])
            hs.append(states[layer][0])
    return gates, hs


def recurrence_stats(decoder, features: Tensor, tokens: Tensor, *, layer: int = -1,
                     probes: int | None = 16, seed: int = 0) -> dict[str, float | str]:
    """What sets the gradient's decay on real captions (teacher forcing, eval mode), as floats.

    All cells: decay_rate, the per-step ratio of ‖∂h_t/∂h_0‖ (decay_rate of gradient_flow; cells
    with a cell state also c_decay_rate, of ‖∂c_t/∂c_0‖). Gated cells: keep, the mean over units,
    steps and batch of `keep_gate` (the forget gate, or the GRU's update gate z, the share of h it
    keeps). The tanh RNN: tanh_slope, the mean of tanh' = 1 − h_t²; weight_hh_norm, the spectral
    norm of its recurrent matrix; gain, their product: a rough upper scale of one step's stretch
    (‖diag(1 − h²) U‖ ≤ max slope × ‖U‖), not an estimate of the measured per-step factor.
    tokens [B, T] should be real words (cut before the padding); stats come from `layer`."""
    rnn = decoder.rnn
    was_training = decoder.training
    decoder.eval()
    try:
        states, inputs = _decoder_inputs(decoder, features, tokens)
        gates, hs = _trace(rnn, inputs, states, layer)
        flow = dict(probes=probes, seed=seed)
        stats: dict[str, float | str] = {
            "cell": rnn.cell, "decay_rate": decay_rate(gradient_flow(rnn, inputs, states, **flow))}
        if rnn.has_cell_state:
            c_flow = gradient_flow(rnn, inputs, states, source="c", target="c", **flow)
            stats["c_decay_rate"] = decay_rate(c_flow)
    finally:
        decoder.train(was_training)
    keep = next((g for g in _KEEP_GATES if g in rnn.gate_names), None)
    if keep is not None:
        stats["keep_gate"] = keep
        stats["keep"] = float(torch.stack([g[keep] for g in gates]).mean())
    else:
        slope = float((1 - torch.stack(hs).pow(2)).mean())
        norm = float(torch.linalg.matrix_norm(rnn.layers[layer].weight_hh.detach(), ord=2))
        stats.update(tanh_slope=slope, weight_hh_norm=norm, gain=slope * norm)
    return stats
