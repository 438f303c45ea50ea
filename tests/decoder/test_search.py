"""Greedy, beam search and sampling agree where they must, and honour every DecodeConfig knob."""

import pytest
import torch

from captioning.decoder import search as decoding
from captioning.decoder.config import DecoderConfig
from captioning.decoder.decode_config import DecodeConfig
from captioning.decoder.model import CaptionDecoder
from captioning.decoder.search import Hypothesis, decode, length_norm, trace_gates
from captioning.text.vocabulary import Vocabulary

pytestmark = pytest.mark.usefixtures("core_one_thread")

V, F = 14, 12
END = Vocabulary.end_id


def make_decoder(seed=0, cell="lstm", layers=1, sharpen=4.0):
    """A random decoder whose next-word distributions are peaked enough to have clear winners."""
    torch.manual_seed(seed)
    dec = CaptionDecoder(DecoderConfig(vocab_size=V, feature_dim=F, embed_dim=8, hidden_dim=16,
                                       num_layers=layers, cell=cell, dropout=0.3))
    with torch.no_grad():
        dec.out.weight.mul_(sharpen)
    return dec.eval()


def feats(n=6, seed=1):
    return torch.randn(n, F, generator=torch.Generator().manual_seed(seed))


def key(hyps):
    return [[(h.tokens, h.finished) for h in row] for row in hyps]


def has_repeated_trigram(seq):
    grams = [tuple(seq[i:i + 3]) for i in range(len(seq) - 2)]
    return len(grams) != len(set(grams))


@pytest.fixture(params=["lstm", "gru"])
def dec(request):
    return make_decoder(cell=request.param)


def test_greedy_is_the_argmax_path(dec):
    f = feats(3)
    (hyp,), = decode(dec, f[:1], DecodeConfig(max_len=12))
    states, tok, total, words = dec.init_state(f[:1]), torch.tensor([1]), 0.0, []
    with torch.no_grad():
        for _ in range(12):
            logp, states = dec.step(tok, states)
            logp[0, [0, 1, 3]] = float("-inf")  # <pad>, <start>, <unk> are never chosen
            tok = logp.argmax(-1)
            total += logp[0, tok].item()
            if tok.item() == END:
                break
            words.append(tok.item())
    assert hyp.tokens == words and hyp.logprob == pytest.approx(total, abs=1e-4)
    assert hyp.finished == (len(words) < 12)


def test_beam_size_one_equals_greedy_exactly(dec):
    f = feats(8)
    greedy = decode(dec, f, DecodeConfig("greedy", max_len=10))
    assert decode(dec, f, DecodeConfig("beam", beam_size=1, max_len=10)) == greedy
    # the beam search implementation itself, with one beam, takes the greedy path too
    with torch.inference_mode():
        beam1 = decoding._beam(dec, f, DecodeConfig("beam", beam_size=1, max_len=10))
    assert key(beam1) == key(greedy)
    assert [h[0].logprob for h in beam1] == pytest.approx([h[0].logprob for h in greedy], abs=1e-5)


@pytest.mark.parametrize("beam", [2, 4])
def test_batched_beam_equals_per_image_beam(dec, beam):
    f = feats(5)
    cfg = DecodeConfig("beam", beam_size=beam, n_best=beam, max_len=10)
    batched = decode(dec, f, cfg)
    for i in range(5):
        single = decode(dec, f[i:i + 1], cfg)[0]
        assert [h.tokens for h in single] == [h.tokens for h in batched[i]]
        assert [h.score for h in single] == pytest.approx([h.score for h in batched[i]], abs=1e-4)


def test_beam_finds_at_least_greedys_logprob(dec):
    f = feats(8)
    greedy = decode(dec, f, DecodeConfig(max_len=8))
    beam = decode(dec, f, DecodeConfig("beam", beam_size=4, max_len=8))
    g = sum(h[0].logprob for h in greedy) / 8
    b = sum(h[0].logprob for h in beam) / 8
    assert b >= g - 1e-5


