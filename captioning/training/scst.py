"""Self-critical sequence training (SCST): fine-tune a cross-entropy checkpoint on its own samples,
rewarded by CIDEr-D against the train references (document frequencies from the train split, once).

For each image, K captions are sampled; with reward r and baseline b the loss is

    L = - sum over sampled tokens of (r - b) * log p(w_t | w_<t, image) / (number of tokens)

b is the reward of the image's greedy caption (Rennie et al. 2017) or the mean reward of the
image's other K-1 samples (Luo 2020). Log-probabilities are recomputed with gradients by one
teacher-forced pass over the samples. Sampling runs in eval mode, or with dropout whose masks
(one per caption and step) the recompute reuses, so the gradient is that of the sampling policy.
An optional cross-entropy term on the human captions keeps the language model honest."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..decoder.model import CaptionDecoder
from ..text.vocabulary import Vocabulary
from .config import ScstConfig

BANNED = (Vocabulary.pad_id, Vocabulary.start_id, Vocabulary.unk_id)
Masks = tuple[Tensor, Tensor] | None  # dropout masks for embeddings [R, T, E] and outputs [R, T, H]


def dropout_masks(decoder: CaptionDecoder, rows: int, steps: int, gen: torch.Generator, on: bool) -> Masks:
    """One dropout mask per caption and step (scaled by 1/keep), or None when sampling without dropout."""
    p = decoder.cfg.dropout
    if not on or p <= 0:
        return None
    dev, keep = next(decoder.parameters()).device, 1.0 - p
    emb = torch.empty(rows, steps, decoder.cfg.embed_dim, device=dev).bernoulli_(keep, generator=gen) / keep
    out = torch.empty(rows, steps, decoder.cfg.hidden_dim, device=dev).bernoulli_(keep, generator=gen) / keep
    return emb, out


def _logits(decoder: CaptionDecoder, h: Tensor, mask: Tensor | None) -> Tensor:
    """Output logits with <pad>, <start>, <unk> at -inf: samples never take them, so the recomputed
    log-probabilities are those of the distribution the samples came from."""
    logits = decoder.out(decoder.bridge(h if mask is None else h * mask))
    logits[..., list(BANNED)] = float("-inf")
    return logits


@torch.no_grad()
def sample(decoder: CaptionDecoder, features: Tensor, k: int, max_len: int, temperature: float = 1.0,
           masks: Masks = None, gen: torch.Generator | None = None, greedy: bool = False) -> Tensor:
    """K captions per image, [B*K, max_len] word ids (an image's rows adjacent; <end> included,
    <pad> after it); greedy=True takes the most likely word instead of sampling."""
    feats = features.repeat_interleave(k, 0)
    rows, dev = feats.size(0), feats.device
    states = decoder.init_state(feats)
    tokens = torch.full((rows,), Vocabulary.start_id, dtype=torch.long, device=dev)
    out = torch.full((rows, max_len), Vocabulary.pad_id, dtype=torch.long, device=dev)
    done = torch.zeros(rows, dtype=torch.bool, device=dev)
    for t in range(max_len):
        x = decoder.embed(tokens) * (1 if masks is None else masks[0][:, t])
        h, states = decoder.rnn.step(x, states)
        logits = _logits(decoder, h, None if masks is None else masks[1][:, t])
        if greedy:
            tokens = logits.argmax(-1)
        else:
            tokens = torch.multinomial((logits / temperature).softmax(-1), 1, generator=gen).squeeze(1)
        out[:, t] = tokens.masked_fill(done, Vocabulary.pad_id)
        done |= out[:, t] == Vocabulary.end_id
        if done.all():
            break
    return out


def sequence_logprobs(decoder: CaptionDecoder, features: Tensor, seqs: Tensor, masks: Masks = None,
                      temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Teacher-forced recompute, with gradients: log p of every token of seqs [R, T] (0 at padding)
    under the tempered sampling distribution, and the token mask."""
    mask = seqs != Vocabulary.pad_id
    steps = int(mask.sum(1).max())
    seqs, mask = seqs[:, :steps], mask[:, :steps]
    inputs = torch.cat([torch.full_like(seqs[:, :1], Vocabulary.start_id), seqs[:, :-1]], 1)
    x = decoder.embed(inputs) * (1 if masks is None else masks[0][:, :steps])
    out, _ = decoder.rnn(x, decoder.init_state(features))
    logp = (_logits(decoder, out, None if masks is None else masks[1][:, :steps]) / temperature).log_softmax(-1)
    return logp.gather(2, seqs.unsqueeze(2)).squeeze(2).masked_fill(~mask, 0.0), mask


def advantages(rewards: Tensor, k: int, baseline: str, greedy_rewards: Tensor | None = None) -> Tensor:
    """r - b per sample: b is the image's greedy reward, or the mean of its other K-1 samples."""
    r = rewards.view(-1, k)
    b = (r.sum(1, keepdim=True) - r) / (k - 1) if baseline == "mean" else greedy_rewards.view(-1, 1)
    return (r - b).reshape(-1)


def scst_loss(decoder: CaptionDecoder, feats: Tensor, keys: Sequence,
              reward: Callable[[Sequence, list[list[int]]], list[float]], cfg: ScstConfig,
              gen: torch.Generator, ce_tokens: Tensor | None = None) -> tuple[list[Tensor], Tensor, dict[str, float]]:
    """One batch of images (features [B, F], their reward keys): the policy-gradient loss summed
    over sampled tokens and the cross-entropy of ce_tokens (one human caption per image) summed
    over their tokens, the two token counts, and statistics. Sums, so that torchrun ranks can
    divide by the counts of the whole global batch: loss = pg / n_pg + ce_weight * ce / n_ce."""
    k, rows = cfg.samples, feats.size(0) * cfg.samples
    masks = dropout_masks(decoder, rows, cfg.max_len, gen, cfg.sample_dropout)
    decoder.eval()  # dropout only through the explicit masks
    seqs = sample(decoder, feats, k, cfg.max_len, cfg.temperature, masks, gen)
    rewards = torch.tensor(reward([key for key in keys for _ in range(k)], seqs.tolist()), dtype=torch.float32)
    greedy = None
    if cfg.baseline == "greedy":
        greedy_seqs = sample(decoder, feats, 1, cfg.max_len, greedy=True)
        greedy = torch.tensor(reward(list(keys), greedy_seqs.tolist()), dtype=torch.float32)
    adv = advantages(rewards, k, cfg.baseline, greedy)
    tok, mask = sequence_logprobs(decoder, feats.repeat_interleave(k, 0), seqs, masks, cfg.temperature)
    terms = [-(adv.to(tok.device)[:, None] * tok).sum()]
    counts = torch.tensor([float(mask.sum()), 0.0], dtype=torch.float64)
    stats = {"reward": float(rewards.mean()), "baseline": float((rewards - adv).mean()),
             "sample_words": float(mask.sum(1).float().mean()) - 1}
    if cfg.ce_weight and ce_tokens is not None:
        ce_tokens = ce_tokens[:, : int((ce_tokens != Vocabulary.pad_id).sum(1).max())]
        decoder.train()
        logits = decoder(feats, ce_tokens[:, :-1])
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), ce_tokens[:, 1:].reshape(-1),
                             ignore_index=Vocabulary.pad_id, reduction="sum")
        terms.append(ce)
        counts[1] = float((ce_tokens[:, 1:] != Vocabulary.pad_id).sum())
        stats["ce"] = float(ce.detach()) / max(float(counts[1]), 1.0)
    return terms, counts, stats
