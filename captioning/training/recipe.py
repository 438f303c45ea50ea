"""The recipe search: trials of the shipped model's training recipe, each a small committed record.

A plan (results/recipe/plan.json) lists trials in order. A trial is a cross-entropy run, an SCST
run from another trial's checkpoint, a decoder distilled from an ensemble, or an ensemble of
trials. `captioning recipe` runs every trial that has no record yet and writes its record:
settings, the command, per-epoch curves, per-epoch per-image val CIDEr (greedy) from every
epoch's kept weights, the kept checkpoint's val scores (greedy and beam-3) and minutes. Records
are committed, so any clone resumes the search where it stopped; checkpoints stay in the
git-ignored work folder and are retrained there when a later trial needs one a clone lacks.
Every choice is made on val; no trial looks at test."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pycocoevalcap.cider.cider import Cider
from safetensors.torch import load_file

from ..core.config import Config, check, option
from ..core.errors import InputError
from ..core.io import read_json, save_tensors, write_json
from ..data.records import ImageRecord
from ..data.tensors import prepare_splits
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble, load_decoders
from ..decoder.model import CaptionDecoder
from ..features.config import EncoderSpec
from ..metrics.ptb import ptb_tokenize
from .config import ScstConfig, TrainConfig
from .distill import Distill, DistillConfig
from .evaluation import caption_features
from .loop import fit
from .run import fine_tune, train_model
from .state import read_metrics

log = logging.getLogger(__name__)
RECORD_FORMAT = 1
KINDS = ("ce", "scst", "distill", "ensemble")
SHIPPED = "shipped"  # a teacher or member name meaning the shipped model


@dataclass
class Trial(Config):
    """One trial: its kind, the lever it tests, and the settings that differ from the defaults."""

    name: str = option("", "the trial's name (its record is NAME.json)")
    kind: str = option("ce", "ce, scst, distill or ensemble", choices=KINDS)
    lever: str = option("", "what the trial tests, in one line")
    init: str = option("", "scst: the trial whose kept checkpoint it starts from")
    members: tuple[str, ...] = option((), "ensemble: its member trials; distill: the teacher's ('shipped' too)")
    keep: str = option("best", "which epoch's weights a run keeps: best (val), last, or average-K (mean of the "
                       "last K epochs' weights)")
    train: dict = field(default_factory=dict)  # TrainConfig (ce, distill) or ScstConfig (scst) fields that differ
    model: dict = field(default_factory=dict)  # DecoderConfig fields that differ (ce, distill)
    distill: dict = field(default_factory=dict)  # DistillConfig fields that differ (distill)

    def __post_init__(self) -> None:
        check(bool(self.name), "name", "every trial needs a name")
        check(self.kind in KINDS, "kind", f"unknown '{self.kind}' (choose from {', '.join(KINDS)})")
        check(self.kind != "scst" or bool(self.init), "init", f"{self.name}: an scst trial starts from a trial")
        check(self.kind not in ("ensemble", "distill") or bool(self.members), "members",
              f"{self.name}: name the members (ensemble) or the teacher (distill)")
        check(self.keep in ("best", "last") or (self.keep.startswith("average-") and self.keep[8:].isdigit()),
              "keep", f"{self.name}: best, last or average-K, got '{self.keep}'")
        check(not self.train.get("train_val"), "train_val",
              f"{self.name}: a trial is judged on val, so it cannot train on val (final members: make shipped TRAIN_VAL=1)")


def read_plan(path: str | Path) -> list[Trial]:
    """The plan's trials in order; names are unique and every trial they start from comes earlier."""
    data = read_json(path, "recipe plan")
    trials = [Trial.from_dict(t) for t in data.get("trials", [])]
    seen: set[str] = set()
    for t in trials:
        needed = ([t.init] if t.init else []) + [m for m in t.members if m != SHIPPED]
        missing = [n for n in needed if n not in seen]
        if t.name in seen or missing:
            raise InputError(f"{path}: trial {t.name}: " + ("name used twice" if t.name in seen else
                             f"starts from {', '.join(missing)}, which no earlier trial defines"))
        seen.add(t.name)
    return trials


def record_path(records: str | Path, name: str) -> Path:
    return Path(records) / f"{name}.json"


def status(trials: Sequence[Trial], records: str | Path) -> str:
    """Which trials have a record and which are missing (reads no data)."""
    missing = [t.name for t in trials if not record_path(records, t.name).is_file()]
    text = f"{len(trials) - len(missing)} of {len(trials)} trials done (records in {records})"
    return text + (f"; missing: {', '.join(missing)}" if missing else "; all done")