@pytest.mark.parametrize("temperature", [0.0, 1e-6])
def test_sampling_at_temperature_zero_is_greedy(dec, temperature):
    f = feats(8)
    greedy = decode(dec, f, DecodeConfig(max_len=10))
    sampled = decode(dec, f, DecodeConfig("sample", temperature=temperature, seed=3, max_len=10))
    assert key(sampled) == key(greedy)
    assert [h[0].logprob for h in sampled] == pytest.approx([h[0].logprob for h in greedy], abs=1e-5)


def test_top_k_one_and_tiny_top_p_are_greedy(dec):
    f = feats(8)
    greedy = key(decode(dec, f, DecodeConfig(max_len=10)))
    assert key(decode(dec, f, DecodeConfig("sample", top_k=1, seed=5, max_len=10))) == greedy
    assert key(decode(dec, f, DecodeConfig("sample", top_p=1e-6, seed=5, max_len=10))) == greedy


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    dec = make_decoder(sharpen=1.0)  # flat distributions: samples vary
    f = feats(8)
    a = decode(dec, f, DecodeConfig("sample", seed=7, max_len=10))
    b = decode(dec, f, DecodeConfig("sample", seed=7, max_len=10))
    c = decode(dec, f, DecodeConfig("sample", seed=8, max_len=10))
    assert a == b
    assert key(a) != key(c)
    assert key(a) != key(decode(dec, f, DecodeConfig(max_len=10)))


def test_top_k_restricts_the_choice():
    dec = make_decoder(sharpen=1.0)
    f = feats(4)
    with torch.no_grad():
        first = dec.step(torch.full((4,), 1), dec.init_state(f))[0]
    first[:, [0, 1, 3]] = float("-inf")
    top2 = first.topk(2, -1).indices
    for seed in range(5):
        hyps = decode(dec, f, DecodeConfig("sample", top_k=2, seed=seed, max_len=1, min_len=0))
        for i, (h,) in enumerate(hyps):
            chosen = h.tokens[0] if h.tokens else END
            assert chosen in top2[i].tolist()


def test_n_best_lists_are_sorted_and_distinct(dec):
    hyps = decode(dec, feats(4), DecodeConfig("beam", beam_size=5, n_best=5, max_len=8))
    for row in hyps:
        assert len(row) == 5
        scores = [h.score for h in row]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in row}) == 5
        assert all(isinstance(h, Hypothesis) for h in row)


def test_beams_that_never_end_are_ended_at_max_len(dec):
    with torch.no_grad():
        dec.out.bias[END] = -1e4
    hyps = decode(dec, feats(3), DecodeConfig("beam", beam_size=3, n_best=3, max_len=6))
    for row in hyps:
        assert len(row) == 3
        assert all(len(h.tokens) == 6 and not h.finished for h in row)
        assert all(h.score == h.logprob for h in row)
    (greedy,), = decode(dec, feats(1), DecodeConfig(max_len=6))
    assert len(greedy.tokens) == 6 and not greedy.finished


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_min_len_is_respected(dec, strategy):
    with torch.no_grad():
        dec.out.bias[END] = 1e4  # <end> whenever allowed
    cfg = DecodeConfig(strategy, beam_size=3, min_len=0, seed=0)
    assert all(h[0].tokens == [] and h[0].finished for h in decode(dec, feats(3), cfg))
    cfg = DecodeConfig(strategy, beam_size=3, min_len=4, seed=0)
    assert all(len(h[0].tokens) == 4 and h[0].finished for h in decode(dec, feats(3), cfg))


def test_unk_is_never_generated_unless_allowed():
    dec = make_decoder()
    with torch.no_grad():
        dec.out.bias[Vocabulary.unk_id] = 50.0
    for cfg in (DecodeConfig(max_len=5), DecodeConfig("beam", beam_size=3, max_len=5),
                DecodeConfig("sample", seed=0, max_len=5)):
        assert all(Vocabulary.unk_id not in h.tokens for row in decode(dec, feats(3), cfg) for h in row)
    allowed = decode(dec, feats(3), DecodeConfig(max_len=5, allow_unk=True))
    assert all(h[0].tokens == [Vocabulary.unk_id] * 5 for h in allowed)


