"""The stacked ensemble step (every member's LSTM and output layer as one batched computation)
gives the member-by-member step's log-probabilities, so captions do not change."""

import contextlib

import pytest
import torch

from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.ensemble import Ensemble, _Stacked
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.search import decode

pytestmark = pytest.mark.usefixtures("core_one_thread")


def members(n=3, **kw):
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        decoder = CaptionDecoder(DecoderConfig(vocab_size=30, feature_dim=6, embed_dim=8, hidden_dim=8, **kw))
        with torch.no_grad():
            decoder.out.weight.mul_(4)  # peaked distributions: beams that differ
        out.append(decoder.eval())
    return out


FEATURES = torch.randn(7, 6, generator=torch.Generator().manual_seed(1))
SETTINGS = (DecodeConfig(), DecodeConfig("beam", beam_size=3, n_best=2), DecodeConfig("beam", beam_size=4))


def test_stacked_and_member_steps_give_the_same_captions(monkeypatch):
    ens = Ensemble(members())
    assert ens.stackable
    calls = []
    step = Ensemble._stacked_step
    monkeypatch.setattr(Ensemble, "_stacked_step", lambda self, *a: calls.append(1) or step(self, *a))
    for cfg in SETTINGS:
        stacked = decode(ens, FEATURES, cfg)
        assert calls, "decode did not step stacked"
        calls.clear()
        ens.stackable = False
        loop = decode(ens, FEATURES, cfg)
        ens.stackable = True
        assert [[h.tokens for h in r] for r in stacked] == [[h.tokens for h in r] for r in loop]
        assert [h.logprob for r in stacked for h in r] == pytest.approx([h.logprob for r in loop for h in r], abs=1e-5)


def test_steps_run_stacked_only_inside_decoding_tables():
    ens = Ensemble(members()).eval()
    with torch.inference_mode():
        assert isinstance(ens.init_state(FEATURES), list)  # no tables: member by member
        with contextlib_tables(ens):
            state = ens.init_state(FEATURES)
            assert isinstance(state, _Stacked) and state[0].shape == (7, 3, 8)


def test_a_weight_change_reaches_the_stacked_step():
    ens = Ensemble(members())
    before = decode(ens, FEATURES, DecodeConfig())
    with torch.no_grad():
        ens.members[1].out.bias[5] += 50  # word 5 now wins everywhere
    after = decode(ens, FEATURES, DecodeConfig(max_len=3))
    assert after != before and all(h[0].tokens[0] == 5 for h in after)


def test_other_shapes_step_member_by_member():
    assert not Ensemble(members(num_layers=2)).stackable
    assert not Ensemble(members(cell="gru")).stackable
    assert not Ensemble(members(1)).stackable


def contextlib_tables(ens):
    stack = contextlib.ExitStack()
    for m in ens.members:
        stack.enter_context(m.decoding_table())
    return stack
