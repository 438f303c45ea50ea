"""The SCST run: epochs of self-critical updates from a cross-entropy checkpoint, resumable like a
cross-entropy run (best/, latest/, metrics.jsonl), stopping early on the val CIDEr of the
checkpoint's own default decoding. Under torchrun each rank takes its slice of every batch."""

from __future__ import annotations

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
from ..decoder.decode_config import resolve_decoding
from ..metrics.cider_d import CiderD, SplitCider, TokenWords
from ..metrics.ptb import ptb_tokenize
from ..metrics.quality import dangling_share, distinct_count
from .config import ScstConfig
from .evaluation import caption_features
from .scst import scst_loss
from .state import RunFolder, count_epoch

log = logging.getLogger(__name__)


class Reward:
    """CIDEr-D of sampled word ids against an image's train references, df from the train split."""

    def __init__(self, train: SplitTensors, words: TokenWords) -> None:
        self.scorer, self.words = CiderD(ptb_tokenize(train.references)), words

    def __call__(self, keys, seqs: list[list[int]]) -> list[float]:
        return self.scorer.score_many(keys, [self.words(s) for s in seqs])


def _human_captions(train: SplitTensors, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One random human caption (token row) of each image, for the cross-entropy term."""
    rows = [torch.nonzero(train.owner == i).view(-1) for i in images.tolist()]
    return train.tokens[torch.stack([r[torch.randint(len(r), (1,), generator=gen)] for r in rows]).view(-1)]


def scst_epoch(decoder, train: SplitTensors, features: torch.Tensor, reward: Reward, cfg: ScstConfig,
               epoch: int, opt: torch.optim.Optimizer, progress: bool = False) -> dict[str, float]:
    """One pass over the train images in a seeded order, cfg.batch_images per step."""
    w, dev = distributed.world(), next(decoder.parameters()).device
    torch.manual_seed(cfg.seed * 100_003 + epoch + 7919 * w.rank)  # the CE term's dropout, reproducible on resume
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 100_003 + epoch * 7919 + w.rank)
    ce_gen = torch.Generator().manual_seed(cfg.seed + epoch + 31 * w.rank)
    steps, sums = math.ceil(len(train) / cfg.batch_images), {}
    for b in tqdm(range(steps), desc=f"scst {epoch}", disable=not (progress and w.main), file=sys.stderr, leave=False):
        batch = order[b * cfg.batch_images:(b + 1) * cfg.batch_images]
        mine = batch.tensor_split(w.size)[w.rank] if w.distributed else batch
        mine = mine if len(mine) else batch[:1]  # a tiny last batch: this rank still takes part
        keys = [train.image_ids[i] for i in mine.tolist()]
        ce = _human_captions(train, mine, ce_gen).to(dev) if cfg.ce_weight else None
        terms, counts, stats = scst_loss(decoder, features[mine].to(dev), keys, reward, cfg, gen, ce)
        counts = distributed.all_sum_tensor(counts).clamp(min=1)
        loss = terms[0] / counts[0] + (cfg.ce_weight * terms[1] / counts[1] if len(terms) > 1 else 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.sum_gradients(decoder)
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), cfg.clip_norm)
        opt.step()
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
    return {f"train_{k}": distributed.all_sum(v) / w.size / steps for k, v in sums.items()}


def _validate(decoder, val: SplitTensors, vocab, scorer: SplitCider, decoding) -> dict[str, float]:
    """Val CIDEr of the default decoding, distinct captions and the dangling-word share."""
    hyps = caption_features(decoder, val.features, vocab, decoding)
    texts = [h[0].text for h in hyps]
    return {"val_cider": scorer([h[0].tokens for h in hyps]), "val_distinct": distinct_count(texts),
            "val_dangling": dangling_share(texts)}


def fit_scst(init: Checkpoint, train: SplitTensors, val: SplitTensors, cfg: ScstConfig, out_dir: str | Path,
             resume: bool = False, device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """SCST from a cross-entropy checkpoint; returns the summary of the best epoch. Epoch 0 in
    metrics.jsonl (and best/ until beaten) is the starting checkpoint itself."""
    w, run = distributed.world(), RunFolder(out_dir)
    decoder, vocab = init.decoder.to(device), init.vocab
    decoding = resolve_decoding(init.decoding)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loop = run.start(resume, decoder, opt, {"epoch": 0, "best_cider": -1.0, "best_epoch": 0, "seconds": 0.0},
                     write=w.main)
    val = val.subset(cfg.val_images)
    scorer = SplitCider(val.references, vocab) if w.main else None
    reward, features = Reward(train, TokenWords(vocab)), train.features

    def save(epoch: int, record: dict) -> Callable[[Path], None]:
        training = {"stage": "scst", "config": cfg.to_dict(), "epoch": epoch,
                    "init": str(init.folder), "init_training": init.training}
        scores = {**init.scores, "val_cider": record["val_cider"], "val_decoding": decoding.name}
        return Checkpoint(decoder, vocab, init.encoder, training, init.decoding, scores).save

    if loop["epoch"] == 0 and w.main:  # the starting point, for the curves and as best/ to beat
        record = {"epoch": 0, **_validate(decoder, val, vocab, scorer, decoding), "seconds": 0.0}
        loop.update(best_cider=record["val_cider"])
        run.finish_epoch(save(0, record), record, loop, opt, True)
    loop = distributed.broadcast(loop)
    for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
        if epoch - loop["best_epoch"] > cfg.patience:
            log.info("scst early stop: no better val CIDEr for %d epochs", cfg.patience)
            break
        start = time.time()
        record = {"epoch": epoch, **scst_epoch(decoder, train, features, reward, cfg, epoch, opt, progress)}
        if w.main:
            record.update(_validate(decoder, val, vocab, scorer, decoding), seconds=time.time() - start)
        best = count_epoch(loop, record := distributed.broadcast(record))
        if w.main:
            run.finish_epoch(save(epoch, record), record, loop, opt, best)
        log.info("scst epoch %d: reward %.3f (baseline %.3f), val CIDEr %.1f (%s), %d distinct, %.0fs", epoch,
                 record["train_reward"], record["train_baseline"], record["val_cider"], decoding.name,
                 record["val_distinct"], record["seconds"])
    return {"best_epoch": loop["best_epoch"], "best_val_cider": loop["best_cider"], "epochs_run": loop["epoch"],
            "train_seconds": loop["seconds"], "decoding": decoding.name}
