"""gradient_flow: shapes, sanity, the RNN-vs-LSTM vanishing-gradient contrast, determinism, the
cell-state belt ∂c_t/∂c_0, and recurrence_stats (forget gates, tanh slopes) on tiny decoders."""

import pytest
import torch

from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.stack import CELLS, CellStack
from captioning.lab.gradients import (
    decay_rate,
    decoder_gradient_flow,
    gradient_flow,
    gradient_flow_by_cell,
    recurrence_stats,
    steps_to_fraction,
)

B, IN, H, T = 4, 6, 12, 30


def test_shapes_positive_finite_and_training_flag_restored(core_one_thread):
    torch.manual_seed(0)
    cells = {n: CellStack(n, IN, H, num_layers=2, dropout=0.5) for n in CELLS}
    x = torch.randn(B, 8, IN)
    flows = gradient_flow_by_cell(cells, x)
    assert set(flows) == set(CELLS)
    for name, f in flows.items():
        assert f.shape == (8,) and f.dtype == torch.float32, name
        assert torch.isfinite(f).all() and (f > 0).all(), name
        assert cells[name].training  # still in train mode afterwards
    assert all(p.grad is None for s in cells.values() for p in s.parameters())


def test_init_states_and_no_grad_context(core_one_thread):
    torch.manual_seed(1)
    stack = CellStack("lstm", IN, H).eval()
    x = torch.randn(B, 5, IN)
    states = [(torch.randn(B, H), torch.randn(B, H))]
    with torch.no_grad():
        f = gradient_flow(stack, x, states)
    assert f.shape == (5,) and (f > 0).all()
    assert not stack.training


def test_estimate_close_to_exact(core_one_thread):
    torch.manual_seed(2)
    stack = CellStack("gru", IN, H)
    x = torch.randn(B, 5, IN)
    exact = gradient_flow(stack, x, probes=None)
    approx = gradient_flow(stack, x, probes=512)
    torch.testing.assert_close(approx, exact, rtol=0.1, atol=0.0)


def test_rnn_vanishes_faster_than_lstm(core_one_thread):
    torch.manual_seed(3)
    rnn = CellStack("rnn", IN, H)
    with torch.no_grad():
        rnn.layers[0].weight_hh.mul_(0.5)  # small recurrent weights: spectral radius well below 1
    lstm = CellStack("lstm", IN, H, forget_bias=1.0)
    flows = gradient_flow_by_cell({"rnn": rnn, "lstm": lstm}, 0.5 * torch.randn(B, T, IN))
    ratio = {n: (f[-1] / f[0]).item() for n, f in flows.items()}
    assert ratio["rnn"] < 1e-3 * ratio["lstm"], ratio


def test_deterministic_under_seed(core_one_thread):
    torch.manual_seed(4)
    stack = CellStack("peephole", IN, H, num_layers=2)
    x = torch.randn(B, 6, IN)
    a = gradient_flow(stack, x, seed=7)
    torch.manual_seed(123)  # the global RNG does not matter, only `seed`
    b = gradient_flow(stack, x, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, gradient_flow(stack, x, seed=8))


# ----------------------------------------------------------------------------- source and target
def _old_gradient_flow(stack, inputs, init_states=None, probes=16, seed=0):
    """gradient_flow before source/target existed, verbatim: the defaults must reproduce it."""
    B, T, _ = inputs.shape
    H = stack.hidden_size
    p = next(stack.parameters())
    inputs = inputs.to(device=p.device, dtype=p.dtype)
    if init_states is None:
        init_states = stack.zero_state(B)
    if probes is None:
        v = torch.eye(H, dtype=p.dtype)
    else:
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn(probes, H, generator=gen, dtype=p.dtype)
    K = v.size(0)
    v = v.to(p.device).repeat_interleave(B, dim=0)

    def rep(t):
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
                sq = g.pow(2).sum(-1).view(K, B)
                per_sample = sq.sum(0) if probes is None else sq.mean(0)
                norms.append(per_sample.sqrt().mean())
    finally:
        stack.train(was_training)
    return torch.stack(norms).detach().float()


