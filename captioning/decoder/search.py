"""Attention-free decoding, batched over images: greedy, beam search and sampling.

Every strategy advances the model through one shared `_step`, so they cannot disagree about
the model, its masking of special tokens or the minimum length; self-critical training samples
through it too (`generate_ids`, with its own dropout masks) and recomputes log-probabilities
under the same masks (`mask_logits`). Work shrinks as captions end: a finished row (greedy,
sampling) or a settled image (beam) leaves the batch, and the rest run on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import torch
from torch import Tensor

from ..text.vocabulary import Vocabulary
from .decode_config import DecodeConfig
from .model import CaptionDecoder, MaskedSteps, Masks
from .sampling import NEG, top_k_filter, top_p_filter


class StepDecoder(Protocol):
    """What decoding needs of a model: CaptionDecoder and Ensemble both provide it."""

    training: bool

    def init_state(self, features: Tensor) -> Any: ...
    def step(self, tokens: Tensor, states: Any) -> tuple[Tensor, Any]: ...
    def parameters(self): ...
    def eval(self): ...
    def train(self, mode: bool = True): ...


@dataclass
class Hypothesis:
    """One caption: word ids (no <start>/<end>), total log-prob, length-normalized score."""

    tokens: list[int]
    logprob: float
    score: float
    finished: bool = True
    text: str = field(default="", compare=False)


def length_norm(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha if alpha else 1.0


def _step(decoder: StepDecoder, tokens: Tensor, states, t: int, cfg: DecodeConfig):
    """One model step plus the masks every strategy shares: no <pad>/<start>, optional <unk>,
    and no <end> before min_len words."""
    logp, states = decoder.step(tokens, states)
    return logp.index_fill_(1, _banned(cfg.allow_unk, t < cfg.min_len, logp.device), NEG), states


def _banned_ids(allow_unk: bool, no_end: bool) -> list[int]:
    ids = [Vocabulary.pad_id, Vocabulary.start_id] + [Vocabulary.unk_id] * (not allow_unk)
    return ids + [Vocabulary.end_id] * no_end


@lru_cache(maxsize=16)
def _banned(allow_unk: bool, no_end: bool, device: torch.device) -> Tensor:
    """The word ids _step forbids, made once per device rather than at every step."""
    return torch.tensor(_banned_ids(allow_unk, no_end), device=device)


def mask_logits(logits: Tensor, cfg: DecodeConfig) -> Tensor:
    """Teacher-forced logits [R, T, V] with _step's masks applied at every step t (a copy). The
    ids are made afresh: autograd keeps them, and a cached one may be an inference tensor."""
    logits = logits.index_fill(2, torch.tensor(_banned_ids(cfg.allow_unk, False), device=logits.device), NEG)
    if cfg.min_len:
        logits[:, :cfg.min_len, Vocabulary.end_id] = NEG
    return logits


def _select(states, index: Tensor):
    """The rows `index` of every tensor in a (nested list/tuple) decoder state."""
    if isinstance(states, Tensor):
        return states.index_select(0, index)
    return type(states)(_select(s, index) for s in states)


def _start(decoder: StepDecoder, features: Tensor):
    tokens = torch.full((features.size(0),), Vocabulary.start_id, dtype=torch.long, device=features.device)
    return tokens, decoder.init_state(features)


def _pick(logp: Tensor, cfg: DecodeConfig, gen: torch.Generator | None) -> Tensor:
    """Greedy argmax, or a sample with temperature / top-k / top-p."""
    if not cfg.do_sample or cfg.temperature == 0:
        return logp.argmax(-1)
    logits = top_p_filter(top_k_filter(logp / cfg.temperature, cfg.top_k), cfg.top_p)
    return torch.multinomial(logits.float().softmax(-1), 1, generator=gen).squeeze(1)


def _rows(decoder: StepDecoder, features: Tensor, cfg: DecodeConfig, gen: torch.Generator | None
          ) -> tuple[Tensor, Tensor, Tensor]:
    """Greedy or sampled decoding of one row per feature; a row leaves the batch as soon as it
    emits <end>. Returns word ids [B, max_len] (<end> kept, <pad> after), log-probs, finished."""
    n, dev = features.size(0), features.device
    tokens, states = _start(decoder, features)
    out = torch.full((n, cfg.max_len), Vocabulary.pad_id, dtype=torch.long, device=dev)
    logprob = torch.zeros(n, device=dev)
    finished = torch.zeros(n, dtype=torch.bool, device=dev)
    ids = torch.arange(n, device=dev)  # which images the live rows belong to
    for t in range(cfg.max_len):
        logp, states = _step(decoder, tokens, states, t, cfg)
        tokens = _pick(logp, cfg, gen)
        logprob[ids] += logp.gather(1, tokens[:, None]).squeeze(1).float()
        out[ids, t] = tokens
        ended = tokens == Vocabulary.end_id
        if ended.any():
            finished[ids[ended]] = True
            keep = (~ended).nonzero().view(-1)
            if keep.numel() == 0:
                break
            ids, tokens, states = ids[keep], tokens[keep], _select(states, keep)
    return out, logprob, finished


def _greedy_or_sample(decoder: StepDecoder, features: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Greedy or sampled decoding as one hypothesis per image."""
    gen = None
    if cfg.do_sample and cfg.seed is not None:
        gen = torch.Generator(device=features.device).manual_seed(cfg.seed)
    out, logprob, finished = _rows(decoder, features, cfg, gen)
    hyps = []
    for row, lp, fin in zip(out.tolist(), logprob.tolist(), finished.tolist()):
        words = [w for w in row if w not in (Vocabulary.pad_id, Vocabulary.end_id)]
        length = len(words) + fin
        hyps.append([Hypothesis(words, lp, lp / length_norm(length, cfg.length_penalty), fin)])
    return hyps


