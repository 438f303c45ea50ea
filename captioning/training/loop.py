"""The one training loop: `fit(objective, train, val, out)` for cross-entropy and SCST alike.

Each epoch shuffles the objective's items in a seeded order, takes optimizer steps on global
batches, validates (val loss and the CIDEr of the objective's decoding), keeps best/ and latest/
and stops early. Shuffling, dropout and sampling are re-seeded from (seed, epoch, rank), so a
resumed run continues exactly. Under torchrun every rank takes its share of each global batch
and DistributedDataParallel averages the gradients (gloo on CPU, NCCL on CUDA); rank 0 alone
validates and writes, and every rank follows its early-stopping call."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import distributed
from ..core.config import ConfigError
from ..core.devices import amp_dtype, autocast
from ..core.errors import InputError
from ..core.progress import progress_bar
from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.model import CaptionDecoder
from ..metrics.cider_d import SplitCider
from ..text.vocabulary import Vocabulary
from .evaluation import validate
from .objectives import CrossEntropy, SelfCritical, Share, lr_schedule, share_of
from .provenance import TrainingRecord
from .state import RunFolder

log = logging.getLogger(__name__)
Objective = CrossEntropy | SelfCritical
__all__ = ["CrossEntropy", "Objective", "SelfCritical", "fit", "lr_schedule"]


VIEW_STREAM = 1 << 62  # view draws get seeds of their own, far from every other stream's


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The one seeding rule: dropout and sampling of (seed, epoch, rank); shuffling uses rank 0's."""
    return seed * 100_003 + epoch + 7919 * rank


def view_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that draws an epoch's view of each train image: of (seed, epoch) alone, so
    every rank draws the same views and a resumed run draws what the uninterrupted one did."""
    return torch.Generator().manual_seed(VIEW_STREAM + epoch_seed(seed, epoch))


class _Loss(torch.nn.Module):
    """The objective's loss as a module, so that DDP wraps one forward per step however many
    passes through the decoder the objective makes."""

    def __init__(self, decoder: CaptionDecoder, objective: Objective) -> None:
        super().__init__()
        self.decoder, self.objective = decoder, objective

    def forward(self, part: Share) -> tuple[torch.Tensor, dict[str, float]]:
        return self.objective.loss(self.decoder, part)


@dataclass
class Precision:
    """Autocast dtype (None: fp32) and, for fp16, the gradient scaler."""

    device: torch.device
    dtype: torch.dtype | None

    def __post_init__(self) -> None:
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")

    def backward_and_step(self, loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                          clip_norm: float) -> float:
        """Backward, clip the global gradient norm, step; fp16 scales the loss so small gradients
        survive and unscales before clipping. Returns the norm before clipping."""
        opt.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        if self.scaler:
            self.scaler.unscale_(opt)
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm))
        if self.scaler:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        return norm


def run_epoch(model: torch.nn.Module, objective: Objective, items: int, epoch: int, opt: torch.optim.Optimizer,
              sched, precision: Precision, progress: bool = False) -> dict[str, float]:
    """One pass over the objective's items in a seeded order; returns the mean of each statistic
    over steps and ranks, the mean gradient norm and the last learning rate."""
    w, cfg = distributed.world(), objective.config
    model.train()
    torch.manual_seed(epoch_seed(cfg.seed, epoch, w.rank))
    order = torch.randperm(items, generator=torch.Generator().manual_seed(cfg.seed + epoch))
    steps, size = math.ceil(items / objective.batch_size), objective.batch_size
    sums: dict[str, float] = {}
    for b in progress_bar(range(steps), f"{objective.name} epoch {epoch}", progress and w.main, "steps"):
        with autocast(precision.device, precision.dtype):
            loss, stats = model(share_of(order[b * size:(b + 1) * size], w))
        stats["grad_norm"] = precision.backward_and_step(loss, model, opt, cfg.clip_norm)
        sched.step()
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
    means = {k: distributed.all_sum(v) / w.size / steps for k, v in sums.items()}
    return {**{f"train_{k}": v for k, v in means.items() if k != "grad_norm"},
            "grad_norm": means["grad_norm"], "lr": sched.get_last_lr()[0]}


def _wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel under torchrun, else the module itself."""
    if not distributed.active():
        return module
    ids = [device.index or 0] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def _check_train(objective: Objective, train: SplitTensors, items: int) -> None:
    """Refuse, before any file is touched, a train split with nothing to train on (an epoch of
    no steps has no statistics) or with other views than the run asks for."""
    if not items:
        raise InputError("the train split has no non-empty captions: nothing to train on")
    views = getattr(objective.config, "views", 1)
    if views != train.views:
        raise ConfigError("views", f"the run asks for {views} views of each train image, but its train "
                          f"split holds {train.views} ({objective.name} takes them from the caller)")