@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole"])
@pytest.mark.parametrize("probes", [16, None])
def test_defaults_reproduce_the_old_numbers(core_one_thread, cell, probes):
    torch.manual_seed(5)
    stack = CellStack(cell, IN, H, num_layers=2)
    x = torch.randn(B, 6, IN)
    states = [tuple(torch.randn(B, H) for _ in s) for s in stack.zero_state(B)]
    old = _old_gradient_flow(stack, x, states, probes=probes)
    assert torch.equal(gradient_flow(stack, x, states, probes=probes), old)
    assert torch.equal(gradient_flow(stack, x, states, probes=probes, source="h", target="h"), old)


def _zero_weights(stack: CellStack) -> None:
    with torch.no_grad():
        for p in stack.parameters():
            p.zero_()


@pytest.mark.parametrize("b", [0.0, 1.0, 3.0])
def test_belt_of_a_cell_that_only_forgets(core_one_thread, b):
    """Zero weights, forget bias b: c_t = σ(b) c_{t-1}, so ‖∂c_t/∂c_0‖_F = σ(b)^t √H exactly."""
    stack = CellStack("lstm", IN, H)
    _zero_weights(stack)
    with torch.no_grad():
        stack.layers[0].bias_ih[H:2 * H].fill_(b)
    x = torch.randn(B, 7, IN)
    states = [(torch.randn(B, H), torch.randn(B, H))]
    flow = gradient_flow(stack, x, states, probes=None, source="c", target="c")
    t = torch.arange(1, 8, dtype=torch.float64)
    expected = torch.sigmoid(torch.tensor(b, dtype=torch.float64)) ** t * H ** 0.5
    torch.testing.assert_close(flow, expected.float(), rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("cell", ["lstm", "cifg"])
def test_belt_is_the_product_of_the_forget_gates(core_one_thread, cell):
    """With no recurrent weights the gates depend on x only, so ∂c_t/∂c_0 = diag(f_1 ⊙ … ⊙ f_t):
    its Frobenius norm is the vector norm of the product of the forget gates."""
    torch.manual_seed(6)
    stack = CellStack(cell, IN, H, forget_bias=1.0)
    with torch.no_grad():
        stack.layers[0].weight_hh.zero_()
    x = torch.randn(B, 6, IN)
    states = [(torch.randn(B, H), torch.randn(B, H))]
    flow = gradient_flow(stack, x, states, probes=None, source="c", target="c")
    running, product, expected = states, torch.ones(B, H), []
    with torch.no_grad():
        for t in range(x.size(1)):
            _, running, gates = stack.step_with_gates(x[:, t], running)
            product = product * gates[0]["forget"]
            expected.append(product.norm(dim=-1).mean())
    torch.testing.assert_close(flow, torch.stack(expected), rtol=1e-5, atol=0.0)


@pytest.mark.parametrize(("source", "target"), [("c", "c"), ("h", "c"), ("c", "h")])
def test_probes_estimate_every_jacobian(core_one_thread, source, target):
    torch.manual_seed(7)
    stack = CellStack("peephole", IN, H)
    x = torch.randn(B, 5, IN)
    states = [(torch.randn(B, H), torch.randn(B, H))]
    kw = dict(source=source, target=target)
    exact = gradient_flow(stack, x, states, probes=None, **kw)
    approx = gradient_flow(stack, x, states, probes=512, **kw)
    assert (exact > 0).all()
    torch.testing.assert_close(approx, exact, rtol=0.1, atol=0.0)


def test_cells_without_a_cell_state_refuse_c(core_one_thread):
    x = torch.randn(B, 3, IN)
    for cell in ("gru", "rnn"):
        for kw in ({"source": "c"}, {"target": "c"}):
            with pytest.raises(ValueError, match="cell state"):
                gradient_flow(CellStack(cell, IN, H), x, **kw)
    with pytest.raises(ValueError, match="'h' or 'c'"):
        gradient_flow(CellStack("lstm", IN, H), x, target="x")


# ----------------------------------------------------------------------------- decoders
def _decoder(cell: str, **cfg) -> CaptionDecoder:
    torch.manual_seed(8)
    return CaptionDecoder(DecoderConfig(vocab_size=10, feature_dim=5, embed_dim=IN, hidden_dim=H,
                                        cell=cell, **cfg))


def _batch(T: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(9)
    return torch.randn(B, 5, generator=gen), torch.randint(1, 10, (B, T), generator=gen)


def test_decoder_gradient_flow_passes_source_and_target(core_one_thread):
    decoder = _decoder("lstm")
    feats, tokens = _batch()
    with torch.no_grad():
        states, inputs = decoder.init_state(feats), decoder.embed(tokens)
    for kw in ({}, {"source": "c", "target": "c"}, {"target": "c", "probes": None}):
        assert torch.equal(decoder_gradient_flow(decoder, feats, tokens, **kw),
                           gradient_flow(decoder.rnn, inputs, states, **kw))


def test_decay_rate_is_the_geometric_mean_step_ratio():
    assert decay_rate(torch.tensor([2.0, 1.0, 0.5, 0.25])) == pytest.approx(0.5)
    assert decay_rate([1.0, 3.0, 1.0]) == pytest.approx(1.0)  # ratios 3 and 1/3
    with pytest.raises(ValueError):
        decay_rate([1.0])


def test_steps_to_fraction_inverts_a_constant_rate():
    assert steps_to_fraction(0.5, 0.125) == pytest.approx(3.0)
    assert 0.9 ** steps_to_fraction(0.9) == pytest.approx(0.01)
    assert steps_to_fraction(1.0) == float("inf") and steps_to_fraction(1.2) == float("inf")
    with pytest.raises(ValueError):
        steps_to_fraction(0.9, 1.5)


@pytest.mark.parametrize("cell", ["lstm", "peephole", "cifg", "gru"])
def test_recurrence_stats_of_a_gate_held_at_its_bias(core_one_thread, cell):
    """Zero recurrent and input weights: the keep gate is σ(b) everywhere. For the GRU h_t = z h_{t-1}
    then, and for the LSTM family c_t = f c_{t-1}: both decay at exactly σ(b) per step."""
    decoder = _decoder(cell, forget_bias=1.5)
    layer = decoder.rnn.layers[0]
    with torch.no_grad():
        layer.weight_hh.zero_()
        layer.weight_ih.zero_()
        for name in ("peep_i", "peep_f", "peep_o"):
            getattr(layer, name, torch.zeros(0)).zero_()
    decoder.train()
    stats = recurrence_stats(decoder, *_batch(), probes=None)
    assert decoder.training
    keep = torch.sigmoid(torch.tensor(1.5)).item()
    assert stats["cell"] == cell
    assert stats["keep_gate"] == ("update" if cell == "gru" else "forget")
    assert stats["keep"] == pytest.approx(keep, rel=1e-6)
    rate = stats["decay_rate"] if cell == "gru" else stats["c_decay_rate"]
    assert rate == pytest.approx(keep, rel=1e-5)
    assert ("c_decay_rate" in stats) == (cell != "gru") and "gain" not in stats


def test_recurrence_stats_of_the_tanh_rnn(core_one_thread):
    """h_0 = 0 and no input: h stays 0, tanh' = 1, and the Jacobian is U^t with U = a·Q (Q
    orthogonal): the per-step gain a·1 is exactly the decay rate."""
    decoder = _decoder("rnn")
    a = 0.7
    with torch.no_grad():
        for p in (decoder.image.weight, decoder.image.bias, decoder.embed.weight):
            p.zero_()
        layer = decoder.rnn.layers[0]
        for p in (layer.weight_ih, layer.bias_ih, layer.bias_hh):
            p.zero_()
        layer.weight_hh.copy_(a * torch.linalg.qr(torch.randn(H, H))[0])
    stats = recurrence_stats(decoder, *_batch(), probes=None)
    assert stats["tanh_slope"] == pytest.approx(1.0)
    assert stats["weight_hh_norm"] == pytest.approx(a, rel=1e-5)
    assert stats["gain"] == pytest.approx(stats["decay_rate"], rel=1e-5)
    assert "keep" not in stats and "c_decay_rate" not in stats


def test_recurrence_stats_of_a_random_rnn_measure_real_slopes(core_one_thread):
    decoder = _decoder("rnn")
    feats, tokens = _batch()
    stats = recurrence_stats(decoder, feats, tokens)
    with torch.no_grad():
        out, _ = decoder.rnn(decoder.embed(tokens), decoder.init_state(feats))
    assert stats["tanh_slope"] == pytest.approx(float((1 - out.pow(2)).mean()), rel=1e-5)
    svd = torch.linalg.svdvals(decoder.rnn.layers[0].weight_hh.detach())[0]
    assert stats["weight_hh_norm"] == pytest.approx(float(svd), rel=1e-5)
    assert stats["gain"] == pytest.approx(stats["tanh_slope"] * stats["weight_hh_norm"])
    assert 0 < stats["decay_rate"] < 1
