"""Checked exercises for the notebooks: each check_* runs the learner's function on small inputs,
compares it with what the package itself computes, and answers in one friendly line.

A checker never raises: a stub that still raises NotImplementedError, a crash or a wrong answer
each get their own line, so a notebook runs top to bottom whatever the learner wrote."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..decoder.cells import GRU, LSTM
from ..decoder.config import DecoderConfig
from ..decoder.ensemble import Ensemble
from ..decoder.model import CaptionDecoder
from ..decoder.sampling import top_p_filter
from ..decoder.search import length_norm
from ..training.scst import advantages
from .stats import coverage_by_min_count


@dataclass(frozen=True)
class Check:
    """A checker's answer: ok, and the one line a notebook shows."""

    ok: bool
    message: str

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def judge(name: str, call: Callable[[], Any], compare: Callable[[Any], str | None], praise: str) -> Check:
    """Run the learner's code (call), then compare(result) -> None when right, else what is wrong."""
    try:
        got = call()
    except NotImplementedError:
        return Check(False, f"✎ {name} is not written yet: replace `raise NotImplementedError` "
                            "with your code and rerun the cell.")
    except Exception as error:  # the learner's code may fail in any way: say how, in one line
        return Check(False, f"✗ {name} raised {_first_line(error)}")
    try:
        problem = compare(got)
    except Exception as error:
        problem = f"its result could not be compared ({_first_line(error)})"
    return Check(True, f"✓ Right: {praise}") if problem is None else Check(False, f"✗ Not yet: {name} {problem}")


def tensors_differ(got: Any, want: Tensor, what: str, atol: float = 1e-5) -> str | None:
    """None when got is a tensor equal to want (within atol), else what differs, in words."""
    if not isinstance(got, Tensor):
        return f"returned a {type(got).__name__} for {what}, expected a tensor"
    if got.shape != want.shape:
        return f"returned {what} of shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    gap = float((got.detach().double() - want.detach().double()).abs().max())
    return None if gap <= atol else f"returned a {what} that is off by up to {gap:.3g}"


# 01 · the <unk> rate of held-out captions at a minimum count ---------------------------------

VOCAB_TRAIN = ["A dog runs on the grass.", "Two dogs play on the beach!", "A dog and a cat sit on a sofa.",
               "A man's dog jumps over a log.", "The cat sleeps on the sofa.", "A man walks his dog."]
VOCAB_HELDOUT = ["A dog sleeps on the BEACH.", "A zebra runs on the grass!", "Two cats play with a man's dog."]


def check_unk_rate(fn: Callable[[Sequence[str], Sequence[str], int], float]) -> Check:
    """fn(train_captions, heldout_captions, min_count) -> the share of held-out words that are <unk>."""
    counts = (1, 2, 3)
    want = {r["min_count"]: r["unk_rate"] for r in coverage_by_min_count(VOCAB_TRAIN, VOCAB_HELDOUT, counts)}

    def compare(got: list) -> str | None:
        for m, value in zip(counts, got):
            if abs(float(value) - want[m]) > 1e-9:
                return (f"gives {float(value):.3f} at min_count={m}, expected {want[m]:.3f} (tokenize both "
                        "sides with the COCO rule and count the train words only)")
        return None

    return judge("my_unk_rate", lambda: [fn(VOCAB_TRAIN, VOCAB_HELDOUT, m) for m in counts], compare,
                 "your <unk> rates match lab.stats.coverage_by_min_count at min_count 1, 2 and 3.")


# 02 · the image vector as (h0, c0) ------------------------------------------------------------

def check_init_state(fn: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]) -> Check:
    """fn(v, W, b) -> (h0, c0) = the two halves of tanh(W v + b), v [B, F], W [2H, F], b [2H]."""
    torch.manual_seed(0)
    decoder = CaptionDecoder(DecoderConfig(vocab_size=12, feature_dim=6, embed_dim=4, hidden_dim=5)).eval()
    v = torch.randn(3, 6)
    with torch.no_grad():
        h0, c0 = decoder.init_state(v)[0]

    def compare(got: Any) -> str | None:
        if not isinstance(got, tuple | list) or len(got) != 2:
            return "should return a pair (h0, c0)"
        if tensors_differ(got[0], c0, "h0") is None and tensors_differ(got[1], h0, "c0") is None:
            return "returns h0 and c0 swapped: the first H outputs of the projection are h0"
        return tensors_differ(got[0], h0, "h0") or tensors_differ(got[1], c0, "c0")

    with torch.no_grad():
        return judge("my_init_state", lambda: fn(v, decoder.image.weight, decoder.image.bias), compare,
                     "your (h0, c0) equals CaptionDecoder.init_state for every image.")


