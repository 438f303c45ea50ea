"""Self-critical sequence training (SCST): fine-tune a checkpoint on its own samples, rewarded by
CIDEr-D against the train references (document frequencies from the train split, once).

For each image, K captions are sampled; with reward r and baseline b the loss is

    L = - sum over sampled tokens of (r - b) * log p(w_t | w_<t, image) / (number of tokens)

b is the reward of the image's greedy caption (Rennie et al. 2017) or the mean reward of the
image's other K-1 samples (Luo 2020). Samples and the greedy baseline come from decoder.search,
the decoding every caption goes through, so SCST optimizes the policy that inference runs (its
<unk>, <pad> and minimum-length masks included). Log-probabilities are recomputed with gradients
by one teacher-forced pass under the same masks and temperature. Sampling runs in eval mode, or
with dropout masks (one per caption and step) that the recompute reuses. An optional
cross-entropy term on one human caption per image keeps the language model honest."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..data.tensors import SplitTensors
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder, Masks
from ..decoder.search import generate_ids, mask_logits
from ..metrics.cider_d import CiderD, TokenWords
from ..metrics.ptb import ptb_tokenize
from ..text.vocabulary import Vocabulary


class Reward:
    """CIDEr-D of sampled word ids against an image's train references, df from the train split."""

    def __init__(self, train: SplitTensors, words: TokenWords) -> None:
        self.scorer, self.words = CiderD(ptb_tokenize(train.references)), words

    def __call__(self, keys: Sequence, seqs: list[list[int]]) -> list[float]:
        return self.scorer.score_many(keys, [self.words(s) for s in seqs])


class HumanCaptions:
    """Each image's caption rows in a split, indexed once, so that drawing one per image is a
    lookup rather than a scan of every caption."""

    def __init__(self, train: SplitTensors) -> None:
        self.tokens = train.tokens
        self.order = torch.argsort(train.owner, stable=True)
        self.count = torch.bincount(train.owner, minlength=len(train))
        self.first = torch.cumsum(self.count, 0) - self.count

    def draw(self, images: Tensor) -> Tensor:
        """One random human caption (token row) of each image (torch's global generator)."""
        pick = (torch.rand(len(images)) * self.count[images]).long()
        return self.tokens[self.order[self.first[images] + pick]]


def sample(decoder: CaptionDecoder, features: Tensor, k: int, max_len: int, temperature: float = 1.0,
           masks: Masks | None = None, gen: torch.Generator | None = None, greedy: bool = False,
           rules: DecodeConfig | None = None) -> Tensor:
    """K captions per image through decoder.search, [B*K, max_len] word ids (an image's rows
    adjacent; <end> included, <pad> after); greedy=True takes the most likely word. rules gives
    the masking (min_len, allow_unk) of the decoding SCST trains for (default: DecodeConfig's)."""
    cfg = (rules or DecodeConfig()).replace(num_beams=1, do_sample=not greedy, temperature=temperature,
                                            max_len=max_len, n_best=1, top_k=0, top_p=1.0, seed=None)
    return generate_ids(decoder, features.repeat_interleave(k, 0), cfg, masks, gen)


def sequence_logprobs(decoder: CaptionDecoder, features: Tensor, seqs: Tensor, masks: Masks | None = None,
                      temperature: float = 1.0, rules: DecodeConfig | None = None) -> tuple[Tensor, Tensor]:
    """Teacher-forced recompute, with gradients: log p of every token of seqs [R, T] (0 at padding)
    under the distribution the samples came from (search's masks, temperature), and the token mask."""
    mask = seqs != Vocabulary.pad_id
    steps = int(mask.sum(1).max())
    seqs, mask = seqs[:, :steps], mask[:, :steps]
    inputs = torch.cat([torch.full_like(seqs[:, :1], Vocabulary.start_id), seqs[:, :-1]], 1)
    logits = mask_logits(decoder(features, inputs, masks).float(), rules or DecodeConfig())
    logp = (logits / temperature).log_softmax(-1)
    return logp.gather(2, seqs.unsqueeze(2)).squeeze(2).masked_fill(~mask, 0.0), mask


def advantages(rewards: Tensor, k: int, baseline: str, greedy_rewards: Tensor | None = None) -> Tensor:
    """r - b per sample: b is the image's greedy reward, or the mean of its other K-1 samples."""
    r = rewards.view(-1, k)
    b = (r.sum(1, keepdim=True) - r) / (k - 1) if baseline == "mean" else greedy_rewards.view(-1, 1)
    return (r - b).reshape(-1)
