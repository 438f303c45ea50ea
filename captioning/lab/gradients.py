"""How far back does the gradient reach? ‖∂h_t/∂h_0‖ per time step, for any CellStack.

This makes the chapter's vanishing-gradient argument measurable: a tanh RNN's Jacobian norm
decays geometrically with t, while the LSTM's additive cell path (forget gate near 1) keeps it alive.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..decoder.cells import State
from ..decoder.stack import CellStack


def gradient_flow(
    stack: CellStack,
    inputs: Tensor,
    init_states: list[State] | None = None,
    *,
    probes: int | None = 16,
    seed: int = 0,
) -> Tensor:
    """Mean over the batch of ‖∂h_t/∂h_0‖_F for t = 1..T, as a float tensor [T].

    h_t is the top layer's output after step t, h_0 the first layer's initial hidden state (the
    other initial states, e.g. the LSTM's c_0, are held fixed). With Gaussian probes v ~ N(0, I),
    E‖vᵀJ‖² = ‖J‖_F², so we average ‖vᵀJ‖² over `probes` draws (seeded, one reverse pass per t
    for all probes at once by replicating the batch). probes=None is exact: v runs over the H
    unit vectors (batch replicated H times). Runs in eval mode and restores the training flag.
    """
    B, T, _ = inputs.shape
    H = stack.hidden_size
    p = next(stack.parameters())
    inputs = inputs.to(device=p.device, dtype=p.dtype)
    if init_states is None:
        init_states = stack.zero_state(B)

    # probe vectors v, [K, H]; every batch row gets all K of them
    if probes is None:
        v = torch.eye(H, dtype=p.dtype)
    else:
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn(probes, H, generator=gen, dtype=p.dtype)
    K = v.size(0)
    v = v.to(p.device).repeat_interleave(B, dim=0)  # [K*B, H], row k*B + b probes sample b

    def rep(t: Tensor) -> Tensor:  # [B, ...] -> [K*B, ...], same layout as v
        return t.detach().repeat(K, *([1] * (t.dim() - 1)))

    was_training = stack.training
    stack.eval()
    try:
        with torch.enable_grad():
            h0 = rep(init_states[0][0]).requires_grad_(True)
            states = [tuple(rep(s) for s in st) for st in init_states]
            states[0] = (h0, *states[0][1:])
            x = rep(inputs)
            norms = []
            for t in range(T):
                h, states = stack.step(x[:, t], states)
                (g,) = torch.autograd.grad((h * v).sum(), h0, retain_graph=t < T - 1)
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


def decoder_gradient_flow(decoder, features: Tensor, tokens: Tensor, **kwargs) -> Tensor:
    """‖∂h_t/∂h_0‖ through a caption decoder reading real captions.

    features [B, F] give h_0 (and c_0) exactly as in captioning; tokens [B, T] are the word ids
    (starting with <start>) fed as inputs, embedded by the decoder's own embedding."""
    with torch.no_grad():
        states = decoder.init_state(features)
        inputs = decoder.embed(tokens)
    return gradient_flow(decoder.rnn, inputs, states, **kwargs)
