"""`captioning train`, `captioning export` and `captioning compare-cells`."""

from __future__ import annotations

import argparse
import json
import time

from ..core import distributed
from ..core.devices import resolve_device
from ..core.errors import InputError
from ..data.records import select_split
from ..data.tensors import prepare_splits
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble, compatible, save_ensemble
from ..features.config import ComputeConfig, EncoderConfig
from ..lab.comparison import rewrite_report, run_comparison, status
from ..lab.config import ComparisonConfig
from ..training.config import ScstConfig, TrainConfig
from ..training.run import choose_decoding, fine_tune, train_model
from ..training.state import RunFolder
from . import datasets
from .options import build


def _report(summary: dict, start: float) -> int:
    summary["total_seconds"] = time.time() - start
    if distributed.world().main:
        print(json.dumps(summary))
    return 0


def _claim(args: argparse.Namespace) -> None:
    """Refuse, before any work, an --out that is a file, or that holds a run that is neither
    resumed nor replaced."""
    run = RunFolder(args.out)
    if run.out.exists() and not run.out.is_dir():
        raise InputError(f"--out {run.out}: is a file, not a run folder")
    if run.held() and not (args.resume or args.force):
        raise InputError(f"--out {run.out}: already holds a run ({run.held()}); pass --resume to continue it "
                         "or --force to replace it")


def train(args: argparse.Namespace) -> int:
    """Cross-entropy training of a new decoder on cached features."""
    start = time.time()
    _claim(args)
    enc = build(args, EncoderConfig)
    encoder, feats, kept = datasets.features(args, datasets.records(args), name=enc.encoder,
                                             weights=enc.encoder_weights, flip=enc.flip)
    summary = train_model(kept, feats, encoder.spec, build(args, DecoderConfig), build(args, TrainConfig),
                          args.out, resume=args.resume, device=encoder.device, progress=not args.quiet,
                          amp=build(args, ComputeConfig).amp)
    return _report(summary, start)


def scst(args: argparse.Namespace) -> int:
    """Self-critical fine-tuning of --init (a cross-entropy or SCST checkpoint) on the dataset's
    train split, on cached features."""
    start = time.time()
    _claim(args)
    compute = build(args, ComputeConfig)
    init = Checkpoint.load(args.init, resolve_device(compute.device))
    _, feats, kept = datasets.features(args, datasets.records(args), init.encoder)
    summary = fine_tune(init, kept, feats, build(args, ScstConfig), args.out, resume=args.resume,
                        device=init.decoder.embed.weight.device, progress=not args.quiet, amp=compute.amp)
    return _report(summary, start)


def export(args: argparse.Namespace) -> int:
    """Choose the default decoding on the val split (beam only if its CIDEr is higher), then save
    the checkpoint, or several as one ensemble folder."""
    device = resolve_device(build(args, ComputeConfig).device)
    ckpts = [Checkpoint.load(p, device) for p in args.checkpoint]
    compatible(ckpts)
    model = ckpts[0].decoder if len(ckpts) == 1 else Ensemble([c.decoder for c in ckpts])
    _, feats, kept = datasets.features(args, select_split(datasets.records(args), "val"), ckpts[0].encoder)
    candidates = [DecodeConfig(), DecodeConfig("beam", beam_size=args.beam)]
    best, cider = choose_decoding(model, ckpts[0].vocab, feats, kept, candidates)
    print(", ".join(f"val CIDEr {k}: {v:.1f}" for k, v in cider.items()) + f" -> default decoding {best.name}")
    choice = {"decoding_choice": {"split": "val", "cider": cider}}
    if len(ckpts) > 1:
        save_ensemble(ckpts, args.out, best.to_dict(), choice, half=args.half)
    else:
        ckpts[0].decoding, ckpts[0].scores = best.to_dict(), {**ckpts[0].scores, **choice}
        ckpts[0].save(args.out, half=args.half)
    print(f"wrote {args.out}")
    return 0


def compare_cells(args: argparse.Namespace) -> int:
    if args.status:
        print(status(build(args, ComparisonConfig)))
        return 0
    if args.report:
        rewrite_report(build(args, ComparisonConfig))
        return 0
    enc, train_cfg = build(args, EncoderConfig), build(args, TrainConfig)
    encoder, feats, kept = datasets.features(args, datasets.records(args), name=enc.encoder,
                                             weights=enc.encoder_weights, flip=enc.flip)
    prepared = prepare_splits(kept, feats, train_cfg.min_count, train_cfg.max_words)
    command = " ".join(["captioning", *args.argv])
    run_comparison(prepared, encoder.spec, build(args, DecoderConfig), train_cfg, build(args, ComparisonConfig),
                   encoder.device, command=command, progress=not args.quiet)
    return 0