# 03 · the GNMT length penalty in beam search --------------------------------------------------

def check_beam_score(fn: Callable[[float, int, float], float]) -> Check:
    """fn(logprob, length, alpha) -> the score beam search ranks finished captions by."""
    cases = [(-6.0, 8, 0.0), (-6.0, 8, 1.0), (-9.5, 12, 1.0), (-3.2, 4, 2.0), (-12.0, 15, 0.7)]
    want = [lp / length_norm(n, a) for lp, n, a in cases]

    def compare(got: list) -> str | None:
        for (lp, n, a), g, w in zip(cases, got, want):
            if abs(float(g) - w) > 1e-6:
                return f"gives {float(g):.4f} for logprob {lp}, length {n}, α {a}; expected {w:.4f}"
        return None

    return judge("my_beam_score", lambda: [fn(*case) for case in cases], compare,
                 "your scores match the beam search's GNMT length penalty.")


# 04 · one LSTM step and one GRU step by hand --------------------------------------------------

def check_lstm_step(fn: Callable[..., tuple[Tensor, Tensor]]) -> Check:
    """fn(x, h, c, W_ih, W_hh, b) -> (h, c) of one LSTM step, gates in PyTorch's order i, f, g, o;
    compared with both the fused kernel and LSTM._recur of captioning's LSTM."""
    torch.manual_seed(0)
    cell = LSTM(input_size=6, hidden_size=5, forget_bias=1.0)
    x, h, c = torch.randn(3, 6), torch.randn(3, 5), torch.randn(3, 5)
    with torch.no_grad():
        fused_h, (_, fused_c) = cell.step(x, (h, c))
        recur_h, (_, recur_c), _ = cell._recur(cell.project(x), (h, c))

    def compare(got: Any) -> str | None:
        if not isinstance(got, tuple | list) or len(got) != 2:
            return "should return a pair (h, c)"
        for ref, (want_h, want_c) in {"the fused kernel": (fused_h, fused_c), "_recur": (recur_h, recur_c)}.items():
            if problem := tensors_differ(got[1], want_c, "c") or tensors_differ(got[0], want_h, "h"):
                return f"{problem} against {ref} (gate order i, f, g, o?)"
        return None

    with torch.no_grad():
        return judge("my_lstm_step", lambda: fn(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh),
                     compare, "your step matches captioning's LSTM, fused kernel and _recur alike.")


