"""Captioning a split and scoring it: batched decoding, COCO metrics, and validation during training."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..data.records import ImageRecord
from ..data.tensors import SplitTensors
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder
from ..decoder.search import Hypothesis, StepDecoder, decode
from ..metrics.cider_d import SplitCider
from ..metrics.coco import score_captions
from ..metrics.quality import dangling_share, distinct_count
from ..text.vocabulary import Vocabulary
from .losses import caption_loss


def caption_features(decoder: StepDecoder, features: torch.Tensor, vocab: Vocabulary,
                     cfg: DecodeConfig | None = None, batch_size: int = 256) -> list[list[Hypothesis]]:
    """Decode features [N, F] in batches into n-best hypothesis lists (text filled in)."""
    out: list[list[Hypothesis]] = []
    for i in range(0, features.size(0), batch_size):
        out += decode(decoder, features[i:i + batch_size], cfg, vocab)
    return out


def evaluate_split(decoder: StepDecoder, features: torch.Tensor, records: Sequence[ImageRecord],
                   vocab: Vocabulary, cfg: DecodeConfig | None = None, meteor: bool = True) -> dict:
    """Caption every record's features and score against its references.

    Returns {"scores": {metric: x100, distinct_captions, dangling_share, n_images},
    "images": [per-image rows]}."""
    hyps = caption_features(decoder, features, vocab, cfg)
    generated = {r.image_id: h[0].text for r, h in zip(records, hyps)}
    refs = {r.image_id: r.captions for r in records}
    overall, per_image = score_captions(refs, generated, meteor=meteor)
    rows = [{"image_id": r.image_id, "image": str(r.path), "caption": generated[r.image_id],
             "logprob": h[0].logprob, "references": r.captions, "scores": per_image[r.image_id]}
            for r, h in zip(records, hyps)]
    captions = list(generated.values())
    scores = {**overall, "distinct_captions": distinct_count(captions),
              "dangling_share": dangling_share(captions), "n_images": len(records)}
    return {"scores": scores, "images": rows}


@torch.no_grad()
def validate(decoder: CaptionDecoder, data: SplitTensors, vocab: Vocabulary, scorer: SplitCider | None = None,
             batch_size: int = 256, cfg: DecodeConfig | None = None) -> dict[str, float]:
    """Teacher-forced loss and CIDEr of `cfg` decoding (default greedy) on a held-out split;
    scorer (built once per run) is pycocoevalcap's CIDEr-D on that split, without Java calls."""
    decoder.eval()
    scorer = scorer or SplitCider(data.references, vocab)
    dev = next(decoder.parameters()).device
    losses = []
    for i in range(0, len(data.tokens), batch_size):
        toks = data.tokens[i:i + batch_size].to(dev)
        losses.append(caption_loss(decoder, data.batch_features(slice(i, i + batch_size)).to(dev), toks).item())
    hyps = caption_features(decoder, data.features, vocab, cfg or DecodeConfig(), batch_size)
    texts = [h[0].text for h in hyps]
    return {"val_loss": sum(losses) / max(len(losses), 1), "val_cider": scorer([h[0].tokens for h in hyps]),
            "val_distinct": distinct_count(texts), "val_dangling": dangling_share(texts)}


