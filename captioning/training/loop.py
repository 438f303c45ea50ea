"""Teacher-forced (cross-entropy) training with early stopping on validation CIDEr, resumable.

A run folder holds `best/` and `latest/` checkpoints and `metrics.jsonl` (one line per epoch).
Shuffling and dropout are re-seeded from (seed, epoch), so a resumed run continues exactly."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import distributed
from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.model import CaptionDecoder
from ..features.config import EncoderSpec
from ..metrics.cider_d import SplitCider
from ..text.vocabulary import Vocabulary
from .config import TrainConfig
from .evaluation import validate
from .losses import caption_loss
from .state import RunFolder, count_epoch

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


def amp_context(device: torch.device | str, dtype: torch.dtype | None):
    """Autocast to dtype on CUDA when mixed precision is on; a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def amp_dtype(amp: bool, device: torch.device | str) -> torch.dtype | None:
    """bf16 where the GPU has it, else fp16 (with a gradient scaler); None on CPU or without amp."""
    if not amp or torch.device(device).type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _rank_slice(train: SplitTensors, idx: torch.Tensor, w: distributed.World):
    """This rank's part of a global batch, and the loss normalizer that keeps gradients equal to
    a single process's (None in a single process: the plain mean). A rank whose part of a tiny
    last batch is empty still runs one caption, weighted 0, so that DDP's all-reduce happens."""
    if not w.distributed:
        return idx, None
    targets = int((train.tokens[idx, 1:] != Vocabulary.pad_id).sum())
    mine = idx.tensor_split(w.size)[w.rank]
    return (mine, targets / w.size) if len(mine) else (idx[:1], 0.0)


def train_epoch(model: torch.nn.Module, train: SplitTensors, cfg: TrainConfig, epoch: int,
                opt: torch.optim.Optimizer, sched, device: torch.device | str, progress: bool = False,
                dtype: torch.dtype | None = None, scaler=None) -> dict[str, float]:
    """One pass over the captions in a seeded order; returns mean loss and gradient norm. Under
    torchrun every rank takes its slice of each global batch of the same permutation."""
    w = distributed.world()
    model.train()
    torch.manual_seed(cfg.seed * 100_003 + epoch + 7919 * w.rank)  # dropout stream, reproducible on resume
    order = torch.randperm(len(train.tokens), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    steps = math.ceil(len(train.tokens) / cfg.batch_size)
    total, norms = 0.0, 0.0
    bar = tqdm(range(steps), desc=f"epoch {epoch}", disable=not (progress and w.main), file=sys.stderr, leave=False)
    for b in bar:
        idx, normalizer = _rank_slice(train, order[b * cfg.batch_size:(b + 1) * cfg.batch_size], w)
        with amp_context(device, dtype):
            loss = caption_loss(model, train.batch_features(idx).to(device), train.tokens[idx].to(device),
                                cfg.label_smoothing, normalizer or None)
            loss = loss * 0.0 if normalizer == 0.0 else loss
        opt.zero_grad(set_to_none=True)
        if scaler is not None:  # fp16: scale the loss so small gradients survive, unscale to clip
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        norms += float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm))
        scaler.step(opt) if scaler is not None else opt.step()
        if scaler is not None:
            scaler.update()
        sched.step()
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    mean_loss = distributed.all_sum(total) / w.size if w.distributed else total
    return {"train_loss": mean_loss / steps, "grad_norm": norms / steps, "lr": sched.get_last_lr()[0]}


def _wrap(decoder: CaptionDecoder, device: torch.device | str) -> torch.nn.Module:
    """DistributedDataParallel under torchrun (gloo on CPU, NCCL on CUDA), else the decoder itself."""
    if not distributed.active():
        return decoder
    device = torch.device(device)
    ids = [device.index or 0] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(decoder, device_ids=ids)


def fit(train: SplitTensors, val: SplitTensors, vocab: Vocabulary, model_cfg: DecoderConfig,
        cfg: TrainConfig, encoder: EncoderSpec, out_dir: str | Path, resume: bool = False,
        device: str | torch.device = "cpu", progress: bool = True, amp: bool = False) -> dict:
    """Train a decoder; return the summary of the best epoch. Writes best/, latest/, metrics.jsonl.
    Under torchrun, rank 0 alone validates and writes; every rank follows its early-stopping call."""
    w, run = distributed.world(), RunFolder(out_dir)
    torch.manual_seed(cfg.seed)
    decoder = CaptionDecoder(model_cfg).to(device)
    opt = torch.optim.AdamW(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(train.tokens) / cfg.batch_size)
    loop = run.start(resume, decoder, opt, {"epoch": 0, "best_cider": -1.0, "best_epoch": 0, "seconds": 0.0},
                     write=w.main)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule(cfg, steps), last_epoch=loop["epoch"] * steps - 1)
    if loop["epoch"]:
        log.info("resuming %s after epoch %d (best val CIDEr %.1f)", run.out, loop["epoch"], loop["best_cider"])
    model, dtype = _wrap(decoder, device), amp_dtype(amp, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    val = val.subset(cfg.val_images)
    scorer = SplitCider(val.references, vocab) if w.main else None
    for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
        if epoch - loop["best_epoch"] > cfg.patience and loop["best_epoch"]:
            log.info("early stop: no better val CIDEr for %d epochs", cfg.patience)
            break
        start = time.time()
        record = {"epoch": epoch, **train_epoch(model, train, cfg, epoch, opt, sched, device, progress, dtype, scaler)}
        if w.main:
            record.update(validate(decoder, val, vocab, scorer), seconds=time.time() - start)
        best = count_epoch(loop, record := distributed.broadcast(record))
        if w.main:
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