@torch.no_grad()
def generate_ids(decoder: CaptionDecoder, features: Tensor, cfg: DecodeConfig, masks: Masks | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """One greedy or sampled caption per feature row as word ids [B, max_len] (<end> included,
    <pad> after), in eval mode; masks ([B, max_len, E], [B, max_len, H]) sample with those dropout
    masks. No inference mode: the ids may index tensors that need gradients (SCST)."""
    with _eval(decoder), _tables(decoder) if masks is None else contextlib.nullcontext():
        return _rows(decoder if masks is None else MaskedSteps(decoder, masks), features, cfg, generator)[0]


def _block_trigrams(logp: Tensor, seqs: Tensor, t: int) -> None:
    """Forbid, in place, any word that would repeat a trigram already in the row's sequence."""
    if t < 3:
        return
    rows = seqs[:, :t].tolist()
    for r, seq in enumerate(rows):
        a, b = seq[-2], seq[-1]
        banned = [seq[i + 2] for i in range(t - 2) if seq[i] == a and seq[i + 1] == b]
        if banned:
            logp[r, banned] = NEG


def _beam(decoder: StepDecoder, features: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Batched beam search: the live images' beams advance as one batch of rows.

    Each step ranks the 2k best extensions per image. An <end> candidate that ranks above the
    k-th live extension is finished; the k best others stay live. An image leaves the batch
    once its n_best finished hypotheses are ones no live beam can still beat (so stopping early
    never changes the result); beams still live at max_len are ended there and kept. All beams
    start identical, so the first step runs one row per image."""
    n, k, dev = features.size(0), cfg.num_beams, features.device
    tokens, states = _start(decoder, features)
    ids = torch.arange(n, device=dev)  # the live images, as indices into features
    scores = torch.zeros(n, 1, device=dev)  # [live images, beams so far]
    seqs = torch.zeros(n, cfg.max_len, dtype=torch.long, device=dev)
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    bar = torch.full((n,), NEG, device=dev)  # n_best-th best finished score of each image
    bound_norm = length_norm(cfg.max_len, cfg.length_penalty)
    for t in range(cfg.max_len):
        logp, states = _step(decoder, tokens, states, t, cfg)
        if cfg.block_trigrams:
            _block_trigrams(logp, seqs, t)
        m, beams, vocab = scores.size(0), scores.size(1), logp.size(1)
        cand = (scores.view(-1, 1) + logp).view(m, beams * vocab)
        top_s, top_i = cand.topk(min(2 * k, beams * vocab), dim=1)  # best first
        beam, word = top_i // vocab, top_i % vocab
        is_end = (word == Vocabulary.end_id) & (top_s > NEG)
        live_before = (~is_end).long().cumsum(1) - (~is_end).long()
        ending = (is_end & (live_before < k)).nonzero()
        if len(ending):
            b, j = ending[:, 0], ending[:, 1]
            words = seqs.index_select(0, b * beams + beam[b, j])[:, :t].tolist()
            norm = length_norm(t + 1, cfg.length_penalty)
            for img, s, w in zip(ids[b].tolist(), top_s[b, j].tolist(), words):
                finished[img].append(Hypothesis(w, s, s / norm, True))
                if len(finished[img]) >= cfg.n_best:
                    bar[img] = sorted(h.score for h in finished[img])[-cfg.n_best]
        order = (is_end.long() * 2 * k + torch.arange(top_s.size(1), device=dev)).argsort(1)[:, :k]
        rows = (torch.arange(m, device=dev)[:, None] * beams + beam.gather(1, order)).view(-1)
        scores, tokens = top_s.gather(1, order), word.gather(1, order).view(-1)
        seqs = seqs.index_select(0, rows)
        seqs[:, t] = tokens
        states = _select(states, rows)
        # log-probs only fall, so no live beam can score above its score / ((5 + max_len) / 6)^a
        done = (scores.max(1).values / bound_norm <= bar[ids]) & (bar[ids] > NEG)
        if done.any():
            keep = (~done).nonzero().view(-1)
            rows = (keep[:, None] * k + torch.arange(k, device=dev)).view(-1)
            ids, scores, tokens = ids[keep], scores[keep], tokens[rows]
            seqs, states = seqs.index_select(0, rows), _select(states, rows)
            if keep.numel() == 0:
                break
    live_seqs = seqs.view(-1, k, cfg.max_len).tolist()
    for img, row_scores, row_seqs in zip(ids.tolist(), scores.tolist(), live_seqs):
        for s, words in zip(row_scores, row_seqs):  # never emitted <end>: ended at max_len, kept
            if s > NEG:
                finished[img].append(Hypothesis(words, s, s / length_norm(len(words), cfg.length_penalty), False))
    return [_best_unique(hyps, cfg.n_best) for hyps in finished]


def _best_unique(hyps: list[Hypothesis], n: int) -> list[Hypothesis]:
    """The n best-scoring hypotheses with distinct word sequences, best first."""
    unique: dict[tuple, Hypothesis] = {}
    for h in sorted(hyps, key=lambda h: -h.score):
        unique.setdefault(tuple(h.tokens), h)
    return list(unique.values())[:n]


def _samples(decoder: StepDecoder, features: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """n_best samples per image (duplicates dropped), best first."""
    k = cfg.n_best
    draws = _greedy_or_sample(decoder, features.repeat_interleave(k, 0), cfg)
    return [_best_unique([d[0] for d in draws[i * k:(i + 1) * k]], k) for i in range(len(features))]


@contextlib.contextmanager
def _eval(decoder: StepDecoder) -> Iterator[None]:
    """Eval mode (no dropout) inside the block, the caller's mode after it."""
    was_training = decoder.training
    decoder.eval()
    try:
        yield
    finally:
        decoder.train(was_training)


@contextlib.contextmanager
def _tables(decoder: StepDecoder) -> Iterator[None]:
    """Every CaptionDecoder in decoder (one, or an ensemble's members) steps from its input table."""
    with contextlib.ExitStack() as stack:
        for m in decoder.modules() if isinstance(decoder, torch.nn.Module) else ():
            if isinstance(m, CaptionDecoder):
                stack.enter_context(m.decoding_table())
        yield


@torch.inference_mode()
def decode(decoder: StepDecoder, features: Tensor, cfg: DecodeConfig | None = None,
           vocab: Vocabulary | None = None) -> list[list[Hypothesis]]:
    """Decode a batch of image features [B, F] into n-best hypothesis lists, best first.

    decoder is a CaptionDecoder or an Ensemble of them. Sampling with n_best > 1 draws n_best
    samples per image and keeps the distinct ones."""
    cfg = cfg or DecodeConfig()
    if not len(features):
        return []
    features = features.to(next(decoder.parameters()).device, torch.float32)
    if cfg.num_beams > 1:
        run = _beam
    else:
        run = _samples if cfg.do_sample and cfg.n_best > 1 else _greedy_or_sample
    with _eval(decoder), _tables(decoder):
        hyps = run(decoder, features, cfg)
    if vocab is not None:
        for row in hyps:
            for h in row:
                h.text = vocab.decode(h.tokens)
    return hyps


@torch.inference_mode()
def trace_gates(decoder: CaptionDecoder, feature: Tensor, tokens: list[int], layer: int = -1) -> dict[str, Tensor]:
    """Feed one image's caption (word ids, no specials) and record each word's gates [T, H]
    (and cell-state norm [T]) in `layer`: what the cell did while reading that caption."""
    with _eval(decoder):
        feature = feature.reshape(1, -1).to(next(decoder.parameters()).device, torch.float32)
        _, states = _start(decoder, feature)
        steps = []
        for word in [Vocabulary.start_id, *tokens]:
            _, states, gates = decoder.step_with_gates(torch.tensor([word], device=feature.device), states)
            steps.append(gates[layer])
    return {name: torch.stack([g[name][0] for g in steps]).cpu() for name in steps[0]}
