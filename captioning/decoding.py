"""Attention-free decoding, batched over images: greedy, beam search and sampling.

Every strategy advances the model through one shared `_step`, so they cannot disagree about
the model, its masking of special tokens or the minimum length."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from .decoder import CaptionDecoder
from .text import Vocabulary

NEG = float("-inf")


@dataclass
class DecodeConfig:
    """How to turn image features into words. `strategy` is greedy, beam or sample."""

    strategy: str = "greedy"
    beam_size: int = 3
    n_best: int = 1
    max_len: int = 20          # tokens generated at most, <end> included
    min_len: int = 1           # words before <end> may be chosen
    length_penalty: float = 0.0  # GNMT alpha: score = logprob / ((5 + len) / 6) ** alpha
    block_trigrams: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    allow_unk: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in ("greedy", "beam", "sample"):
            raise ValueError(f"strategy: unknown '{self.strategy}' (greedy, beam or sample)")
        if self.beam_size < 1 or self.n_best < 1 or self.max_len < 1:
            raise ValueError("beam_size, n_best and max_len must be >= 1")
        if self.strategy == "beam" and self.n_best > self.beam_size:
            raise ValueError(f"n_best ({self.n_best}) cannot exceed beam_size ({self.beam_size})")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1], top_k >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


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


def _step(decoder: CaptionDecoder, tokens: Tensor, states, t: int, cfg: DecodeConfig):
    """One model step plus the masks every strategy shares: no <pad>/<start>, optional <unk>,
    and no <end> before min_len words."""
    logp, states = decoder.step(tokens, states)
    logp[:, Vocabulary.pad_id] = NEG
    logp[:, Vocabulary.start_id] = NEG
    if not cfg.allow_unk:
        logp[:, Vocabulary.unk_id] = NEG
    if t < cfg.min_len:
        logp[:, Vocabulary.end_id] = NEG
    return logp, states


def _select(states, index: Tensor):
    return [tuple(s.index_select(0, index) for s in layer) for layer in states]


def _start(decoder: CaptionDecoder, features: Tensor, repeat: int = 1):
    feats = features.repeat_interleave(repeat, 0) if repeat > 1 else features
    tokens = torch.full((feats.size(0),), Vocabulary.start_id, dtype=torch.long, device=feats.device)
    return tokens, decoder.init_state(feats)


def _pick(logp: Tensor, cfg: DecodeConfig, gen: torch.Generator | None) -> Tensor:
    """Greedy argmax, or a sample with temperature / top-k / top-p."""
    if cfg.strategy != "sample" or cfg.temperature == 0:
        return logp.argmax(-1)
    logits = logp / cfg.temperature
    if cfg.top_k:
        kth = logits.topk(min(cfg.top_k, logits.size(-1)), -1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, NEG)
    if cfg.top_p < 1:
        sorted_l, order = logits.sort(-1, descending=True)
        cum = sorted_l.softmax(-1).cumsum(-1)
        drop = cum - sorted_l.softmax(-1) >= cfg.top_p  # keep the smallest set reaching top_p
        logits = logits.scatter(-1, order, sorted_l.masked_fill(drop, NEG))
    return torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(1)


def _greedy_or_sample(decoder: CaptionDecoder, features: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    gen = None
    if cfg.strategy == "sample" and cfg.seed is not None:
        gen = torch.Generator(device=features.device).manual_seed(cfg.seed)
    n = features.size(0)
    tokens, states = _start(decoder, features)
    out = torch.zeros(n, cfg.max_len, dtype=torch.long, device=features.device)
    logprob = torch.zeros(n, device=features.device)
    done = torch.zeros(n, dtype=torch.bool, device=features.device)
    for t in range(cfg.max_len):
        logp, states = _step(decoder, tokens, states, t, cfg)
        tokens = _pick(logp, cfg, gen)
        tokens = tokens.masked_fill(done, Vocabulary.pad_id)
        logprob += logp.gather(1, tokens[:, None]).squeeze(1).masked_fill(done, 0.0)
        out[:, t] = tokens
        done |= tokens == Vocabulary.end_id
        if done.all():
            break
    hyps = []
    for row, lp, fin in zip(out.tolist(), logprob.tolist(), done.tolist()):
        words = [w for w in row if w not in (Vocabulary.pad_id, Vocabulary.end_id)]
        length = len(words) + fin
        hyps.append([Hypothesis(words, lp, lp / length_norm(length, cfg.length_penalty), fin)])
    return hyps


def _blocked(seq: list[int]) -> list[int]:
    """Words that would repeat a trigram already in seq."""
    if len(seq) < 2:
        return []
    a, b = seq[-2], seq[-1]
    return [seq[i + 2] for i in range(len(seq) - 2) if seq[i] == a and seq[i + 1] == b]


def _beam(decoder: CaptionDecoder, features: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    n, k, dev = features.size(0), cfg.beam_size, features.device
    tokens, states = _start(decoder, features, k)
    scores = torch.full((n, k), NEG, device=dev)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand at t=0
    seqs: list[list[int]] = [[] for _ in range(n * k)]
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    done = [False] * n
    for t in range(cfg.max_len):
        logp, states = _step(decoder, tokens, states, t, cfg)
        if cfg.block_trigrams:
            for row, seq in enumerate(seqs):
                for w in _blocked(seq):
                    logp[row, w] = NEG
        vocab = logp.size(1)
        cand = (scores.view(-1, 1) + logp).view(n, k * vocab)
        top_s, top_i = cand.topk(2 * k, dim=1)
        top_s, top_i = top_s.tolist(), top_i.tolist()
        new_rows, new_words, new_scores, new_seqs = [], [], [], []
        for b in range(n):
            alive = 0
            for s, flat in zip(top_s[b], top_i[b]):
                beam, word = divmod(flat, vocab)
                row = b * k + beam
                if alive == k or s == NEG:
                    break
                if done[b]:  # keep the batch shape; these rows are ignored
                    new_rows.append(row), new_words.append(Vocabulary.pad_id)
                    new_scores.append(NEG), new_seqs.append(seqs[row])
                    alive += 1
                    continue
                if word == Vocabulary.end_id:
                    norm = s / length_norm(len(seqs[row]) + 1, cfg.length_penalty)
                    finished[b].append(Hypothesis(list(seqs[row]), s, norm, True))
                    continue
                new_rows.append(row), new_words.append(word)
                new_scores.append(s), new_seqs.append([*seqs[row], word])
                alive += 1
            while alive < k:  # fewer than k live candidates: pad with dead beams
                new_rows.append(b * k), new_words.append(Vocabulary.pad_id)
                new_scores.append(NEG), new_seqs.append([])
                alive += 1
            if not done[b] and len(finished[b]) >= k:
                # log-probs only fall, so a live beam's best future score is bounded
                bound = max(new_scores[-k:]) / length_norm(cfg.max_len, cfg.length_penalty)
                worst_kept = sorted(h.score for h in finished[b])[-k]
                done[b] = bound <= worst_kept
        if all(done):
            break
        index = torch.tensor(new_rows, device=dev)
        states = _select(states, index)
        tokens = torch.tensor(new_words, device=dev)
        scores = torch.tensor(new_scores, device=dev).view(n, k)
        seqs = new_seqs
    for b in range(n):  # beams that never emitted <end> are ended at max_len, not dropped
        if not done[b]:
            for j in range(k):
                s = scores[b, j].item()
                if s != NEG:
                    seq = seqs[b * k + j]
                    finished[b].append(Hypothesis(list(seq), s, s / length_norm(len(seq), cfg.length_penalty), False))
    results = []
    for hyps in finished:
        unique: dict[tuple, Hypothesis] = {}
        for h in sorted(hyps, key=lambda h: -h.score):
            unique.setdefault(tuple(h.tokens), h)
        results.append(list(unique.values())[: cfg.n_best])
    return results


@torch.inference_mode()
def decode(decoder: CaptionDecoder, features: Tensor, cfg: DecodeConfig | None = None,
           vocab: Vocabulary | None = None) -> list[list[Hypothesis]]:
    """Decode a batch of image features [B, F] into n-best hypothesis lists, best first."""
    cfg = cfg or DecodeConfig()
    was_training = decoder.training
    decoder.eval()
    try:
        features = features.to(next(decoder.parameters()).device, torch.float32)
        run = _beam if cfg.strategy == "beam" and cfg.beam_size > 1 else _greedy_or_sample
        hyps = run(decoder, features, cfg)
    finally:
        decoder.train(was_training)
    if vocab is not None:
        for row in hyps:
            for h in row:
                h.text = vocab.decode(h.tokens)
    return hyps


@torch.inference_mode()
def trace_gates(decoder: CaptionDecoder, feature: Tensor, tokens: list[int], layer: int = -1) -> dict[str, Tensor]:
    """Feed one image's caption (word ids, no specials) and record each word's gates [T, H]
    (and cell-state norm [T]) in `layer`: what the cell did while reading that caption."""
    was_training = decoder.training
    decoder.eval()
    try:
        feature = feature.reshape(1, -1).to(next(decoder.parameters()).device, torch.float32)
        _, states = _start(decoder, feature)
        inputs = [Vocabulary.start_id, *tokens]
        steps = []
        for word in inputs:
            _, states, gates = decoder.step_with_gates(torch.tensor([word], device=feature.device), states)
            steps.append(gates[layer])
    finally:
        decoder.train(was_training)
    return {name: torch.stack([g[name][0] for g in steps]).cpu() for name in steps[0]}
