"""A run folder's state: the optimizer and loop counters beside latest/, and metrics.jsonl.

Everything is safetensors or JSON (no pickles), so a run can be resumed, inspected and shared."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..core.io import atomic_write, read_json, write_json
from ..decoder.checkpoint import Checkpoint


def save_trainer(folder: Path, opt: torch.optim.Optimizer, state: dict) -> None:
    """Optimizer moments as safetensors and the loop's counters as JSON (no pickles)."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.cpu().contiguous() for i, s in sd["state"].items() for k, v in s.items()}
    atomic_write(folder / "optimizer.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    write_json(folder / "trainer.json", {**state, "param_groups": sd["param_groups"]})


def load_trainer(folder: Path, opt: torch.optim.Optimizer) -> dict:
    state = read_json(folder / "trainer.json", "trainer state")
    flat = load_file(str(folder / "optimizer.safetensors"))
    moments: dict[int, dict] = {}
    for key, v in flat.items():
        i, name = key.split(".", 1)
        moments.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": moments, "param_groups": state.pop("param_groups")})
    return state


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def count_epoch(loop: dict, record: dict) -> bool:
    """Add a finished epoch's record to the loop counters; True when its val CIDEr is the best yet."""
    best = record["val_cider"] > loop["best_cider"]
    loop.update(epoch=record["epoch"], seconds=loop["seconds"] + record["seconds"])
    if best:
        loop.update(best_cider=record["val_cider"], best_epoch=record["epoch"])
    return best


class RunFolder:
    """One training run on disk: best/ and latest/ checkpoints, the trainer state beside latest/,
    and metrics.jsonl with one record per finished epoch. Shared by every training stage."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    @property
    def resumable(self) -> bool:
        return (self.out / "latest" / "trainer.json").is_file()

    def start(self, resume: bool, decoder: torch.nn.Module, opt: torch.optim.Optimizer,
              loop: dict, write: bool = True) -> dict:
        """Resume from latest/ when asked and possible (weights, optimizer, counters, metrics up
        to the last saved epoch); otherwise start afresh, dropping old metrics. Returns the counters.
        write=False (the other ranks of a torchrun job) reads the state but changes no file."""
        if not (resume and self.resumable):
            if write:
                (self.out / "metrics.jsonl").unlink(missing_ok=True)
            return dict(loop)
        decoder.load_state_dict(Checkpoint.load(self.out / "latest").decoder.state_dict())
        loop = load_trainer(self.out / "latest", opt)
        if not write:
            return loop
        kept = [r for r in read_metrics(self.out) if r["epoch"] <= loop["epoch"]]  # drop a half-saved epoch
        atomic_write(self.out / "metrics.jsonl",
                     lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in kept)))
        return loop

    def finish_epoch(self, save: Callable[[Path], None], record: dict, loop: dict,
                     opt: torch.optim.Optimizer, best: bool) -> None:
        """Save best/ (when best), append the record, then save latest/ and the trainer state;
        latest/ last, so a crash in between replays the epoch on resume."""
        if best:
            save(self.out / "best")
        with (self.out / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        save(self.out / "latest")
        save_trainer(self.out / "latest", opt, loop)