@dataclass
class Search:
    """What every trial shares: the data, the features and where things go."""

    records: list[ImageRecord]
    features: torch.Tensor
    encoder: EncoderSpec
    out: Path  # committed records
    work: Path  # git-ignored run folders
    trials: dict[str, Trial] = field(default_factory=dict)
    device: str | torch.device = "cpu"
    progress: bool = False
    views: Callable[[int], torch.Tensor] | None = None  # V -> the train records' views 1..V-1 [n, V-1, F]

    def train_views(self, views: int) -> torch.Tensor | None:
        """The other views of the train images for a trial with `views` views (None for one)."""
        if views <= 1:
            return None
        if self.views is None:
            raise InputError(f"a trial asks for {views} views of each train image, but this search has none")
        return self.views(views)

    def kept(self, name: str) -> Path:
        return self.work / name / "kept"

    def val_split(self) -> tuple[list[ImageRecord], torch.Tensor]:
        idx = [i for i, r in enumerate(self.records) if r.split == "val"]
        return [self.records[i] for i in idx], self.features[idx]


def _snapshot(folder: Path):
    """on_epoch hook: every epoch's weights as epochs/epoch-NN.safetensors."""
    (folder / "epochs").mkdir(parents=True, exist_ok=True)

    def save(epoch: int, decoder: torch.nn.Module) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
        save_tensors(folder / "epochs" / f"epoch-{epoch:02d}.safetensors", state)
    return save


def snapshots(run: Path) -> dict[int, Path]:
    return {int(p.stem[6:]): p for p in sorted((run / "epochs").glob("epoch-*.safetensors"))}


