"""TrainConfig: the single source of training defaults. No torch here (the CLI reads it to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config, check, option


@dataclass
class TrainConfig(Config):
    """Cross-entropy training settings; serialized into each checkpoint's config.json."""

    epochs: int = option(20, "maximum epochs")
    batch_size: int = option(64, "captions per optimizer step")
    lr: float = option(1e-3, "peak AdamW learning rate")
    weight_decay: float = option(0.01, "AdamW weight decay")
    clip_norm: float = option(5.0, "clip the global gradient norm (exploding gradients)")
    warmup_epochs: float = option(1.0, "linear warm-up, in epochs")
    min_lr_ratio: float = option(0.05, "cosine decay ends at lr * min_lr_ratio")
    patience: int = option(5, "stop after this many epochs without a better val CIDEr")
    min_count: int = option(5, "vocabulary: keep train words seen at least this often")
    max_words: int = option(20, "truncate training captions to this many words")
    label_smoothing: float = option(0.1, "cross-entropy label smoothing (training loss only)")
    val_images: int = option(0, "validate on the first N val images (0: all)")
    seed: int = option(0, "seed for initialization, shuffling and dropout")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "min_count", "max_words"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        check(self.patience >= 0, "patience", f"must be >= 0, got {self.patience}")
        check(0 <= self.label_smoothing < 1, "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        check(self.warmup_epochs >= 0, "warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")
        check(self.val_images >= 0, "val_images", f"must be >= 0, got {self.val_images}")
