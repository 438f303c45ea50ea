"""Teacher-forced (cross-entropy) training with early stopping on validation CIDEr, resumable.

A run folder holds `best/` and `latest/` checkpoints and `metrics.jsonl` (one line per epoch).
Shuffling and dropout are re-seeded from (seed, epoch), so a resumed run continues exactly."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder
from ..features.config import EncoderSpec
from ..metrics.ptb import ptb_tokenize
from ..text.vocabulary import Vocabulary
from .config import TrainConfig
from .evaluation import validate
from .losses import caption_loss
from .state import RunFolder

log = logging.getLogger(__name__)


def lr_schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Linear warm-up for warmup_epochs, then cosine decay to min_lr_ratio at the last epoch."""
    warm, total = cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def train_epoch(decoder: CaptionDecoder, train: SplitTensors, cfg: TrainConfig, epoch: int,
                opt: torch.optim.Optimizer, sched, device: torch.device | str,
                progress: bool = False) -> dict[str, float]:
    """One pass over the captions in a seeded order; returns mean loss and gradient norm."""
    decoder.train()
    torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout stream, reproducible on resume
    order = torch.randperm(len(train.tokens), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    steps = math.ceil(len(train.tokens) / cfg.batch_size)
    total, norms = 0.0, 0.0
    bar = tqdm(range(steps), desc=f"epoch {epoch}", disable=not progress, file=sys.stderr, leave=False)
    for b in bar:
        idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        loss = caption_loss(decoder, train.features[train.owner[idx]].to(device).float(),
                            train.tokens[idx].to(device), cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms += float(torch.nn.utils.clip_grad_norm_(decoder.parameters(), cfg.clip_norm))
        opt.step()
        sched.step()
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return {"train_loss": total / steps, "grad_norm": norms / steps, "lr": sched.get_last_lr()[0]}


def fit(train: SplitTensors, val: SplitTensors, vocab: Vocabulary, model_cfg: DecoderConfig,
        cfg: TrainConfig, encoder: EncoderSpec, out_dir: str | Path, resume: bool = False,
        device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Train a decoder; return the summary of the best epoch. Writes best/, latest/, metrics.jsonl."""
    run = RunFolder(out_dir)
    torch.manual_seed(cfg.seed)
    decoder = CaptionDecoder(model_cfg).to(device)
    opt = torch.optim.AdamW(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(train.tokens) / cfg.batch_size)
    loop = run.start(resume, decoder, opt, {"epoch": 0, "best_cider": -1.0, "best_epoch": 0, "seconds": 0.0})
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule(cfg, steps), last_epoch=loop["epoch"] * steps - 1)
    if loop["epoch"]:
        log.info("resuming %s after epoch %d (best val CIDEr %.1f)", run.out, loop["epoch"], loop["best_cider"])
    val = val.subset(cfg.val_images)
    refs_tok = ptb_tokenize(val.references)
    for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
        if epoch - loop["best_epoch"] > cfg.patience and loop["best_epoch"]:
            log.info("early stop: no better val CIDEr for %d epochs", cfg.patience)
            break
        start = time.time()
        record = {"epoch": epoch, **train_epoch(decoder, train, cfg, epoch, opt, sched, device, progress),
                  **validate(decoder, val, vocab, refs_tok)}
        record["seconds"] = time.time() - start
        best = record["val_cider"] > loop["best_cider"]
        loop.update(epoch=epoch, seconds=loop["seconds"] + record["seconds"])
        if best:
            loop.update(best_cider=record["val_cider"], best_epoch=epoch)
        ckpt = Checkpoint(decoder, vocab, encoder,
                          training={"stage": "cross-entropy", "config": cfg.to_dict(), "epoch": epoch},
                          decoding=DecodeConfig().to_dict(), scores={"val_cider": record["val_cider"]})
        run.finish_epoch(ckpt.save, record, loop, opt, best)
        log.info("epoch %d: train loss %.3f, val loss %.3f, val CIDEr %.1f, %d distinct, %.0fs", epoch,
                 record["train_loss"], record["val_loss"], record["val_cider"], record["val_distinct"],
                 record["seconds"])
    return {"best_epoch": loop["best_epoch"], "best_val_cider": loop["best_cider"],
            "epochs_run": loop["epoch"], "train_seconds": loop["seconds"],
            "parameters": decoder.num_parameters()}
