"""`captioning train`, `captioning export` and `captioning compare-cells`."""

from __future__ import annotations

import argparse
import json
import logging
import time

from ..core import distributed
from ..core.devices import resolve_device
from ..core.errors import InputError
from ..data.records import require_captions, select_split
from ..data.tensors import prepare_splits
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import Ensemble, compatible, save_ensemble
from ..features.config import ComputeConfig, EncoderConfig
from ..lab.comparison import rewrite_report, run_comparison, status
from ..lab.config import ComparisonConfig
from ..lab.report import retrain_groups
from ..training.config import ScstConfig, TrainConfig
from ..training.provenance import trained_on_val
from ..training.run import choose_decoding, fine_tune, train_model
from ..training.state import RunFolder
from . import datasets
from .options import build

log = logging.getLogger("captioning")


def _report(summary: dict, start: float) -> int:
    summary["total_seconds"] = time.time() - start
    if distributed.world().main:
        print(json.dumps(summary))
    return 0


def _claim(args: argparse.Namespace) -> None:
    """Refuse, before any work, an --out that is a file; one that holds a run that is neither
    resumed nor replaced; an existing folder with other files in it, without --force; and a
    --resume with no run there to continue. A new or empty folder starts a new run."""
    run = RunFolder(args.out)
    if run.out.exists() and not run.out.is_dir():
        raise InputError(f"--out {run.out}: is a file, not a run folder")
    held = run.held()
    if args.resume and not held:
        where = "holds no run (no latest/, best/ or metrics.jsonl)" if run.out.exists() else "does not exist"
        raise InputError(f"--out {run.out}: nothing to resume: the folder {where}; drop --resume to start a new run")
    if held and not (args.resume or args.force):
        raise InputError(f"--out {run.out}: already holds a run ({held}); pass --resume to continue it "
                         "or --force to replace it")
    other = next(iter(sorted(run.out.iterdir())), None) if run.out.is_dir() and not held else None
    if other is not None and not args.force:
        raise InputError(f"--out {run.out}: an existing folder that holds no run but other files ({other.name}); "
                         "choose a new or empty folder, or pass --force to write the run beside them")
    if args.resume and not run.resumable:
        log.warning("--out %s: no finished epoch to resume (no latest/trainer.json); starting the run afresh", run.out)


def train(args: argparse.Namespace) -> int:
    """Cross-entropy training of a new decoder on cached features."""
    start = time.time()
    _claim(args)
    enc, recs = build(args, EncoderConfig), datasets.records(args)
    require_captions(recs, "train")  # before the CNN pass over every image
    encoder, feats, kept = datasets.features(args, recs, name=enc.encoder, weights=enc.encoder_weights,
                                             flip=enc.flip)
    cfg = build(args, TrainConfig)
    summary = train_model(kept, feats, encoder.spec, build(args, DecoderConfig), cfg,
                          args.out, resume=args.resume, device=encoder.device, progress=not args.quiet,
                          amp=build(args, ComputeConfig).amp, views=datasets.train_views(args, encoder, kept, cfg.views, cfg.train_val))
    return _report(summary, start)


def scst(args: argparse.Namespace) -> int:
    """Self-critical fine-tuning of --init (a cross-entropy or SCST checkpoint) on the dataset's
    train split, on cached features."""
    start = time.time()
    _claim(args)
    compute = build(args, ComputeConfig)
    init = Checkpoint.load(args.init, resolve_device(compute.device))
    recs = datasets.records(args)
    require_captions(recs, "train")
    encoder, feats, kept = datasets.features(args, recs, init.encoder)
    cfg = build(args, ScstConfig)
    summary = fine_tune(init, kept, feats, cfg, args.out, resume=args.resume, device=init.decoder.embed.weight.device,
                        progress=not args.quiet, amp=compute.amp, views=datasets.train_views(args, encoder, kept, cfg.views, cfg.train_val))
    return _report(summary, start)


def export(args: argparse.Namespace) -> int:
    """Choose the default decoding on the val split (beam only if its CIDEr is higher), then save
    the checkpoint, or several as one ensemble folder."""
    device = resolve_device(build(args, ComputeConfig).device)
    ckpts = [Checkpoint.load(p, device) for p in args.checkpoint]
    compatible(ckpts)
    model = ckpts[0].decoder if len(ckpts) == 1 else Ensemble([c.decoder for c in ckpts])
    candidates = [DecodeConfig(), DecodeConfig("beam", beam_size=args.beam, length_penalty=args.length_penalty,
                                               block_trigrams=args.block_trigrams)]
    if args.decoding != "choose":
        best = candidates[args.decoding == "beam"]
        print(f"default decoding {best.name} (fixed by --decoding, val not looked at)")
        choice = {"decoding_choice": {"fixed": best.name}}
    else:
        for path, ckpt in zip(args.checkpoint, ckpts):
            if trained_on_val(ckpt.training, path):
                raise InputError(f"{path}: trained on the val images (train_val), so val cannot choose its "
                                 "decoding; pass --decoding greedy or --decoding beam")
        _, feats, kept = datasets.features(args, select_split(datasets.records(args), "val"), ckpts[0].encoder)
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


def retrain_commands(runs: list[dict], command: str) -> list[str]:
    """One `captioning compare-cells` command per group of cells sharing an epoch cap and a seed count
    (lab.report.retrain_groups): together they retrain every record from scratch. Their other options
    are those of `command`, the one that last trained."""
    rest, skip = [], False
    for word in command.split()[2:]:
        skip = word in ("--cells", "--seeds", "--epochs") or (skip and not word.startswith("--"))
        rest += [] if skip else [word]
    return [" ".join(["captioning compare-cells --cells", *cells, f"--seeds {seeds}",
                      *([f"--epochs {cap:g}"] if cap != float("inf") else []), *rest])
            for cells, seeds, cap in retrain_groups(runs)]


def compare_cells(args: argparse.Namespace) -> int:
    if args.status:
        print(status(build(args, ComparisonConfig)))
        return 0
    if args.report:
        rewrite_report(build(args, ComparisonConfig), retrain_commands)
        return 0
    enc, train_cfg = build(args, EncoderConfig), build(args, TrainConfig)
    encoder, feats, kept = datasets.features(args, datasets.records(args), name=enc.encoder,
                                             weights=enc.encoder_weights, flip=enc.flip)
    prepared = prepare_splits(kept, feats, train_cfg.min_count, train_cfg.max_words)
    command = " ".join(["captioning", *args.argv])
    run_comparison(prepared, encoder.spec, build(args, DecoderConfig), train_cfg, build(args, ComparisonConfig),
                   encoder.device, command=command, progress=not args.quiet, commands=retrain_commands)
    return 0
