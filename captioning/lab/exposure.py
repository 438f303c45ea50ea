"""Exposure bias measured: how well a teacher-forced model predicts the human words when it reads
the human prefix (as in training) and when it reads its own greedy prefix (as at test time)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.tensors import SplitTensors
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder
from ..text.vocabulary import Vocabulary
from ..training.evaluation import caption_features


def own_prefixes(model: CaptionDecoder, data: SplitTensors, vocab: Vocabulary) -> tuple[Tensor, Tensor]:
    """Each caption's input row with the model's greedy caption of its image in place of the human
    words, [M, L-1] (<start> g_1 g_2 ...), and how many greedy words each row has [M]."""
    steps = data.tokens.size(1) - 1
    hyps = caption_features(model, data.features, vocab, DecodeConfig(max_len=steps))
    rows = torch.full((len(hyps), steps), vocab.pad_id, dtype=torch.long)
    rows[:, 0] = vocab.start_id
    lengths = torch.zeros(len(hyps), dtype=torch.long)
    for i, h in enumerate(hyps):
        words = h[0].tokens[: steps - 1]
        rows[i, 1:1 + len(words)] = torch.tensor(words, dtype=torch.long)
        lengths[i] = len(words)
    return rows[data.owner], lengths[data.owner]


@torch.no_grad()
def exposure_bias(model: CaptionDecoder, data: SplitTensors, vocab: Vocabulary,
                  batch: int = 256, min_captions: int = 20) -> dict[str, list[float]]:
    """Per word position t = 1, 2, ...: the mean cross-entropy of the human word w*_t after the human
    prefix w*_<t ("human") and after the model's own greedy prefix g_<t ("own"), on the same
    positions (where the greedy caption is long enough), and the share of those own prefixes that
    differ from the human one. Positions with fewer than min_captions captions are left out."""
    model.eval()
    targets = data.tokens[:, 1:]
    own, lengths = own_prefixes(model, data, vocab)
    position = torch.arange(targets.size(1))
    mask = (targets != vocab.pad_id) & (position[None, :] <= lengths[:, None])
    differs = (own != data.tokens[:, :-1]).long().cummax(1).values.bool()  # prefix differs somewhere
    losses = {"human": torch.zeros_like(targets, dtype=torch.float), "own": torch.zeros_like(targets, dtype=torch.float)}
    for i in range(0, targets.size(0), batch):
        rows, feats = slice(i, i + batch), data.batch_features(slice(i, i + batch))
        for name, inputs in (("human", data.tokens[rows, :-1]), ("own", own[rows])):
            logits = model(feats, inputs)
            losses[name][rows] = F.cross_entropy(logits.transpose(1, 2), targets[rows], reduction="none")
    count = mask.sum(0)
    keep = count >= min_captions
    out = {name: ((v * mask).sum(0)[keep] / count[keep]).tolist() for name, v in losses.items()}
    out["differs"] = ((differs & mask).sum(0)[keep] / count[keep]).tolist()
    out["captions"] = count[keep].tolist()
    out["position"] = (position[keep] + 1).tolist()
    return out