def average_weights(paths: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several epochs' weights (checkpoint averaging)."""
    states = [load_file(str(p)) for p in paths]
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


def _train(s: Search, t: Trial) -> dict:
    """Run (or resume) the trial's training in its work folder; returns fit's summary."""
    run = s.work / t.name
    resume, hook = (run / "latest").is_dir(), _snapshot(run)
    if t.kind == "ce":
        cfg = TrainConfig(**t.train)
        return train_model(s.records, s.features, s.encoder, DecoderConfig(**t.model), cfg, run, resume=resume,
                           device=s.device, progress=s.progress, on_epoch=hook, views=s.train_views(cfg.views))
    if t.kind == "scst":
        init, scst = Checkpoint.load(ensure_checkpoint(s, t.init), s.device), ScstConfig(**t.train)
        return fine_tune(init, s.records, s.features, scst, run, resume=resume, device=s.device,
                         progress=s.progress, on_epoch=hook, views=s.train_views(scst.views))
    teacher, first = load_decoders(_member_paths(s, t.members), s.device)
    cfg = TrainConfig(**t.train)
    _, split, _ = prepare_splits(s.records, s.features, cfg.min_count, cfg.max_words, vocab=first.vocab)
    model = DecoderConfig(**t.model).replace(vocab_size=len(first.vocab), feature_dim=s.encoder.feature_dim)
    objective = Distill(cfg, first.vocab, model, s.encoder, teacher, DistillConfig(**t.distill))
    return fit(objective, split["train"], split["val"], run, resume=resume, device=s.device,
               progress=s.progress, on_epoch=hook)


def _member_paths(s: Search, names: Sequence[str]) -> list[Path | None]:
    return [None if n == SHIPPED else ensure_checkpoint(s, n) for n in names]


def ensure_checkpoint(s: Search, name: str) -> Path:
    """The kept checkpoint of a trial, retraining it in the work folder when this clone lacks it."""
    if not s.kept(name).is_dir():
        t = s.trials[name]
        if t.kind == "ensemble":
            raise InputError(f"trial {name} is an ensemble: start from one of its members")
        log.info("recipe: %s's checkpoint is not in %s; training it again", name, s.work)
        _train(s, t)
        keep_checkpoint(s.work / name, t.keep, s.kept(name))
    return s.kept(name)


def keep_checkpoint(run: Path, keep: str, dest: Path) -> int:
    """Write the kept weights of a finished run to dest (best/, latest/, or an average of the last
    K epochs); returns the epoch they stand for (the last averaged one)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if keep in ("best", "last"):
        shutil.copytree(run / ("best" if keep == "best" else "latest"), tmp)
        ckpt = Checkpoint.load(tmp)
        epoch = int(ckpt.training.get("epoch", 0))
    else:
        snaps = snapshots(run)
        last = max(snaps)
        chosen = [snaps[e] for e in sorted(snaps) if e > last - int(keep[8:])]
        ckpt = Checkpoint.load(run / "latest")
        ckpt.decoder.load_state_dict(average_weights(chosen))
        ckpt.save(tmp)
        epoch = last
    for extra in ("optimizer.safetensors", "trainer.json"):
        (tmp / extra).unlink(missing_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return epoch


_REFERENCES: dict[tuple, dict] = {}


def _tokenized_references(records: Sequence[ImageRecord]) -> dict[int, list[str]]:
    """The val references through the PTB tokenizer, once per set of images (it starts Java each call)."""
    key = tuple((r.image_id, *r.captions) for r in records)
    if key not in _REFERENCES:
        _REFERENCES.clear()
        _REFERENCES[key] = ptb_tokenize({i: r.captions for i, r in enumerate(records)})
    return _REFERENCES[key]


def val_scores(decoder: CaptionDecoder | Ensemble, vocab, records: Sequence[ImageRecord], feats: torch.Tensor,
               cfg: DecodeConfig) -> tuple[float, list[float], int]:
    """(val CIDEr x100, per-image CIDEr x100 in record order, distinct captions) of one decoding."""
    hyps = caption_features(decoder, feats, vocab, cfg)
    refs = _tokenized_references(records)
    res = ptb_tokenize({i: [h[0].text] for i, h in enumerate(hyps)})
    score, each = Cider().compute_score(refs, res)
    return 100 * float(score), [round(100 * float(v), 2) for v in each], len({h[0].text for h in hyps})


def epoch_scores(s: Search, run: Path, ckpt: Checkpoint) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-image val CIDEr (greedy) of every epoch's weights, and of the last 3 and 5 averaged."""
    val, feats = s.val_split()
    decoder, snaps, per_epoch, averaged = ckpt.decoder, snapshots(run), {}, {}
    for epoch, path in snaps.items():
        decoder.load_state_dict(load_file(str(path)))
        per_epoch[str(epoch)] = val_scores(decoder, ckpt.vocab, val, feats, DecodeConfig())[1]
    for k in (3, 5):
        if len(snaps) >= k + 1:
            decoder.load_state_dict(average_weights([snaps[e] for e in sorted(snaps)[-k:]]))
            averaged[f"last-{k}"] = val_scores(decoder, ckpt.vocab, val, feats, DecodeConfig())[1]
    return per_epoch, averaged


def kept_scores(s: Search, model: CaptionDecoder | Ensemble, vocab) -> dict:
    """The kept model's val CIDEr and distinct captions, greedy and beam-3."""
    val, feats = s.val_split()
    out = {}
    for name, cfg in (("greedy", DecodeConfig()), ("beam-3", DecodeConfig("beam", beam_size=3))):
        cider, per_image, distinct = val_scores(model, vocab, val, feats, cfg)
        out[name] = {"cider": round(cider, 3), "distinct": distinct, "per_image": per_image}
    return out


def settings_of(t: Trial) -> dict:
    """Every setting of the trial, defaults filled in."""
    if t.kind == "scst":
        return {"scst": ScstConfig(**t.train).to_dict()}
    if t.kind == "ensemble":
        return {}
    out = {"train": TrainConfig(**t.train).to_dict(), "model": DecoderConfig(**t.model).to_dict()}
    return {**out, "distill": DistillConfig(**t.distill).to_dict()} if t.kind == "distill" else out


def run_trial(s: Search, t: Trial, records: Path, command: str) -> dict:
    """Train (or assemble) one trial, score it on val and write its record."""
    began = time.time()
    record = {"format": RECORD_FORMAT, "name": t.name, "kind": t.kind, "lever": t.lever, "trial": t.to_dict(),
              "settings": settings_of(t), "command": command, "encoder": s.encoder.name,
              "val_image_ids": [r.image_id for r in s.val_split()[0]]}
    if t.kind == "ensemble":
        model, first = load_decoders(_member_paths(s, t.members), s.device)
        record["kept"] = kept_scores(s, model, first.vocab)
    else:
        fit_began = time.time()
        record["summary"] = _train(s, t)
        record["_fit_seconds"] = time.time() - fit_began
        run = s.work / t.name
        record["kept_epoch"] = keep_checkpoint(run, t.keep, s.kept(t.name))
        ckpt = Checkpoint.load(s.kept(t.name), s.device)
        record["kept"] = kept_scores(s, ckpt.decoder, ckpt.vocab)
        metrics = read_metrics(run)
        record["curves"] = {k: [m.get(k) for m in metrics] for k in metrics[-1] if k != "epoch"}
        record["curves"]["epoch"] = [m["epoch"] for m in metrics]
        record["val_per_image"], record["averaged"] = epoch_scores(s, run, Checkpoint.load(run / "latest", s.device))
    # training time from the run itself (a run adopted or resumed from its folder counts whole), plus scoring
    trained = record.get("summary", {}).get("train_seconds", 0.0)
    record["minutes"] = round((trained + time.time() - began - record.get("_fit_seconds", 0.0)) / 60, 2)
    record.pop("_fit_seconds", None)
    write_json(record_path(records, t.name), record)
    return record
