"""What a training run optimizes, as objects the one loop (loop.fit) drives: cross-entropy under
teacher forcing from fresh weights, or self-critical sequence training from a checkpoint.

An objective says where the run starts, what an epoch shuffles (captions or images), its
optimizer and schedule, and the loss of one rank's share of a global batch. Losses are sums over
the share divided by the whole batch's count over the world size, so that the gradients DDP
averages over ranks equal a single process's on the whole batch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import distributed
from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig, resolve_decoding
from ..decoder.model import CaptionDecoder
from ..features.config import EncoderSpec
from ..metrics.cider_d import TokenWords
from ..text.vocabulary import Vocabulary
from .config import ScstConfig, TrainConfig
from .losses import caption_loss
from .scst import HumanCaptions, Reward, advantages, sample, sequence_logprobs


@dataclass
class Share:
    """One rank's part of a global batch: item indices, the whole batch, and its weight (0 for
    the stand-in row of a rank whose part of a tiny last batch is empty: it still runs, so the
    all-reduce of every rank happens, and adds nothing)."""

    items: Tensor
    whole: Tensor
    weight: float
    ranks: int


def share_of(batch: Tensor, w: distributed.World) -> Share:
    if not w.distributed:
        return Share(batch, batch, 1.0, 1)
    mine = batch.tensor_split(w.size)[w.rank]
    return Share(mine, batch, 1.0, w.size) if len(mine) else Share(batch[:1], batch, 0.0, w.size)


def lr_schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Linear warm-up for warmup_epochs, then cosine decay to min_lr_ratio at the last epoch."""
    warm, total = cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


class CrossEntropy:
    """Next-word cross-entropy (label-smoothed) on shuffled human captions, AdamW with warm-up
    and cosine decay, from weights initialized with the config's seed."""

    name, validate_start = "cross-entropy", False

    def __init__(self, config: TrainConfig, vocab: Vocabulary, model: DecoderConfig, encoder: EncoderSpec) -> None:
        self.config, self.vocab, self.model, self.encoder = config, vocab, model, encoder
        self.decoding, self.batch_size = DecodeConfig(), config.batch_size

    def start(self) -> Checkpoint:
        torch.manual_seed(self.config.seed)
        return Checkpoint(CaptionDecoder(self.model), self.vocab, self.encoder, decoding=self.decoding.to_dict())

    def prepare(self, train: SplitTensors) -> int:
        """Precompute what the loss needs; returns the number of items an epoch shuffles."""
        self.train = train
        return len(train.tokens)

    def optimizer(self, decoder: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(decoder.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def schedule(self, steps_per_epoch: int) -> Callable[[int], float]:
        return lr_schedule(self.config, steps_per_epoch)

    def loss(self, decoder: CaptionDecoder, part: Share) -> tuple[Tensor, dict[str, float]]:
        train, dev = self.train, next(decoder.parameters()).device
        targets = int((train.tokens[part.whole, 1:] != Vocabulary.pad_id).sum())
        loss = caption_loss(decoder, train.batch_features(part.items).to(dev), train.tokens[part.items].to(dev),
                            self.config.label_smoothing, targets / part.ranks) * part.weight
        return loss, {"loss": float(loss.detach())}


class SelfCritical:
    """SCST from a checkpoint (cross-entropy or SCST): K samples per image through the shared
    decoding, CIDEr-D reward against a greedy or mean-of-others baseline, plus an optional
    cross-entropy term; Adam at a constant rate. It trains and validates the checkpoint's own
    default decoding rules (min_len, <unk>)."""

    name, validate_start = "scst", True

    def __init__(self, config: ScstConfig, init: Checkpoint) -> None:
        self.config, self.init, self.vocab = config, init, init.vocab
        self.decoding, self.batch_size = resolve_decoding(init.decoding), config.batch_images

    def start(self) -> Checkpoint:
        return self.init

    def prepare(self, train: SplitTensors) -> int:
        self.train = train
        self.reward, self.humans = Reward(train, TokenWords(self.vocab)), HumanCaptions(train)
        return len(train)

    def optimizer(self, decoder: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(decoder.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def schedule(self, steps_per_epoch: int) -> Callable[[int], float]:
        """Constant, or cosine decay over the run's epochs (no warm-up: SCST starts from a trained model)."""
        if self.config.lr_schedule == "constant":
            return lambda step: 1.0
        return lr_schedule(TrainConfig(epochs=self.config.epochs, warmup_epochs=0.0,
                                       min_lr_ratio=self.config.min_lr_ratio), steps_per_epoch)

    def loss(self, decoder: CaptionDecoder, part: Share) -> tuple[Tensor, dict[str, float]]:
        cfg, k, dev = self.config, self.config.samples, next(decoder.parameters()).device
        feats = self.train.image_features(part.items).to(dev)  # this epoch's view of each image
        keys = [self.train.image_ids[i] for i in part.items.tolist()]
        masks = decoder.dropout_masks(len(keys) * k, cfg.max_len) if cfg.sample_dropout and decoder.cfg.dropout else None
        seqs = sample(decoder, feats, k, cfg.max_len, cfg.temperature, masks, rules=self.decoding)
        rewards = torch.tensor(self.reward([key for key in keys for _ in range(k)], seqs.tolist()))
        greedy = None
        if cfg.baseline == "greedy":
            greedy_seqs = sample(decoder, feats, 1, cfg.max_len, greedy=True, rules=self.decoding)
            greedy = torch.tensor(self.reward(keys, greedy_seqs.tolist()))
        adv = advantages(rewards, k, cfg.baseline, greedy).to(dev)
        decoder.eval()  # dropout only through the sampling masks
        tok, mask = sequence_logprobs(decoder, feats.repeat_interleave(k, 0), seqs, masks, cfg.temperature,
                                      self.decoding)
        counts = torch.tensor([float(mask.sum()), 0.0], dtype=torch.float64)
        stats = {"reward": float(rewards.mean()), "baseline": float((rewards - adv.cpu()).mean()),
                 "sample_words": float(mask.sum(1).float().mean()) - 1}
        terms = [-(adv[:, None] * tok).sum()]
        if cfg.ce_weight:
            decoder.train()
            ce_tokens = self.humans.draw(part.items).to(dev)
            counts[1] = float((ce_tokens[:, 1:] != Vocabulary.pad_id).sum())
            terms.append(cfg.ce_weight * caption_loss(decoder, feats, ce_tokens, normalizer=1.0))
            stats["ce"] = float(terms[1].detach()) / cfg.ce_weight / max(float(counts[1]), 1.0)
        counts = distributed.all_sum_tensor(counts * part.weight).clamp(min=1) / part.ranks
        loss = sum(term / count for term, count in zip(terms, counts.tolist())) * part.weight
        return loss, stats
