"""Each cell matches its equations (and PyTorch's reference cells); the interface behaves the same."""

import pytest
import torch
from torch import nn

from captioning.decoder.stack import CELLS, CellStack

B, IN, H, T = 3, 4, 5, 6
NAMES = list(CELLS)


def sig(a):
    return torch.sigmoid(a)


def rand_state(name, batch=B, hidden=H):
    n = 2 if CELLS[name].has_cell_state else 1
    return tuple(torch.randn(batch, hidden) for _ in range(n))


def hand_step(name, cell, x, state):
    """The class docstrings' equations, written out with plain torch ops."""
    p = dict(cell.named_parameters())
    if name == "lstm":
        h, c = state
        a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = (
            sig(a[:, :H]),
            sig(a[:, H : 2 * H]),
            torch.tanh(a[:, 2 * H : 3 * H]),
            sig(a[:, 3 * H :]),
        )
        c = f * c + i * g
        return o * torch.tanh(c), (o * torch.tanh(c), c)
    if name == "peephole":
        h, c = state
        a = x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias"]
        i = sig(a[:, :H] + p["peep_i"] * c)
        f = sig(a[:, H : 2 * H] + p["peep_f"] * c)
        c = f * c + i * torch.tanh(a[:, 2 * H : 3 * H])
        o = sig(a[:, 3 * H :] + p["peep_o"] * c)
        return o * torch.tanh(c), (o * torch.tanh(c), c)
    if name == "cifg":
        h, c = state
        a = x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias"]
        i, g, o = sig(a[:, :H]), torch.tanh(a[:, H : 2 * H]), sig(a[:, 2 * H :])
        c = (1 - i) * c + i * g
        return o * torch.tanh(c), (o * torch.tanh(c), c)
    if name == "gru":
        (h,) = state
        ax = x @ p["weight_ih"].T + p["bias_ih"]
        ah = h @ p["weight_hh"].T + p["bias_hh"]
        r = sig(ax[:, :H] + ah[:, :H])
        z = sig(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = torch.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        h = (1 - z) * n + z * h
        return h, (h,)
    if name == "rnn":
        (h,) = state
        h = torch.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        return h, (h,)
    if name == "lstm-open-output":  # the LSTM with o = 1
        h, c = state
        a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g = sig(a[:, :H]), sig(a[:, H : 2 * H]), torch.tanh(a[:, 2 * H :])
        c = f * c + i * g
        return torch.tanh(c), (torch.tanh(c), c)
    if name == "gru-open-reset":  # the GRU with r = 1
        (h,) = state
        ax = x @ p["weight_ih"].T + p["bias_ih"]
        ah = h @ p["weight_hh"].T + p["bias_hh"]
        z = sig(ax[:, :H] + ah[:, :H])
        h = (1 - z) * torch.tanh(ax[:, H:] + ah[:, H:]) + z * h
        return h, (h,)
    raise AssertionError(name)


def assert_states_close(a, b, **kw):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, **kw)


@pytest.mark.parametrize("name", NAMES)
def test_step_matches_equations(name):
    torch.manual_seed(0)
    cell = CELLS[name](IN, H)
    x, state = torch.randn(B, IN), rand_state(name)
    h, new = cell.step(x, state)
    h_ref, new_ref = hand_step(name, cell, x, state)
    torch.testing.assert_close(h, h_ref)
    assert_states_close(new, new_ref)


@pytest.mark.parametrize(
    "name, ref",
    [
        ("lstm", lambda: nn.LSTMCell(IN, H)),
        ("gru", lambda: nn.GRUCell(IN, H)),
        ("rnn", lambda: nn.RNNCell(IN, H, nonlinearity="tanh")),
    ],
)
def test_matches_pytorch_cell(name, ref):
    torch.manual_seed(1)
    ref = ref()
    cell = CELLS[name](IN, H)
    cell.load_state_dict(ref.state_dict())
    x, state = torch.randn(B, IN), rand_state(name)
    h, new = cell.step(x, state)
    if name == "lstm":
        h_ref, c_ref = ref(x, state)
        assert_states_close(new, (h_ref, c_ref))
    else:
        h_ref = ref(x, state[0])
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(cell.step_with_gates(x, state)[0], h_ref)


@pytest.mark.parametrize("name", NAMES)
def test_forward_equals_step_loop(name):
    torch.manual_seed(2)
    cell = CELLS[name](IN, H)
    x, state = torch.randn(B, T, IN), rand_state(name)
    out, final = cell(x, state)
    assert out.shape == (B, T, H)
    s, hs = state, []
    for t in range(T):
        h, s = cell.step(x[:, t], s)
        hs.append(h)
    torch.testing.assert_close(out, torch.stack(hs, 1))
    assert_states_close(final, s)
    with torch.no_grad():  # the fused kernels take a different (inference) path here
        out_ng, _ = cell(x, state)
    torch.testing.assert_close(out_ng, out)


