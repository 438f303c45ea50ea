"""The data a command works on: --dataset (or the shared COCO subset by default) and its features."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..core import distributed
from ..core.devices import resolve_device
from ..core.errors import InputError
from ..data.datasets import load_dataset
from ..data.records import ImageRecord
from ..data.split import SplitConfig
from ..data.tensors import training_records
from ..features.cache import record_features, record_views
from ..features.config import ComputeConfig, EncoderSpec
from ..features.loading import encoder_for, load_encoder
from .options import build

SHARED_ENV = "CAPTIONING_SHARED_COCO"
SHARED_DEFAULT = Path("../shared/data/coco-val2017")  # beside the repository, as in this project's CI
log = logging.getLogger("captioning")


def shared_coco() -> Path:
    """The shared COCO val2017 subset: $CAPTIONING_SHARED_COCO, else ../shared/data/coco-val2017."""
    root = Path(os.environ.get(SHARED_ENV) or SHARED_DEFAULT)
    if not ((root / "captions_val2017.json").is_file() and (root / "images").is_dir()):
        raise InputError(f"no --dataset given and no shared COCO subset at {root} (captions_val2017.json "
                         f"+ images/); pass --dataset SPLIT.json, or set {SHARED_ENV}=DIR")
    return root


def records(args: argparse.Namespace) -> list[ImageRecord]:
    """The dataset's records, with the fixed split when it is a COCO annotation file."""
    split = build(args, SplitConfig)
    if args.dataset is None:
        root = shared_coco()
        return load_dataset(root / "captions_val2017.json", root / "images", split)
    return load_dataset(args.dataset, args.images, split)


def features(args: argparse.Namespace, recs: list[ImageRecord], spec: EncoderSpec | None = None,
             name: str | None = None, weights: str | None = None, flip: bool = False):
    """(encoder, features, kept records) for recs: the encoder a checkpoint's spec names, or the one
    named; unreadable images are reported and dropped. Under torchrun every rank takes a shard."""
    compute = build(args, ComputeConfig)
    device = resolve_device(compute.device)
    distributed.init(device)  # under torchrun: join the process group (gloo on CPU, NCCL on CUDA)
    if spec is not None:
        encoder = encoder_for(spec, device, compute.runtime, compute.amp)
    else:
        encoder = load_encoder(name, weights, device, flip, compute.runtime, compute.amp)
    feats, kept, errors = record_features(recs, encoder, compute.cache, progress=not args.quiet,
                                          num_workers=compute.workers)
    for e in errors:
        log.warning("skipped %s", e)
    return encoder, feats, kept


def train_views(args: argparse.Namespace, encoder, recs: list[ImageRecord], views: int, train_val: bool = False):
    """Views 1..V-1 of the training records' images (val's too with train_val), features [n, V-1, F]
    cached beside the single-view ones (None for one view: training then sees the centre crop alone)."""
    if views <= 1:
        return None
    compute = build(args, ComputeConfig)
    return record_views(training_records(recs, train_val), encoder, views, compute.cache, progress=not args.quiet,
                        num_workers=compute.workers)
