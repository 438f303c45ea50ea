"""What the notebooks share, so none of them repeats loading code: the shipped model (or another
checkpoint) with the fixed split's records, their cached features and tensors in its vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.coco import load_coco
from ..data.records import ImageRecord
from ..data.split import make_split
from ..data.tensors import SplitTensors, prepare_splits
from ..decoder.checkpoint import Checkpoint
from ..decoder.ensemble import Ensemble, load_decoders
from ..decoder.model import CaptionDecoder
from ..features.cache import cache_path_for, record_features
from ..features.loading import AnyEncoder, encoder_for
from ..text.vocabulary import Vocabulary
from ..training.provenance import caption_words
from .stats import subsample_splits


@dataclass
class Workbench:
    """A model and the data it is studied on."""

    checkpoint: Checkpoint  # vocabulary, encoder spec, default decoding, how it was trained
    decoder: CaptionDecoder | Ensemble
    encoder: AnyEncoder
    records: list[ImageRecord]  # the (subsampled) fixed split, images that could be read
    features: torch.Tensor  # one row per record, in the checkpoint's feature space
    split: dict[str, SplitTensors]  # tensors per split, in the model's vocabulary
    by_split: dict[str, list[ImageRecord]]

    @property
    def vocab(self) -> Vocabulary:
        return self.checkpoint.vocab

    @property
    def single(self) -> CaptionDecoder:
        """One decoder to look inside (an ensemble's first member)."""
        return self.decoder.members[0] if isinstance(self.decoder, Ensemble) else self.decoder


def shared_records(coco: str | Path, sizes: Mapping[str, int] | None = None) -> list[ImageRecord]:
    """The shared COCO subset with the fixed split; sizes {split: n} keeps the first n of each."""
    coco = Path(coco)
    records = make_split(load_coco(coco / "captions_val2017.json", coco / "images"))
    return subsample_splits(records, sizes) if sizes else records


def workbench(coco: str | Path, sizes: Mapping[str, int] | None = None, cache_dir: str | Path | None = None,
              checkpoint: str | Path | None = None, runtime: str = "auto") -> Workbench:
    """Load a checkpoint (default: the shipped model), its encoder and the split's features;
    runtime="torch" gives an encoder that can also name ImageNet classes (encoder.classify)."""
    decoder, ckpt = load_decoders([checkpoint])
    encoder = encoder_for(ckpt.encoder, runtime=runtime)
    records = shared_records(coco, sizes)
    cache = cache_path_for(encoder.spec, [r.path for r in records], cache_dir) if cache_dir else None
    features, kept, _ = record_features(records, encoder, cache, progress=False)
    words = caption_words(ckpt.training, str(ckpt.folder))
    _, split, by_split = prepare_splits(kept, features, ckpt.vocab.min_count, words, vocab=ckpt.vocab)
    return Workbench(ckpt, decoder, encoder, kept, features, split, by_split)
