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
    split's image features are store[rows] (store itself when rows is None)."""

    store: torch.Tensor
    image_ids: list
    references: dict  # image id -> raw human captions (for metrics)
    tokens: torch.Tensor
    owner: torch.Tensor
    rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def features(self) -> torch.Tensor:
        """The split's image features [N, F], float32 (a copy when they are rows of a shared store)."""
        return (self.store if self.rows is None else self.store[self.rows]).float()

    def batch_features(self, captions: torch.Tensor | slice) -> torch.Tensor:
        """Float32 features [B, F] of the images that own these captions."""
        images = self.owner[captions]
        return self.store[images if self.rows is None else self.rows[images]].float()

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


def prepare_splits(records: Sequence[ImageRecord], features: torch.Tensor, min_count: int,
                   max_words: int, vocab: Vocabulary | None = None
                   ) -> tuple[Vocabulary, dict[str, SplitTensors], dict[str, list[ImageRecord]]]:
    """Vocabulary from the train captions (unless given) and tensors for every split present.
    Images without a caption are left out, with a warning naming one; a split left with none is
    dropped, and a train split left with none is an InputError."""
    by_split: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_split.setdefault(r.split, []).append(i)
    if "train" not in by_split:
        raise InputError("the dataset has no 'train' split")
    require_captions(records, "train")
    by_split = {split: _captioned(records, split, idx) for split, idx in by_split.items()}
    by_split = {split: idx for split, idx in by_split.items() if idx}
    if vocab is None:
        vocab = Vocabulary.build([c for i in by_split["train"] for c in records[i].captions], min_count)
    tensors, recs = {}, {}
    for split, idx in by_split.items():
        recs[split] = [records[i] for i in idx]
        store, rows = _rows_of(features, idx)
        tensors[split] = build_split(recs[split], store, vocab, max_words, rows)
    return vocab, tensors, recs
