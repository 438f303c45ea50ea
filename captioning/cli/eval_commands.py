"""`captioning evaluate`: score a checkpoint (or an ensemble) on a split."""

from __future__ import annotations

import argparse
import json
import logging

from ..core.devices import resolve_device
from ..core.errors import InputError
from ..core.io import write_json
from ..data.records import ImageRecord, select_split
from ..decoder.decode_config import DecodeConfig, resolve_decoding
from ..decoder.ensemble import load_decoders
from ..features.config import ComputeConfig
from ..metrics.coco import format_table
from ..training.evaluation import evaluate_split
from ..training.provenance import trained_on_val
from . import datasets
from .options import build, given

log = logging.getLogger("captioning")


def _with_references(recs: list[ImageRecord], split: str) -> list[ImageRecord]:
    """The images that have a reference to score against; each other one is skipped with a line
    naming it (the loaders drop empty captions), and a split with none left is a usage error."""
    for r in recs:
        if not r.captions:
            log.warning("skipped %s (image %s): no non-empty reference caption to score against", r.path, r.image_id)
    scored = [r for r in recs if r.captions]
    if not scored:
        raise InputError(f"none of the {len(recs)} images of the {split} split has a non-empty reference caption; "
                         "nothing to evaluate")
    return scored


def evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(build(args, ComputeConfig).device)
    decoder, first = load_decoders(args.checkpoint, device)
    where = str(first.folder or "the shipped model")
    if args.split == "val" and trained_on_val(first.training, where):
        log.warning("%s trained on the val images (train_val): its val scores measure images it learned "
                    "from, not held-out ones; score it on test", where)
    recs = _with_references(select_split(datasets.records(args), args.split), args.split)
    _, feats, kept = datasets.features(args, recs, first.encoder)
    if not kept:  # fail fast: nothing to decode, and METEOR cannot score an empty split
        raise InputError(f"none of the {len(recs)} images of the {args.split} split could be read "
                         "(see the lines above); nothing to evaluate")
    if args.compare:
        settings = [DecodeConfig(), DecodeConfig("beam", beam_size=3)]
    else:
        settings = [resolve_decoding(first.decoding, **given(args, DecodeConfig))]
    results = {cfg.name: evaluate_split(decoder, feats, kept, first.vocab, cfg) for cfg in settings}
    print(format_table({name: r["scores"] for name, r in results.items()}, extra=("distinct_captions",)))
    log.info("%s split: %d images", args.split, len(kept))
    if args.out:
        write_json(args.out, {cfg.name: {"decoding": cfg.to_dict(), **results[cfg.name]} for cfg in settings})
    if args.json:
        print(json.dumps(next(iter(results.values()))["scores"]))
    return 0
