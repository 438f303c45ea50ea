"""How a checkpoint was made: a typed, versioned record in its config.json `training` section.

The record names the objective (cross-entropy or scst) with its full config, the epoch, the
precision and, for fine-tuning, the folder it started from with that checkpoint's own record, so
a chain of runs (cross-entropy, then SCST, then SCST again) can be read back to its beginning.
Sections written before records had versions (`{"stage": ..., "config": ..., "init_training":
...}`, or format-1's bare `{"config": ..., "epoch": ...}`) are read as version-1 records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.config import Config, ConfigError, check, option
from ..core.errors import InputError
from .config import ScstConfig, TrainConfig

RECORD_VERSION = 1
OBJECTIVES: dict[str, type[Config]] = {"cross-entropy": TrainConfig, "scst": ScstConfig, "distill": TrainConfig}
FROM_SCRATCH = ("cross-entropy", "distill")  # objectives that start from fresh weights and set the rules


@dataclass
class TrainingRecord(Config):
    """One run's provenance; `parent` is the record of the checkpoint the run started from."""

    objective: str = option("cross-entropy", "what the run optimized", choices=tuple(OBJECTIVES))
    config: dict[str, Any] = field(default_factory=dict)  # the objective's config, every field
    epoch: int | None = option(None, "the epoch that produced these weights")
    precision: str = option("fp32", "fp32, or the autocast dtype of mixed precision (bf16, fp16)")
    init: str | None = option(None, "the checkpoint folder the run started from")
    parent: TrainingRecord | None = None  # that checkpoint's own record
    version: int = option(RECORD_VERSION, "record format version")

    def __post_init__(self) -> None:
        check(self.objective in OBJECTIVES, "objective", f"unknown '{self.objective}' ({', '.join(OBJECTIVES)})")
        check(self.version <= RECORD_VERSION, "version",
              f"{self.version} is newer than this release reads ({RECORD_VERSION}); upgrade captioning")

    def typed_config(self) -> TrainConfig | ScstConfig:
        """The objective's config (fields it lacks take today's defaults)."""
        cls = OBJECTIVES[self.objective]
        return cls.from_dict({**cls().to_dict(), **self.config})

    def chain(self) -> list[TrainingRecord]:
        """This record and its ancestors, newest first."""
        return [self] + (self.parent.chain() if self.parent else [])

    def cross_entropy(self) -> TrainConfig:
        """The config of the cross-entropy run at the start of the chain (its vocabulary and
        caption length rules hold for every later run); defaults when none is recorded."""
        first = [r for r in self.chain() if r.objective in FROM_SCRATCH]
        return first[-1].typed_config() if first else TrainConfig()

    @classmethod
    def read(cls, training: dict[str, Any] | None, where: str = "checkpoint") -> TrainingRecord | None:
        """The record of a checkpoint's `training` section (None when it has none); a malformed
        one raises InputError naming `where` and the field."""
        if not training:
            return None
        try:
            return cls.from_dict(_upgrade(training))
        except ConfigError as exc:
            raise InputError(f"{where}: training record: {exc}") from None


def caption_words(training: dict[str, Any] | None, where: str = "checkpoint") -> int:
    """max_words of the cross-entropy run a checkpoint descends from: the caption length its
    tensors are built with (TrainConfig's default when no record says)."""
    record = TrainingRecord.read(training, where)
    return (record.cross_entropy() if record else TrainConfig()).max_words


def trained_on_val(training: dict[str, Any] | None, where: str = "checkpoint") -> bool:
    """Whether any run in a checkpoint's chain trained on the val images (train_val)."""
    record = TrainingRecord.read(training, where)
    return bool(record) and any(r.config.get("train_val") for r in record.chain())


def _upgrade(training: Any) -> Any:
    """A version-less training section as a version-1 record (recursively for its parent)."""
    if not isinstance(training, dict) or "version" in training:
        return training
    old = dict(training)
    parent = old.pop("init_training", None)
    return {"objective": old.pop("stage", "cross-entropy"), "config": old.pop("config", None) or {},
            "epoch": old.pop("epoch", None), "init": old.pop("init", None),
            "parent": _upgrade(parent) if parent else None, **old}

