"""CaptionDecoder shapes for every cell, init-inject really starts from the image, config checks."""

import json

import pytest
import torch

from captioning.decoder.config import DecoderConfig
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.stack import CELLS

pytestmark = pytest.mark.usefixtures("core_one_thread")

B, T, F, E, H, V = 3, 5, 12, 8, 10, 17


def make(cell="lstm", layers=1, inject="init", tie=False, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = DecoderConfig(vocab_size=V, feature_dim=F, embed_dim=E, hidden_dim=H, num_layers=layers,
                        dropout=0.3, cell=cell, inject=inject, tie_weights=tie, **kw)
    return CaptionDecoder(cfg).eval()


@pytest.mark.parametrize("inject", ["init", "pre"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_forward_and_step_shapes(cell, layers, inject):
    dec = make(cell, layers, inject)
    feats, tokens = torch.randn(B, F), torch.randint(1, V, (B, T))
    logits = dec(feats, tokens)
    assert logits.shape == (B, T, V) and torch.isfinite(logits).all()
    states = dec.init_state(feats)
    n_state = 2 if CELLS[cell].has_cell_state else 1
    assert len(states) == layers
    assert all(len(s) == n_state and all(x.shape == (B, H) for x in s) for s in states)
    logp, new = dec.step(tokens[:, 0], states)
    assert logp.shape == (B, V)
    assert torch.allclose(logp.logsumexp(-1), torch.zeros(B), atol=1e-5)  # log-probabilities
    assert len(new) == layers and all(x.shape == (B, H) for s in new for x in s)
    # teacher forcing == stepping word by word (eval mode: no dropout)
    stepped, states = [], dec.init_state(feats)
    for t in range(T):
        lp, states = dec.step(tokens[:, t], states)
        stepped.append(lp)
    assert torch.allclose(torch.stack(stepped, 1), logits.log_softmax(-1), atol=1e-5)
    lp, _, gates = dec.step_with_gates(tokens[:, 0], dec.init_state(feats))
    assert torch.allclose(lp, logp, atol=1e-6) and len(gates) == layers


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tie_weights_shares_the_embedding_matrix(cell):
    dec = make(cell, tie=True)
    assert dec.out.weight is dec.embed.weight
    assert dec.out.weight.shape == (V, E) and isinstance(dec.bridge, torch.nn.Linear)
    assert dec(torch.randn(B, F), torch.randint(1, V, (B, T))).shape == (B, T, V)
    untied = make(cell)
    assert isinstance(untied.bridge, torch.nn.Identity) and untied.out.weight.shape == (V, H)
    assert dec.num_parameters() == sum(p.numel() for p in dec.parameters())
    # the shared matrix is counted once: embedding + bridge + output bias, no V x E output matrix
    assert dec.num_parameters() - untied.num_parameters() == (H * E + E) - H * V


@pytest.mark.parametrize(("cell", "layers"), [("lstm", 1), ("lstm", 2), ("peephole", 2), ("cifg", 1),
                                              ("gru", 2), ("rnn", 1)])
def test_init_inject_state_is_tanh_of_linear_image(cell, layers):
    dec = make(cell, layers)
    feats = torch.randn(B, F)
    full = torch.tanh(feats @ dec.image.weight.T + dec.image.bias)
    n_state = 2 if CELLS[cell].has_cell_state else 1
    assert full.shape == (B, layers * n_state * H)
    states = dec.init_state(feats)
    flat = [x for layer in states for x in layer]  # layer 0 (h, c), layer 1 (h, c), ...
    assert torch.equal(torch.cat(flat, 1), full)
    other = dec.init_state(torch.randn(B, F))
    assert all(not torch.allclose(a, b) for s, o in zip(states, other) for a, b in zip(s, o))
    # different images, different first-word distributions
    start = torch.full((B,), 1)
    lp1, _ = dec.step(start, states)
    lp2, _ = dec.step(start, other)
    assert not torch.allclose(lp1, lp2)


def test_pre_inject_feeds_the_image_as_first_input():
    dec = make("lstm", 2, "pre")
    assert dec.image.out_features == E
    feats = torch.randn(B, F)
    zero = dec.rnn.zero_state(B)
    _, expected = dec.rnn.step(torch.tanh(dec.image(feats)), zero)
    got = dec.init_state(feats)
    assert all(torch.equal(a, b) for s, e in zip(got, expected) for a, b in zip(s, e))
    assert not torch.allclose(got[0][0], dec.init_state(torch.randn(B, F))[0][0])


def test_padding_embedding_is_zero_and_forget_bias_is_applied():
    dec = make("lstm", forget_bias=1.0)
    assert torch.equal(dec.embed.weight[0], torch.zeros(E))
    assert dec.cfg.forget_bias == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cell": "transformer"}, r"cell: unknown 'transformer'"),
    ({"inject": "post"}, r"inject: unknown 'post'"),
    ({"vocab_size": 0}, r"must be >= 1"),
    ({"hidden_dim": 0}, r"must be >= 1"),
    ({"num_layers": 0}, r"must be >= 1"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecoderConfig(**{"vocab_size": 10, **kwargs})


def test_config_round_trip():
    cfg = DecoderConfig(vocab_size=99, feature_dim=64, embed_dim=16, hidden_dim=24, num_layers=2,
                        dropout=0.1, cell="cifg", inject="pre", tie_weights=True, forget_bias=2.0)
    assert DecoderConfig.from_dict(cfg.to_dict()) == cfg
    assert DecoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert DecoderConfig.from_dict({"vocab_size": 5}) == DecoderConfig(vocab_size=5)
    with pytest.raises(ValueError, match="unknown DecoderConfig field"):
        DecoderConfig.from_dict({**cfg.to_dict(), "attention": True})


@pytest.mark.parametrize("cell", list(CELLS))
def test_decoding_step_uses_the_input_table_and_matches_the_plain_step(cell):
    dec = make(cell, layers=2)
    feats, tokens = torch.randn(B, F), torch.randint(1, V, (B,))
    plain, plain_states = dec.step(tokens, dec.init_state(feats))  # autograd on: no table
    with torch.no_grad(), dec.decoding_table():
        assert dec._table.shape == (V, dec.rnn.layers[0].num_chunks * H)
        fast, fast_states = dec.step(tokens, dec.init_state(feats))
    assert dec._table is None  # gone with the block
    torch.testing.assert_close(fast, plain)
    for a, b in zip(fast_states, plain_states, strict=True):
        torch.testing.assert_close(a, b)


def test_the_input_table_cannot_go_stale():
    """The table lives for one decoding block: a weight change (even through .data) or a
    change of autocast between blocks is always seen."""
    dec, tokens = make(), torch.arange(1, 5)
    state = dec.init_state(torch.randn(4, F))
    with torch.no_grad():
        with dec.decoding_table():
            before = dec.step(tokens, state)[0]
        dec.embed.weight.data[1:5] += 1.0  # invisible to version counters
        with dec.decoding_table():
            after = dec.step(tokens, state)[0]
        plain = dec.step(tokens, state)[0]  # outside the block: no table
        assert not torch.allclose(before, after)
        torch.testing.assert_close(after, plain)
        with torch.autocast("cpu", dtype=torch.bfloat16), dec.decoding_table():
            assert dec._table.dtype == torch.bfloat16
        with dec.decoding_table():
            assert dec._table.dtype == torch.float32


def test_explicit_dropout_masks_replace_dropout():
    dec = make()
    dec.cfg.dropout = 0.5
    masks = dec.dropout_masks(3, 4, torch.Generator().manual_seed(0))
    assert masks[0].shape == (3, 4, dec.cfg.embed_dim) and set(masks[0].unique().tolist()) <= {0.0, 2.0}
    feats, tokens = torch.randn(3, F), torch.randint(1, V, (3, 4))
    dec.eval()
    full = dec(feats, tokens, masks).log_softmax(-1)
    states = dec.init_state(feats)
    for t in range(4):  # step t with the masks of step t: the same log-probabilities
        logp, states = dec.step(tokens[:, t], states, (masks[0][:, t], masks[1][:, t]))
        torch.testing.assert_close(logp, full[:, t])
    ones = tuple(torch.ones_like(m) for m in masks)
    torch.testing.assert_close(dec(feats, tokens, ones), dec(feats, tokens))