@pytest.mark.parametrize("name", NAMES)
def test_step_with_gates(name):
    torch.manual_seed(3)
    cell = CELLS[name](IN, H)
    x, state = torch.randn(B, IN), rand_state(name)
    h, new, gates = cell.step_with_gates(x, state)
    h_step, new_step = cell.step(x, state)
    torch.testing.assert_close(h, h_step)
    assert_states_close(new, new_step)
    expected = set(cell.gate_names) | ({"cell_norm"} if cell.has_cell_state else set())
    assert set(gates) == expected
    for g in cell.gate_names:
        assert gates[g].shape == (B, H)
        assert ((gates[g] >= 0) & (gates[g] <= 1)).all()
    if cell.has_cell_state:
        torch.testing.assert_close(gates["cell_norm"], new[1].norm(dim=-1))


def test_gate_names():
    assert CELLS["lstm"].gate_names == ("forget", "input", "output")
    assert CELLS["peephole"].gate_names == ("forget", "input", "output")
    assert CELLS["cifg"].gate_names == ("forget", "input", "output")
    assert CELLS["gru"].gate_names == ("update", "reset")
    assert CELLS["rnn"].gate_names == ()
    assert CELLS["lstm-open-output"].gate_names == ("forget", "input")
    assert CELLS["gru-open-reset"].gate_names == ("update",)
    assert {n for n in NAMES if CELLS[n].has_cell_state} == {"lstm", "peephole", "cifg", "lstm-open-output"}


def test_cifg_forget_plus_input_is_one():
    torch.manual_seed(4)
    cell = CELLS["cifg"](IN, H)
    _, _, gates = cell.step_with_gates(3 * torch.randn(64, IN), rand_state("cifg", 64))
    assert torch.equal(gates["forget"] + gates["input"], torch.ones(64, H))
    assert all("forget" not in n for n, _ in cell.named_parameters())


def test_cifg_on_the_fused_lstm_kernel_equals_its_python_loop():
    """forward/step run CIFG as an LSTM whose forget rows are the negated input rows; values and
    gradients match the hand-written recurrence that step_with_gates and the notebooks show."""
    torch.manual_seed(5)
    cell = CELLS["cifg"](IN, H, forget_bias=1.0)
    x, state = torch.randn(B, T, IN), rand_state("cifg")
    fused, (_, c) = cell(x, state)
    outs, s = [], state
    for t in range(T):
        out, s, _ = cell.step_with_gates(x[:, t], s)
        outs.append(out)
    assert torch.allclose(fused, torch.stack(outs, 1), atol=1e-6) and torch.allclose(c, s[1], atol=1e-6)
    assert torch.allclose(cell.step(x[:, 0], state)[0], cell.step_with_gates(x[:, 0], state)[0], atol=1e-6)
    grads = torch.autograd.grad(fused.square().sum(), list(cell.parameters()))
    loop = torch.autograd.grad(torch.stack(outs, 1).square().sum(), list(cell.parameters()))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, loop))

@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(5)
    cell = CELLS[name](IN, H)
    x, state = torch.randn(B, 3, IN), rand_state(name)
    for run in ("step", "forward"):
        cell.zero_grad()
        if run == "forward":
            out, _ = cell(x, state)
        else:
            s, hs = state, []
            for t in range(3):
                h, s = cell.step(x[:, t], s)
                hs.append(h)
            out = torch.stack(hs, 1)
        (out * torch.randn_like(out)).sum().backward()
        for pname, p in cell.named_parameters():
            assert p.grad is not None and (p.grad != 0).any(), f"{name}.{pname} ({run})"


@pytest.mark.parametrize("name", NAMES)
def test_forget_bias(name):
    torch.manual_seed(6)
    cell = CELLS[name](IN, H, forget_bias=1.0)
    p = dict(cell.named_parameters())
    ones, zeros = torch.ones(H), torch.zeros(H)
    if name in ("lstm", "gru", "lstm-open-output"):  # forget gate (lstm) / update gate (gru) are chunk 1
        assert torch.equal(p["bias_ih"][H : 2 * H], ones)
        assert torch.equal(p["bias_hh"][H : 2 * H], zeros)
    elif name == "gru-open-reset":  # its parameters hold (z, n): the update gate is chunk 0
        assert torch.equal(p["bias_ih"][:H], ones)
        assert torch.equal(p["bias_hh"][:H], zeros)
    elif name == "peephole":
        assert torch.equal(p["bias"][H : 2 * H], ones)
    elif name == "cifg":
        assert torch.equal(p["bias"][:H], -ones)
    # behaviour: with zero input and state only biases act, so the forget-role gate is σ(1)
    if cell.gate_names:
        zero = tuple(torch.zeros(2, H) for _ in rand_state(name))
        _, _, gates = cell.step_with_gates(torch.zeros(2, IN), zero)
        role = "update" if name.startswith("gru") else "forget"
        torch.testing.assert_close(
            gates[role], torch.full((2, H), torch.sigmoid(torch.tensor(1.0)).item())
        )
    # the rest keeps PyTorch's uniform(-1/sqrt(H), 1/sqrt(H)) init
    bound = H**-0.5
    default = CELLS[name](IN, H)
    assert all(p.abs().max() <= bound for p in default.parameters())