def fit(objective: Objective | SplitTensors, train: SplitTensors, val: SplitTensors | Vocabulary,
        out_dir: str | Path | DecoderConfig, *earlier: Any, resume: bool = False,
        device: str | torch.device = "cpu", progress: bool = True, amp: bool = False,
        on_epoch: Callable[[int, CaptionDecoder], None] | None = None) -> dict:
    """Train with `objective`; return the summary of the best epoch. Writes best/, latest/ and
    metrics.jsonl in out_dir; on_epoch(epoch, decoder) runs on rank 0 after each saved epoch
    (epoch 0 too when the start is validated), e.g. to keep every epoch's weights. amp trains under autocast where the device has a fast half type
    (core.devices.amp_dtype), else in fp32 with a warning. The earlier cross-entropy form
    fit(train, val, vocab, model_cfg, train_cfg, encoder, out_dir, ...) still works."""
    if isinstance(objective, SplitTensors):
        (cfg, encoder, out_dir), (train, val, vocab, model) = earlier, (objective, train, val, out_dir)
        objective = CrossEntropy(cfg, vocab, model, encoder)
    w, run, device = distributed.world(), RunFolder(out_dir), torch.device(device)
    start = objective.start()
    decoder = start.decoder.to(device)
    items, opt = objective.prepare(train), objective.optimizer(decoder)
    _check_train(objective, train, items)
    state = run.start(resume, decoder, opt, write=w.main)
    steps = math.ceil(items / objective.batch_size)
    for group in opt.param_groups:  # runs saved without a schedule (earlier SCST) resume too
        group.setdefault("initial_lr", group["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, objective.schedule(steps), last_epoch=state.epoch * steps - 1)
    precision = Precision(device, amp_dtype(device) if amp else None)
    if amp and precision.dtype is None:
        log.warning("mixed precision: %s has no fast half-precision type; training in fp32", device)
    if state.epoch:
        log.info("resuming %s after epoch %d (best val CIDEr %.1f)", run.out, state.epoch, state.best_cider)
    model = _wrap(_Loss(decoder, objective), device)
    val = val.subset(objective.config.val_images)
    scorer = SplitCider(val.references, start.vocab) if w.main else None

    def finish(epoch: int, record: dict) -> dict:
        """Validate (rank 0), count the epoch on every rank, save; returns rank 0's record."""
        if w.main:
            record.update(validate(decoder, val, start.vocab, scorer, cfg=objective.decoding))
        record = distributed.broadcast(record)
        best = state.count(record)
        if w.main:
            run.finish_epoch(_checkpoint(objective, start, decoder, epoch, record, precision), record, state, opt, best)
            if on_epoch:
                on_epoch(epoch, decoder)
        return record

    if state.best_cider < 0 and objective.validate_start:  # the starting point: epoch 0, the best/ to beat
        finish(0, {"epoch": 0, "seconds": 0.0})
    for epoch in range(state.epoch + 1, objective.config.last_epoch() + 1):
        if state.stale(objective.config.patience):
            log.info("early stop: no better val CIDEr for %d epochs", objective.config.patience)
            break
        began = time.time()
        train.draw_views(view_generator(objective.config.seed, epoch))
        record = {"epoch": epoch, **run_epoch(model, objective, items, epoch, opt, sched, precision, progress)}
        record["seconds"] = time.time() - began
        record = finish(epoch, record)
        log.info("%s epoch %d: %s, val CIDEr %.1f (%s), %d distinct, %.0fs", objective.name, epoch,
                 ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k.startswith("train_")),
                 record["val_cider"], objective.decoding.name, record["val_distinct"], record["seconds"])
    return {"objective": objective.name, "best_epoch": state.best_epoch, "best_val_cider": state.best_cider,
            "epochs_run": state.epoch, "train_seconds": state.seconds, "decoding": objective.decoding.name,
            "precision": precision.name, "parameters": decoder.num_parameters()}


def _checkpoint(objective: Objective, start: Checkpoint, decoder: CaptionDecoder, epoch: int, record: dict,
                precision: Precision) -> Checkpoint:
    """The checkpoint of an epoch, with its typed training record (chained to the start's)."""
    parent = TrainingRecord.read(start.training, str(start.folder)) if start.folder else None
    training = TrainingRecord(objective.name, objective.config.to_dict(), epoch, precision.name,
                              str(start.folder) if start.folder else None, parent)
    scores = {**start.scores, "val_cider": record["val_cider"], "val_decoding": objective.decoding.name}
    return Checkpoint(decoder, start.vocab, start.encoder, training.to_dict(), start.decoding, scores)
