"""A run folder on disk: best/ and latest/ checkpoints, the trainer state inside latest/, and
metrics.jsonl (one record per finished epoch).

Everything is safetensors or JSON (no pickles), so a run can be resumed, inspected and shared.
A checkpoint folder is written whole and then renamed into place, so best/ and latest/ are
always complete: a crash or a full disk while saving leaves the previous one."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.io import atomic_write, read_json, regular_file, save_tensors, write_json
from ..decoder.checkpoint import Checkpoint

STAGING, RETIRED = ".{}.new", ".{}.old"  # beside best/ and latest/ while they are replaced


@dataclass
class LoopState:
    """The loop's counters, saved with latest/ as trainer.json."""

    epoch: int = 0  # the last finished epoch
    best_cider: float = -1.0  # its val CIDEr, -1 until an epoch is scored
    best_epoch: int = 0
    seconds: float = 0.0  # every finished epoch's time, kept across resumes

    def count(self, record: dict) -> bool:
        """Add a finished epoch's record; True when its val CIDEr is the best yet."""
        best = record["val_cider"] > self.best_cider
        self.epoch, self.seconds = record["epoch"], self.seconds + record["seconds"]
        if best:
            self.best_cider, self.best_epoch = record["val_cider"], record["epoch"]
        return best

    def stale(self, patience: int) -> bool:
        """The early-stopping rule: some epoch is scored and none of the last `patience` beat it."""
        return self.best_cider >= 0 and self.epoch - self.best_epoch >= patience


def save_trainer(folder: Path, opt: torch.optim.Optimizer, state: LoopState) -> None:
    """Optimizer moments as safetensors and the loop's counters as JSON (no pickles)."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.cpu().contiguous() for i, s in sd["state"].items() for k, v in s.items()}
    save_tensors(folder / "optimizer.safetensors", tensors)
    write_json(folder / "trainer.json", {**asdict(state), "param_groups": sd["param_groups"]})


def load_trainer(folder: Path, opt: torch.optim.Optimizer) -> LoopState:
    state = read_json(folder / "trainer.json", "trainer state")
    path = regular_file(folder / "optimizer.safetensors", "optimizer state")
    try:
        flat = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise InputError(f"{path}: cannot read the optimizer state ({exc})") from None
    moments: dict[int, dict] = {}
    for key, v in flat.items():
        i, name = key.split(".", 1)
        moments.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": moments, "param_groups": state.pop("param_groups")})
    return LoopState(**{f.name: state[f.name] for f in fields(LoopState)})


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replace_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Write a whole folder beside target, then rename it into place (target is never torn)."""
    new, old = (target.with_name(f.format(target.name)) for f in (STAGING, RETIRED))
    shutil.rmtree(new, ignore_errors=True)
    try:
        new.mkdir(parents=True)
        write(new)
    except OSError as exc:  # a full disk: free the half-written copy, name the folder a user knows
        shutil.rmtree(new, ignore_errors=True)
        if exc.errno and exc.filename and str(exc.filename).startswith(str(new)):
            raise OSError(exc.errno, exc.strerror, str(target) + str(exc.filename)[len(str(new)):]) from exc
        raise
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(target: Path) -> None:
    """Undo a replace_folder that stopped half-way: a target renamed away comes back; a
    half-written staging folder goes."""
    new, old = (target.with_name(f.format(target.name)) for f in (STAGING, RETIRED))
    if not target.exists() and old.is_dir():
        os.rename(old, target)
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)


class RunFolder:
    """One training run on disk, shared by every objective."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    @property
    def resumable(self) -> bool:
        """latest/ holds a trainer state, or will once a swap cut between its renames is undone."""
        latest = self.out / "latest"
        retired = latest.with_name(RETIRED.format(latest.name))
        return (latest / "trainer.json").is_file() or (not latest.exists() and (retired / "trainer.json").is_file())

    def held(self) -> str | None:
        """What makes out a run folder already (metrics.jsonl, best/ or latest/, or a copy of one
        that a save cut off left beside it), else None."""
        names = ("metrics.jsonl", "best", "latest", *(f.format(n) for n in ("best", "latest") for f in (STAGING, RETIRED)))
        return next((n for n in names if (self.out / n).exists()), None)

    def start(self, resume: bool, decoder: torch.nn.Module, opt: torch.optim.Optimizer,
              write: bool = True) -> LoopState:
        """Resume from latest/ when asked and possible (weights, optimizer, counters, metrics up
        to the last saved epoch); otherwise start afresh, dropping old metrics. write=False (the
        other ranks of a torchrun job) reads the state but changes no file."""
        if write:
            for name in ("best", "latest"):
                recover_folder(self.out / name)
        if not (resume and self.resumable):
            if write:
                (self.out / "metrics.jsonl").unlink(missing_ok=True)
            return LoopState()
        saved = Checkpoint.load(self.out / "latest").decoder
        _same_model(self.out / "latest", saved.cfg.to_dict(), decoder.cfg.to_dict())
        decoder.load_state_dict(saved.state_dict())
        state = load_trainer(self.out / "latest", opt)
        if write:  # drop a half-saved epoch's record
            self._write_metrics([r for r in read_metrics(self.out) if r["epoch"] <= state.epoch])
        return state

    def _write_metrics(self, records: list[dict]) -> None:
        atomic_write(self.out / "metrics.jsonl",
                     lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))

    def finish_epoch(self, ckpt: Checkpoint, record: dict, state: LoopState, opt: torch.optim.Optimizer,
                     best: bool) -> None:
        """Save best/ (when best), append the record, then latest/ with the trainer state, each
        folder whole; latest/ last, so a crash in between replays the epoch on resume."""
        if best:
            replace_folder(self.out / "best", ckpt.save)
        path = self.out / "metrics.jsonl"
        self._write_metrics((read_metrics(self.out) if path.is_file() else []) + [record])

        def latest(folder: Path) -> None:
            ckpt.save(folder)
            save_trainer(folder, opt, state)
        replace_folder(self.out / "latest", latest)


def _same_model(folder: Path, saved: dict, asked: dict) -> None:
    """Resuming needs the run's own decoder: name the first setting that differs."""
    for name, value in saved.items():
        if asked.get(name) != value:
            raise ConfigError(name, f"cannot resume {folder}: it holds a decoder with {name}={value}, this run "
                                    f"asks for {asked.get(name)}; resume with the run's settings or start a new run")
