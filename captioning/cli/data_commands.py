"""`captioning split` and `captioning extract-features`."""

from __future__ import annotations

import argparse

from ..core import distributed
from ..core.errors import InputError
from ..data.coco import load_coco
from ..data.flickr8k import load_flickr8k
from ..data.karpathy import write_karpathy
from ..data.split import SplitConfig, make_split
from ..features.config import EncoderConfig
from . import datasets
from .exit_codes import DONE, SOME_SKIPPED
from .options import build


def split(args: argparse.Namespace) -> int:
    if args.flickr8k:
        recs = load_flickr8k(args.flickr8k)
    elif args.coco_annotations and args.images:
        recs = make_split(load_coco(args.coco_annotations, args.images), build(args, SplitConfig))
    else:
        raise InputError("give --coco-annotations FILE and --images DIR (or --flickr8k ROOT)")
    write_karpathy(recs, args.out, "flickr8k" if args.flickr8k else "coco")
    counts = {s: sum(r.split == s for r in recs) for s in ("train", "val", "test")}
    print(f"wrote {args.out}: {len(recs)} images ({', '.join(f'{v} {k}' for k, v in counts.items())})")
    return 0


def extract_features(args: argparse.Namespace) -> int:
    recs = datasets.records(args)
    enc = build(args, EncoderConfig)
    _, feats, kept = datasets.features(args, recs, name=enc.encoder, weights=enc.encoder_weights, flip=enc.flip)
    if distributed.world().main:
        print(f"features for {len(kept)} of {len(recs)} images: {tuple(feats.shape)}")
    return DONE if len(kept) == len(recs) else SOME_SKIPPED
