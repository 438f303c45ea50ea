"""Teacher-forced training with early stopping on validation CIDEr, and resumable checkpoints.

A run folder holds `best/` and `latest/` checkpoints and `metrics.jsonl` (one line per epoch).
Shuffling and dropout are re-seeded from (seed, epoch), so a resumed run continues exactly."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .checkpoint import Checkpoint
from .data.tensors import SplitTensors
from .decoder import CaptionDecoder, DecoderConfig
from .decoding import DecodeConfig, decode
from .encoder import EncoderSpec
from .evaluation import cider, ptb_tokenize
from .io import atomic_write, atomic_write_text, read_json, write_json
from .text import Vocabulary


@dataclass
class TrainConfig:
    """Optimization settings; serialized into each checkpoint's config.json."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    clip_norm: float = 5.0       # exploding gradients: clip the global norm
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.05   # cosine decay to lr * min_lr_ratio
    patience: int = 5            # epochs without a better val CIDEr before stopping
    min_count: int = 5
    max_words: int = 20
    label_smoothing: float = 0.1
    val_images: int = 0          # 0: the whole val split
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def caption_loss(decoder: CaptionDecoder, features: torch.Tensor, tokens: torch.Tensor,
                 label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of next-word prediction, ignoring padding."""
    tokens = tokens[:, : int((tokens != Vocabulary.pad_id).sum(1).max())]
    logits = decoder(features, tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1),
                           ignore_index=Vocabulary.pad_id, label_smoothing=label_smoothing)


@torch.no_grad()
def validate(decoder: CaptionDecoder, data: SplitTensors, vocab: Vocabulary, refs_tok: dict | None = None,
             batch_size: int = 256) -> dict[str, float]:
    """Teacher-forced loss and greedy-decoding CIDEr on a held-out split."""
    decoder.eval()
    dev = next(decoder.parameters()).device
    losses = []
    for i in range(0, len(data.tokens), batch_size):
        toks = data.tokens[i:i + batch_size].to(dev)
        losses.append(caption_loss(decoder, data.features[data.owner[i:i + batch_size]].to(dev), toks).item())
    captions = {}
    for i in range(0, len(data), batch_size):
        hyps = decode(decoder, data.features[i:i + batch_size], DecodeConfig(), vocab)
        captions.update({data.image_ids[i + j]: h[0].text for j, h in enumerate(hyps)})
    return {"val_loss": sum(losses) / max(len(losses), 1),
            "val_cider": cider(data.references, captions, refs_tok),
            "val_distinct": len(set(captions.values()))}


def _schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    warm, total = cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def _save_trainer(folder: Path, opt: torch.optim.Optimizer, state: dict) -> None:
    """Optimizer moments as safetensors and the loop's counters as JSON (no pickles)."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.cpu().contiguous() for i, s in sd["state"].items() for k, v in s.items()}
    atomic_write(folder / "optimizer.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    write_json(folder / "trainer.json", {**state, "param_groups": sd["param_groups"]})


def _load_trainer(folder: Path, opt: torch.optim.Optimizer) -> dict:
    state = read_json(folder / "trainer.json", "trainer state")
    flat = load_file(str(folder / "optimizer.safetensors"))
    moments: dict[int, dict] = {}
    for key, v in flat.items():
        i, name = key.split(".", 1)
        moments.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": moments, "param_groups": state.pop("param_groups")})
    return state


def fit(train: SplitTensors, val: SplitTensors, vocab: Vocabulary, model_cfg: DecoderConfig,
        cfg: TrainConfig, encoder: EncoderSpec, out_dir: str | Path, resume: bool = False,
        device: str | torch.device = "cpu", progress: bool = True,
        log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Train a decoder; return the summary of the best epoch. Writes best/, latest/, metrics.jsonl."""
    out = Path(out_dir)
    torch.manual_seed(cfg.seed)
    decoder = CaptionDecoder(model_cfg).to(device)
    opt = torch.optim.AdamW(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(train.tokens) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    loop = {"epoch": 0, "best_cider": -1.0, "best_epoch": 0, "seconds": 0.0}
    if resume and (out / "latest" / "trainer.json").is_file():
        decoder.load_state_dict(Checkpoint.load(out / "latest").decoder.state_dict())
        loop = _load_trainer(out / "latest", opt)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps), last_epoch=loop["epoch"] * steps - 1)
        log(f"resuming {out} after epoch {loop['epoch']} (best val CIDEr {loop['best_cider']:.1f})")
        kept = [r for r in read_metrics(out) if r["epoch"] <= loop["epoch"]]  # drop a half-saved epoch
        atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
    elif (out / "metrics.jsonl").exists():
        (out / "metrics.jsonl").unlink()
    val = val.subset(cfg.val_images)
    refs_tok = ptb_tokenize(val.references)
    extra = {"training": cfg.to_dict(), "decoding": DecodeConfig().to_dict()}
    for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
        if epoch - loop["best_epoch"] > cfg.patience and loop["best_epoch"]:
            log(f"early stop: no better val CIDEr for {cfg.patience} epochs")
            break
        start = time.time()
        decoder.train()
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout stream, reproducible on resume
        order = torch.randperm(len(train.tokens), generator=torch.Generator().manual_seed(cfg.seed + epoch))
        total, norms = 0.0, 0.0
        bar = tqdm(range(steps), desc=f"epoch {epoch}", disable=not progress, file=sys.stderr, leave=False)
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            loss = caption_loss(decoder, train.features[train.owner[idx]].to(device),
                                train.tokens[idx].to(device), cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norms += float(torch.nn.utils.clip_grad_norm_(decoder.parameters(), cfg.clip_norm))
            opt.step()
            sched.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        record = {"epoch": epoch, "train_loss": total / steps, "grad_norm": norms / steps,
                  "lr": sched.get_last_lr()[0], **validate(decoder, val, vocab, refs_tok),
                  "seconds": time.time() - start}
        loop["seconds"] += record["seconds"]
        loop["epoch"] = epoch
        ckpt = Checkpoint(decoder, vocab, encoder, {**extra, "epoch": epoch, "val_cider": record["val_cider"]})
        if record["val_cider"] > loop["best_cider"]:
            loop.update(best_cider=record["val_cider"], best_epoch=epoch)
            ckpt.save(out / "best")
        with (out / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        ckpt.save(out / "latest")
        _save_trainer(out / "latest", opt, loop)
        log(f"epoch {epoch}: train loss {record['train_loss']:.3f}, val loss {record['val_loss']:.3f}, "
            f"val CIDEr {record['val_cider']:.1f}, {record['val_distinct']} distinct, {record['seconds']:.0f}s")
    return {"best_epoch": loop["best_epoch"], "best_val_cider": loop["best_cider"],
            "epochs_run": loop["epoch"], "train_seconds": loop["seconds"],
            "parameters": decoder.num_parameters()}


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