def check_gru_step(fn: Callable[..., Tensor]) -> Check:
    """fn(x, h, W_ih, W_hh, b_ih, b_hh) -> the new h of one GRU step (reset-after form, chunks r, z, n)."""
    torch.manual_seed(0)
    cell = GRU(input_size=6, hidden_size=5, forget_bias=1.0)
    x, h = torch.randn(3, 6), torch.randn(3, 5)
    with torch.no_grad():
        want, _ = cell.step(x, (h,))
        return judge("my_gru_step", lambda: fn(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                     lambda got: tensors_differ(got, want, "h"), "your step matches captioning's GRU.")


# 05 · an ensemble's next-word distribution ----------------------------------------------------

def check_ensemble_logp(fn: Callable[[Tensor], Tensor]) -> Check:
    """fn(member_logps [M, B, V]) -> the ensemble's log-probabilities [B, V], as Ensemble.step."""
    torch.manual_seed(0)
    cfg = DecoderConfig(vocab_size=9, feature_dim=6, embed_dim=4, hidden_dim=5)
    members = [CaptionDecoder(cfg).eval() for _ in range(3)]
    features, tokens = torch.randn(2, 6), torch.tensor([1, 4])
    with torch.no_grad():
        want, _ = Ensemble(members).step(tokens, Ensemble(members).init_state(features))
        logps = torch.stack([m.step(tokens, m.init_state(features))[0] for m in members])

    def compare(got: Any) -> str | None:
        if isinstance(got, Tensor) and got.shape == want.shape and tensors_differ(got, logps.mean(0), "") is None:
            return "averages the log-probabilities but does not renormalize: exp of a row must sum to 1"
        return tensors_differ(got, want, "log-probability table")

    with torch.no_grad():
        return judge("my_ensemble_logp", lambda: fn(logps), compare,
                     "your ensemble distribution matches captioning's Ensemble.step.")


# 06 · the SCST advantage with the greedy baseline ---------------------------------------------

def check_advantages(fn: Callable[[Tensor, Tensor, int], Tensor]) -> Check:
    """fn(rewards [B*K], greedy_rewards [B], k) -> r - b for every sample, b the image's greedy reward."""
    torch.manual_seed(0)
    k, rewards, greedy = 3, torch.rand(4 * 3), torch.rand(4)
    want = advantages(rewards, k, "greedy", greedy)

    def compare(got: Any) -> str | None:
        if isinstance(got, Tensor) and got.shape == want.shape and \
                tensors_differ(got, rewards - greedy.repeat(k), "") is None:
            return "pairs samples with the wrong image: the K samples of image i are rows i*K ... i*K+K-1"
        return tensors_differ(got, want, "advantage vector")

    return judge("my_advantages", lambda: fn(rewards.clone(), greedy.clone(), k), compare,
                 "your advantages match training.scst.advantages with the greedy baseline.")


# 07 · the nucleus (top-p) of one sampling step -------------------------------------------------

def _nucleus_cases() -> list[tuple[Tensor, float, float]]:
    """Next-word log-probabilities [V] (words decoding never emits at -inf), with a temperature and
    a top-p each; no word's cumulative probability lies within 5e-3 of top-p (no rounding ties)."""
    rows = (1.5 * torch.randn(4, 30, generator=torch.Generator().manual_seed(13))).log_softmax(-1)
    rows[:, :3] = float("-inf")  # like <pad>, <start> and <unk>
    return [(rows[0], 1.0, 0.5), (rows[1], 1.0, 0.9), (rows[2], 0.5, 0.9), (rows[3], 1.5, 0.8), (rows[0], 2.0, 0.3)]


def _kept(logp: Tensor, temperature: float, top_p: float) -> set[int]:
    return set(torch.nonzero(top_p_filter(logp / temperature, top_p) > float("-inf")).view(-1).tolist())


def check_nucleus(fn: Callable[[Tensor, float, float], Sequence[int]]) -> Check:
    """fn(logp [V], temperature, top_p) -> the ids of the words top-p sampling may draw at this step,
    compared with what decoder.sampling.top_p_filter (what decoder.search samples through) keeps."""
    cases = _nucleus_cases()

    def compare(got: list) -> str | None:
        for (logp, t, p), ids in zip(cases, got):
            want, probs = _kept(logp, t, p), (logp / t).softmax(-1)
            if not isinstance(ids, Tensor | list | tuple):
                return f"returned a {type(ids).__name__}, expected the word ids as a list (or a tensor)"
            mine = [int(i) for i in (ids.reshape(-1).tolist() if isinstance(ids, Tensor) else ids)]
            if len(set(mine)) < len(mine):
                return "lists a word more than once"
            if set(mine) == want:
                continue
            below = {i for i in want if float(probs[probs > probs[i]].sum() + probs[i]) < p}
            if set(mine) == below:
                return (f"stops before the word that takes the sum past top-p {p}: the nucleus is the "
                        "smallest set of most likely words whose probabilities reach top-p, that word included")
            if t != 1 and set(mine) == _kept(logp, 1.0, p):
                return f"ignores the temperature ({t}): divide the log-probabilities by it before the softmax"
            missing, extra = sorted(want - set(mine)), sorted(set(mine) - want)
            which = f"word {missing[0]} is missing" if missing else f"word {extra[0]} is not in it"
            return f"keeps {len(mine)} words at temperature {t}, top-p {p}, sampling {len(want)} ({which})"
        return None

    return judge("my_nucleus", lambda: [fn(logp.clone(), t, p) for logp, t, p in cases], compare,
                 "your nucleus is the set of words decoder.search samples from, at every temperature and top-p.")
