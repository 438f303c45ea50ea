"""TrainConfig: the single source of training defaults. No torch here (the CLI reads it to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import SEED_RANGE, Config, check, option
from ..decoder.decode_config import MAX_BEAMS, MAX_TEMPERATURE, MAX_TOKENS, MIN_TEMPERATURE
from ..features.config import MAX_VIEWS

VIEWS_HELP = (f"train on this many views of each train image (1-{MAX_VIEWS}: centre crop, its mirror, corners, "
              "whole image), one drawn per image each epoch; val and test keep the centre crop")
TRAIN_VAL_HELP = ("also train on the val images: for final members, once every setting is fixed on val. Val "
                  "scores then measure nothing, so patience must be >= epochs and latest/ is the result")

# Past these an optimizer step or the loss overflows float32 and the weights turn to NaN.
MAX_LR, MAX_WEIGHT_DECAY, MAX_LOSS_WEIGHT = 1.0, 1.0, 1000.0


def check_step(lr: float, clip_norm: float) -> None:
    """The optimizer settings every objective shares: lr in (0, MAX_LR], clip_norm > 0."""
    check(0 < lr <= MAX_LR, "lr", f"must be in (0, {MAX_LR:g}], got {lr:g}")
    check(clip_norm > 0, "clip_norm", f"must be > 0, got {clip_norm:g}")


def check_train_val(train_val: bool, patience: int, epochs: int) -> None:
    """Training on val leaves no honest score to stop on: the run must last its full epochs."""
    check(not train_val or patience >= epochs, "patience",
          f"with train_val the val scores measure nothing: set patience >= epochs ({epochs}), got {patience}")


@dataclass
class TrainConfig(Config):
    """Cross-entropy training settings; serialized into each checkpoint's config.json."""

    epochs: int = option(20, "maximum epochs")
    stop_after: int = option(0, "end the run after this epoch while the learning-rate schedule still spans "
                             "the epochs (0: run them all): a val run's best epoch as the fixed budget of "
                             "train_val members")
    batch_size: int = option(64, "captions per optimizer step")
    lr: float = option(1e-3, "peak AdamW learning rate")
    weight_decay: float = option(0.01, "AdamW weight decay", bounds=(0, MAX_WEIGHT_DECAY))
    clip_norm: float = option(5.0, "clip the global gradient norm (exploding gradients)")
    warmup_epochs: float = option(1.0, "linear warm-up, in epochs")
    min_lr_ratio: float = option(0.05, "cosine decay ends at lr * min_lr_ratio")
    patience: int = option(5, "stop after this many epochs without a better val CIDEr")
    min_count: int = option(5, "vocabulary: keep train words seen at least this often")
    max_words: int = option(20, "truncate training captions to this many words", bounds=(1, MAX_TOKENS - 1))
    label_smoothing: float = option(0.1, "cross-entropy label smoothing (training loss only)")
    val_images: int = option(0, "validate on the first N val images (0: all)")
    views: int = option(1, VIEWS_HELP, bounds=(1, MAX_VIEWS))
    train_val: bool = option(False, TRAIN_VAL_HELP)
    seed: int = option(0, "seed for initialization, shuffling and dropout", bounds=SEED_RANGE)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "min_count", "max_words"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check_step(self.lr, self.clip_norm)
        check(self.patience >= 0, "patience", f"must be >= 0, got {self.patience}")
        check(0 <= self.label_smoothing < 1, "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        check(self.warmup_epochs >= 0, "warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")
        check(self.val_images >= 0, "val_images", f"must be >= 0, got {self.val_images}")
        check(0 <= self.stop_after <= self.epochs, "stop_after",
              f"must be in [0, epochs ({self.epochs})], got {self.stop_after}")
        check_train_val(self.train_val, self.patience, self.epochs)

    def last_epoch(self) -> int:
        """The epoch the run ends after (the schedule spans `epochs` either way)."""
        return self.stop_after or self.epochs


SCST_BASELINES = ("greedy", "mean")
SCST_SCHEDULES = ("constant", "cosine")


@dataclass
class ScstConfig(Config):
    """Self-critical fine-tuning settings (reward: CIDEr-D against the train references)."""

    epochs: int = option(10, "maximum epochs")
    lr: float = option(5e-5, "Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay", bounds=(0, MAX_WEIGHT_DECAY))
    batch_images: int = option(16, "images per step (each sampled `samples` times)")
    samples: int = option(5, "captions sampled per image (K)", bounds=(1, MAX_BEAMS))
    baseline: str = option("greedy", "greedy: the reward of the image's greedy caption (Rennie et al. "
                           "2017); mean: the mean reward of its other K-1 samples (Luo 2020)",
                           choices=SCST_BASELINES)
    temperature: float = option(0.5, "sample from softmax(logits / temperature); below 1 keeps samples near "
                               "the model's own captions (val: 0.5 beat 0.3, 0.7 and 1.0)",
                               bounds=(MIN_TEMPERATURE, MAX_TEMPERATURE))
    max_len: int = option(16, "tokens per sampled caption, <end> included", bounds=(1, MAX_TOKENS))
    sample_dropout: bool = option(False, "sample with dropout (one mask per caption, reused when the "
                                  "log-probabilities are recomputed); off: sample in eval mode")
    ce_weight: float = option(0.2, "add this times the cross-entropy of a human caption per image "
                             "(keeps SCST from drifting off the references on a small train split)",
                             bounds=(0, MAX_LOSS_WEIGHT))
    clip_norm: float = option(5.0, "clip the global gradient norm")
    patience: int = option(3, "stop after this many epochs without a better val CIDEr")
    lr_schedule: str = option("constant", "constant, or cosine: decay to lr * min_lr_ratio by the last epoch",
                              choices=SCST_SCHEDULES)
    min_lr_ratio: float = option(0.1, "where the cosine schedule ends, as a fraction of lr")
    val_images: int = option(0, "validate on the first N val images (0: all)")
    views: int = option(1, VIEWS_HELP, bounds=(1, MAX_VIEWS))
    train_val: bool = option(False, TRAIN_VAL_HELP)
    seed: int = option(0, "seed for sampling and batching", bounds=SEED_RANGE)

    def __post_init__(self) -> None:
        check(self.lr_schedule in SCST_SCHEDULES, "lr_schedule", f"unknown '{self.lr_schedule}' (constant or cosine)")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        for name in ("epochs", "batch_images", "samples", "max_len"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check_step(self.lr, self.clip_norm)
        check(self.baseline in SCST_BASELINES, "baseline", f"unknown '{self.baseline}' (greedy or mean)")
        check(self.baseline != "mean" or self.samples >= 2, "samples", "the mean baseline needs at least 2")
        check_train_val(self.train_val, self.patience, self.epochs)

    def last_epoch(self) -> int:
        """The epoch the run ends after."""
        return self.epochs


@dataclass
class RecipeConfig(Config):
    """The recipe search: its plan, where records and run folders go, and which trials to run."""

    plan: str = option("results/recipe/plan.json", "the trials, in order (JSON)", metavar="FILE")
    records: str = option("results/recipe", "one committed JSON record per finished trial; trials with a "
                          "record are not run again", metavar="DIR")
    work: str = option("runs/recipe", "the trials' run folders and kept checkpoints", metavar="DIR")
    only: tuple[str, ...] = option((), "run only these trials (and retrain what they start from if missing)",
                                   metavar="NAME")
