"""Image features plus tokenized captions of one split, as tensors the training loop batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..text.tokenizer import tokenize
from ..text.vocabulary import Vocabulary
from .records import ImageRecord


@dataclass
class SplitTensors:
    """features [N, F]; tokens [M, L] (<start> words <end> <pad>...); owner [M] -> image row."""

    features: torch.Tensor
    image_ids: list
    references: dict  # image id -> raw human captions (for metrics)
    tokens: torch.Tensor
    owner: torch.Tensor

    def __len__(self) -> int:
        return self.features.size(0)

    def subset(self, n: int) -> SplitTensors:
        """The first n images and their captions (for quick validation)."""
        if n <= 0 or n >= len(self):
            return self
        keep = self.owner < n
        ids = self.image_ids[:n]
        return SplitTensors(self.features[:n], ids, {i: self.references[i] for i in ids},
                            self.tokens[keep], self.owner[keep])


def build_split(records: Sequence[ImageRecord], features: torch.Tensor, vocab: Vocabulary,
                max_words: int) -> SplitTensors:
    """Tokenize every caption (truncated to max_words words) and pad to one matrix."""
    rows, owner = [], []
    for i, record in enumerate(records):
        for caption in record.captions:
            ids = vocab.encode(tokenize(caption)[:max_words])
            rows.append(torch.tensor(ids))
            owner.append(i)
    tokens = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=vocab.pad_id) \
        if rows else torch.zeros(0, 2, dtype=torch.long)
    ids = [r.image_id for r in records]
    return SplitTensors(features, ids, {r.image_id: list(r.captions) for r in records}, tokens,
                        torch.tensor(owner, dtype=torch.long))


def prepare_splits(records: Sequence[ImageRecord], features: torch.Tensor, min_count: int,
                   max_words: int, vocab: Vocabulary | None = None
                   ) -> tuple[Vocabulary, dict[str, SplitTensors], dict[str, list[ImageRecord]]]:
    """Vocabulary from the train captions (unless given) and tensors for every split present."""
    by_split: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_split.setdefault(r.split, []).append(i)
    if "train" not in by_split:
        raise ValueError("the dataset has no 'train' split")
    if vocab is None:
        vocab = Vocabulary.build([c for i in by_split["train"] for c in records[i].captions], min_count)
    tensors, recs = {}, {}
    for split, idx in by_split.items():
        recs[split] = [records[i] for i in idx]
        tensors[split] = build_split(recs[split], features[idx], vocab, max_words)
    return vocab, tensors, recs