def test_trigram_blocking_leaves_no_repeated_trigram():
    dec = make_decoder(sharpen=6.0)
    with torch.no_grad():
        dec.out.bias[END] = -1e4  # long captions over a small vocabulary must repeat themselves
    f = feats(4)
    plain = decode(dec, f, DecodeConfig("beam", beam_size=3, n_best=3, max_len=14))
    assert any(has_repeated_trigram(h.tokens) for row in plain for h in row)  # the test bites
    blocked = decode(dec, f, DecodeConfig("beam", beam_size=3, n_best=3, max_len=14, block_trigrams=True))
    assert all(row for row in blocked)
    assert not any(has_repeated_trigram(h.tokens) for row in blocked for h in row)
    assert all(len(h.tokens) == 14 for row in blocked for h in row)


def test_length_norm_formula():
    assert length_norm(10, 0.0) == 1.0
    assert length_norm(7, 1.0) == pytest.approx(2.0)
    assert length_norm(1, 0.7) == pytest.approx(1.0)
    assert length_norm(13, 0.5) == pytest.approx(3 ** 0.5)


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_length_penalty_scores_follow_the_documented_formula(dec, strategy):
    alpha = 0.9
    f = feats(5)
    plain = decode(dec, f, DecodeConfig(strategy, beam_size=4, n_best=4 if strategy == "beam" else 1, max_len=9))
    hyps = decode(dec, f, DecodeConfig(strategy, beam_size=4, n_best=4 if strategy == "beam" else 1,
                                       max_len=9, length_penalty=alpha))
    for row in plain:
        assert all(h.score == h.logprob for h in row)
    for row in hyps:
        for h in row:
            length = len(h.tokens) + h.finished  # <end> counts when it was emitted
            assert h.score == pytest.approx(h.logprob / ((5 + length) / 6) ** alpha, rel=1e-6)
            assert h.score > h.logprob  # log-probs are negative: normalization raises them
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)


def test_length_penalty_favours_longer_captions():
    dec = make_decoder(sharpen=2.0)
    f = feats(8)
    mean_len = {}
    for alpha in (0.0, 2.0):
        hyps = decode(dec, f, DecodeConfig("beam", beam_size=5, max_len=12, length_penalty=alpha))
        mean_len[alpha] = sum(len(h[0].tokens) for h in hyps) / 8
    assert mean_len[2.0] >= mean_len[0.0]


def test_decode_fills_text_and_restores_training_mode():
    dec = make_decoder().train()
    vocab = Vocabulary([f"w{i}" for i in range(V - 4)])
    hyps = decode(dec, feats(2), DecodeConfig("beam", beam_size=2, n_best=2, max_len=5), vocab)
    assert dec.training
    assert all(h.text == vocab.decode(h.tokens) and h.text for row in hyps for h in row)


def test_trace_gates_records_every_word():
    dec = make_decoder(cell="lstm")
    gates = trace_gates(dec, feats(1)[0], [4, 5, 6])
    assert {"forget", "input", "output", "cell_norm"} <= set(gates)
    assert gates["forget"].shape == (4, 16) and gates["cell_norm"].shape == (4,)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strategy": "nucleus"}, "strategy: unknown"),
    ({"beam_size": 0}, ">= 1"),
    ({"max_len": 0}, ">= 1"),
    ({"strategy": "beam", "beam_size": 2, "n_best": 3}, r"n_best: 3 captions need beam_size >= 3, got 2"),
    ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_k": -1}, "top_k"),
])
def test_decode_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecodeConfig(**kwargs)