def test_rnn_ignores_forget_bias():
    torch.manual_seed(7)
    a = CELLS["rnn"](IN, H, forget_bias=1.0)
    torch.manual_seed(7)
    b = CELLS["rnn"](IN, H)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("name", NAMES)
def test_stack_equals_manual_stacking(name):
    torch.manual_seed(8)
    stack = CellStack(name, IN, H, num_layers=2, dropout=0.5).eval()
    assert stack.hidden_size == H and stack.num_layers == 2
    assert stack.has_cell_state == CELLS[name].has_cell_state
    assert stack.gate_names == CELLS[name].gate_names
    x = torch.randn(B, T, IN)
    states = [rand_state(name), rand_state(name)]
    out, new = stack(x, states)
    mid, s0 = stack.layers[0](x, states[0])
    ref, s1 = stack.layers[1](mid, states[1])
    torch.testing.assert_close(out, ref)
    assert_states_close(new[0], s0)
    assert_states_close(new[1], s1)

    h, _ = stack.step(x[:, 0], states)
    h0, _ = stack.layers[0].step(x[:, 0], states[0])
    h1, _ = stack.layers[1].step(h0, states[1])
    torch.testing.assert_close(h, h1)
    hg, gate_states, gates = stack.step_with_gates(x[:, 0], states)
    torch.testing.assert_close(hg, h)
    assert len(gates) == 2 and len(gate_states) == 2
    assert all(set(stack.gate_names) <= set(g) for g in gates)

    zs = stack.zero_state(B)
    assert len(zs) == 2 and all(len(s) == len(states[0]) for s in zs)
    assert all(t.shape == (B, H) and not t.any() for s in zs for t in s)


def test_stack_dropout_between_layers_only():
    torch.manual_seed(9)
    x = torch.randn(B, T, IN)
    one = CellStack("lstm", IN, H, num_layers=1, dropout=0.9).train()
    states = one.zero_state(B)
    torch.testing.assert_close(one(x, states)[0], one.layers[0](x, states[0])[0])
    two = CellStack("gru", IN, H, num_layers=2, dropout=0.9).train()
    states = two.zero_state(B)
    ref = two.layers[1](two.layers[0](x, states[0])[0], states[1])[0]
    assert not torch.allclose(two(x, states)[0], ref)


def test_unknown_cell_and_bad_states():
    with pytest.raises(ValueError, match="lstm"):
        CellStack("transformer", IN, H)
    stack = CellStack("rnn", IN, H, num_layers=2)
    with pytest.raises(ValueError):
        stack.step(torch.randn(B, IN), stack.zero_state(B)[:1])


@pytest.mark.parametrize("name", NAMES)
def test_step_from_projected_input_equals_step(name):
    """Decoding looks project(x) up in a table; stepping from it must be the same step."""
    torch.manual_seed(10)
    cell = CELLS[name](IN, H, forget_bias=1.0)
    x, state = torch.randn(B, IN), rand_state(name)
    assert cell.project(x).shape == (B, cell.num_chunks * H)
    h, new = cell.step_projected(cell.project(x), state)
    ref_h, ref = cell.step(x, state)
    torch.testing.assert_close(h, ref_h)
    assert_states_close(new, ref)
    stack = CellStack(name, IN, H, num_layers=2).eval()
    states = [rand_state(name), rand_state(name)]
    h, new = stack.step_projected(stack.layers[0].project(x), states)
    ref_h, ref = stack.step(x, states)
    torch.testing.assert_close(h, ref_h)
    for a, b in zip(new, ref, strict=True):
        assert_states_close(a, b)
    with pytest.raises(ValueError, match="2 layer states"):
        stack.step_projected(x, states[:1])


@pytest.mark.parametrize("name, parent, gate", [("lstm-open-output", "lstm", "output"),
                                                ("gru-open-reset", "gru", "reset")])
def test_ablation_is_its_parent_with_one_gate_open(name, parent, gate):
    """The ablated cell equals its parent whose fixed gate is forced to exactly 1, and the fused
    kernel's constant rows pass no gradient (σ(OPEN) == 1 exactly)."""
    torch.manual_seed(9)
    cell = CELLS[name](IN, H, forget_bias=1.0)
    full = CELLS[parent](IN, H)
    keep = [0, 1, 2] if parent == "lstm" else [1, 2]  # the parent's chunks the ablation has: (i, f, g) / (z, n)
    with torch.no_grad():
        for pname in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            src, dst = getattr(cell, pname), getattr(full, pname)
            dst.zero_()
            for k, c in enumerate(keep):
                dst[c * H : (c + 1) * H] = src[k * H : (k + 1) * H]
        open_rows = slice(3 * H, 4 * H) if parent == "lstm" else slice(0, H)
        full.bias_ih[open_rows] = 1e4  # the parent's gate saturated: exactly 1
    x, state = torch.randn(B, T, IN), rand_state(name)
    out, _ = cell(x, state)
    ref, _ = full(x, state)
    torch.testing.assert_close(out, ref)
    assert gate not in cell.gate_names and gate in full.gate_names
    assert sum(p.numel() for p in cell.parameters()) < sum(p.numel() for p in full.parameters())
