"""Image features plus tokenized captions of one split, as tensors the training loop batches.

The features can stay where they are: a split keeps the rows it needs of a (possibly memory-
mapped, shared) feature matrix instead of copying them, so torchrun ranks share one cache."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core.errors import InputError
from ..text.tokenizer import tokenize
from ..text.vocabulary import Vocabulary
from .records import ImageRecord, require_captions

log = logging.getLogger(__name__)


@dataclass
class SplitTensors:
    """tokens [M, L] (<start> words <end> <pad>...); owner [M] -> image index in the split; the
    split's image features are store[rows] (store itself when rows is None). With views V > 1
    (with_views), the store holds V views of each of the N images, view v of image i at row
    v * N + i, and draw_views points rows at one view per image."""

    store: torch.Tensor
    image_ids: list
    references: dict  # image id -> raw human captions (for metrics)
    tokens: torch.Tensor
    owner: torch.Tensor
    rows: torch.Tensor | None = None
    views: int = 1

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def features(self) -> torch.Tensor:
        """The split's image features [N, F], float32 (a copy when they are rows of a shared store)."""
        return (self.store if self.rows is None else self.store[self.rows]).float()

    def batch_features(self, captions: torch.Tensor | slice) -> torch.Tensor:
        """Float32 features [B, F] of the images that own these captions."""
        return self.image_features(self.owner[captions])

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Float32 features [B, F] of these images (indices into the split)."""
        return self.store[images if self.rows is None else self.rows[images]].float()

    def draw_views(self, generator: torch.Generator) -> None:
        """Point each image at one of its views, drawn uniformly with `generator` (training
        augmentation; a split with one view draws nothing and keeps its rows)."""
        if self.views > 1:
            n = len(self)
            self.rows = torch.arange(n) + n * torch.randint(self.views, (n,), generator=generator)

    def subset(self, n: int) -> SplitTensors:
        """The first n images and their captions (for quick validation)."""
        if n <= 0 or n >= len(self):
            return self
        keep = self.owner < n
        ids = self.image_ids[:n]
        store, rows = (self.store[:n], None) if self.rows is None else (self.store, self.rows[:n])
        return SplitTensors(store, ids, {i: self.references[i] for i in ids}, self.tokens[keep],
                            self.owner[keep], rows)


def build_split(records: Sequence[ImageRecord], features: torch.Tensor, vocab: Vocabulary,
                max_words: int, rows: torch.Tensor | None = None) -> SplitTensors:
    """Tokenize every caption (truncated to max_words words) and pad to one matrix. features are
    the records' own [N, F], or a bigger store whose `rows` are theirs."""
    tokens, owner = [], []
    for i, record in enumerate(records):
        for caption in record.captions:
            tokens.append(torch.tensor(vocab.encode(tokenize(caption)[:max_words])))
            owner.append(i)
    padded = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=vocab.pad_id) \
        if tokens else torch.zeros(0, 2, dtype=torch.long)
    ids = [r.image_id for r in records]
    return SplitTensors(features, ids, {r.image_id: list(r.captions) for r in records}, padded,
                        torch.tensor(owner, dtype=torch.long), rows)


def with_views(split: SplitTensors, extra: torch.Tensor) -> SplitTensors:
    """The split with 1 + V' views per image: its own features are view 0, extra [N, V', F] the
    others (a float32 copy [V * N, F]); rows start at view 0."""
    if extra.shape[:1] != (len(split),) or extra.dim() != 3:
        raise ValueError(f"views: expected [{len(split)}, V, F] features, got {list(extra.shape)}")
    store = torch.cat([split.features, extra.float().transpose(0, 1).reshape(-1, extra.shape[-1])])
    return SplitTensors(store, split.image_ids, split.references, split.tokens, split.owner,
                        torch.arange(len(split)), 1 + extra.shape[1])


def _rows_of(features: torch.Tensor, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(store, rows) for these row indices: a view for a contiguous run, else the shared matrix."""
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return features[idx[0]:idx[0] + len(idx)], None
    return features, torch.tensor(idx, dtype=torch.long)


def _captioned(records: Sequence[ImageRecord], split: str, idx: list[int]) -> list[int]:
    """The images of a split that have a caption; the others are named in one warning line."""
    kept = [i for i in idx if records[i].captions]
    if len(kept) < len(idx):
        first = next(records[i] for i in idx if not records[i].captions)
        log.warning("the %s split: left out %d of %d images with no non-empty caption (e.g. %s, image %s)",
                    split, len(idx) - len(kept), len(idx), first.path, first.image_id)
    return kept


def training_records(records: Sequence[ImageRecord], train_val: bool = False) -> list[ImageRecord]:
    """The records a run trains on, in record order: the train split, plus val with train_val."""
    return [r for r in records if r.split == "train" or (train_val and r.split == "val")]


def prepare_splits(records: Sequence[ImageRecord], features: torch.Tensor, min_count: int,
                   max_words: int, vocab: Vocabulary | None = None, views: torch.Tensor | None = None,
                   train_val: bool = False) -> tuple[Vocabulary, dict[str, SplitTensors], dict[str, list[ImageRecord]]]:
    """Vocabulary from the train captions (unless given) and tensors for every split present.
    Images without a caption are left out, with a warning naming one; a split left with none is
    dropped, and a train split left with none is an InputError. views: more views [n, V', F] of
    training_records, in record order (with_views); the other splits keep view 0 alone.
    train_val: the train split takes the val images too (val stays, and its scores mean nothing)."""
    by_split: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_split.setdefault(r.split, []).append(i)
    if "train" not in by_split:
        raise InputError("the dataset has no 'train' split")
    require_captions(records, "train")
    if train_val:
        by_split["train"] = sorted(by_split["train"] + by_split.get("val", []))
        log.warning("train_val: training on the %d val images too; val scores no longer measure anything",
                    len(by_split.get("val", [])))
    position = {i: j for j, i in enumerate(by_split["train"])}  # training record -> its row of views
    by_split = {split: _captioned(records, split, idx) for split, idx in by_split.items()}
    by_split = {split: idx for split, idx in by_split.items() if idx}
    if vocab is None:
        vocab = Vocabulary.build([c for i in by_split["train"] for c in records[i].captions], min_count)
    tensors, recs = {}, {}
    for split, idx in by_split.items():
        recs[split] = [records[i] for i in idx]
        store, rows = _rows_of(features, idx)
        tensors[split] = build_split(recs[split], store, vocab, max_words, rows)
    if views is not None:
        if len(views) != len(position):
            raise ValueError(f"views: {len(views)} rows for {len(position)} train records")
        tensors["train"] = with_views(tensors["train"], views[[position[i] for i in by_split["train"]]])
    return vocab, tensors, recs