@pytest.mark.integration
def test_beam3_logprob_at_least_greedys_on_shared_coco(core_coco_run):
    from captioning.decoder.checkpoint import Checkpoint

    ckpt = Checkpoint.load(core_coco_run.out / "best")
    test = core_coco_run.split["test"]
    greedy = decode(ckpt.decoder, test.features, DecodeConfig(), ckpt.vocab)
    beam = decode(ckpt.decoder, test.features, DecodeConfig("beam", beam_size=3), ckpt.vocab)
    g = sum(h[0].logprob for h in greedy) / len(test)
    b = sum(h[0].logprob for h in beam) / len(test)
    assert b >= g
    assert sum(h[0].finished for h in beam) >= 0.9 * len(test)  # a trained model ends its captions
    assert all(h[0].text for h in beam)


@pytest.mark.parametrize("beam", [2, 3, 5])
def test_stopping_once_the_best_is_certain_changes_nothing(dec, beam):
    """n_best=1 ends an image as soon as no live beam can beat its best finished caption;
    n_best=beam keeps searching longer. The best caption must be the same either way."""
    f = feats(12, seed=4)
    for alpha in (0.0, 0.7):
        one = decode(dec, f, DecodeConfig("beam", beam_size=beam, n_best=1, max_len=12, length_penalty=alpha))
        full = decode(dec, f, DecodeConfig("beam", beam_size=beam, n_best=beam, max_len=12, length_penalty=alpha))
        assert [(r[0].tokens, r[0].score) for r in one] == [(r[0].tokens, r[0].score) for r in full]


def test_batched_greedy_equals_per_image_greedy(dec):
    """Rows leave the batch as they end; the others' captions must not notice."""
    f = feats(9, seed=5)
    batched = decode(dec, f, DecodeConfig(max_len=10))
    for i in range(9):
        (single,), = decode(dec, f[i:i + 1], DecodeConfig(max_len=10))
        assert single.tokens == batched[i][0].tokens and single.finished == batched[i][0].finished
        assert single.logprob == pytest.approx(batched[i][0].logprob, abs=1e-5)


class BigramDecoder(torch.nn.Module):
    """A stand-in decoder whose next word depends only on the last one: log-probs from a table."""

    def __init__(self, logp):
        super().__init__()
        self.register_buffer("logp", logp)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # decode() reads the device from here

    def init_state(self, features):
        return [(torch.zeros(features.size(0), 1),)]

    def step(self, tokens, states):
        return self.logp[tokens].clone(), states


def test_beam_keeps_searching_while_a_live_beam_can_still_win():
    """start -> A (0.5) -> <end> (0.5) finishes first, at log 0.25; start -> B (0.4) -> C (0.95)
    -> <end> (0.99) finishes a step later at log 0.376 and must win, at beam 2."""
    A, B, C, other = 4, 5, 6, 7
    probs = torch.full((8, 8), 1e-3)
    probs[1, A], probs[1, B] = 0.5, 0.4
    probs[A, END], probs[A, other] = 0.5, 0.4
    probs[B, C] = 0.95
    probs[C, END] = 0.99
    probs[other, END] = 0.9
    dec = BigramDecoder((probs / probs.sum(1, keepdim=True)).log())
    f = torch.zeros(3, 1)
    (best,), *_ = decode(dec, f, DecodeConfig("beam", beam_size=2, max_len=6))
    assert best.tokens == [B, C]
    assert best.logprob == pytest.approx(float(dec.logp[1, B] + dec.logp[B, C] + dec.logp[C, END]), abs=1e-6)
    (greedy,), *_ = decode(dec, f, DecodeConfig(max_len=6))
    assert greedy.tokens == [A] and greedy.logprob < best.logprob


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cfg", [DecodeConfig(max_len=10), DecodeConfig("beam", beam_size=3, n_best=3, max_len=10),
                                 DecodeConfig("sample", temperature=0, max_len=10)])
def test_cuda_decoding_matches_cpu(dec, cfg):
    f = feats(16, seed=6)
    cpu = decode(dec, f, cfg)
    gpu = decode(dec.cuda(), f.cuda(), cfg)
    assert key(gpu) == key(cpu)
    assert [h[0].logprob for h in gpu] == pytest.approx([h[0].logprob for h in cpu], abs=1e-4)
