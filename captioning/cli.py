"""The `captioning` command: split, extract-features, train, evaluate, caption, compare-cells."""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__

USAGE_ERROR, SOME_SKIPPED = 2, 1


def _err(msg: str) -> None:
    print(f"captioning: error: {msg}", file=sys.stderr)


def _dataset_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--dataset", required=required, metavar="SPLIT.json",
                   help="Karpathy-style split JSON (from `captioning split`) or a COCO annotation file"
                        + ("" if required else "; default: the fixed split of ../shared/data/coco-val2017"))
    p.add_argument("--images", metavar="ROOT", help="folder the dataset's image paths resolve against")


def _encoder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", default="efficientnet_lite0",
                   help="efficientnet_lite0 (default, offline), a timm name, or torchvision:NAME")
    p.add_argument("--encoder-weights", metavar="FILE", help="local state dict for the encoder")
    p.add_argument("--cache", metavar="FILE", help="feature cache file (default: ~/.cache/captioning)")


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="cuda, cpu, cuda:1 ... (default: CUDA if available)")


def _decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (1 = greedy)")
    p.add_argument("--n-best", type=int, default=1, help="captions per image (beam or sampling)")
    p.add_argument("--length-penalty", type=float, help="GNMT length normalization alpha")
    p.add_argument("--block-trigrams", action="store_true", help="forbid repeated trigrams in beams")
    p.add_argument("--max-len", type=int, help="maximum tokens per caption")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy/beam")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="seed for --sample")


def decode_config(args: argparse.Namespace, default: dict | None = None):
    """A DecodeConfig from the checkpoint's default decoding, overridden by command-line flags."""
    from .decoding import DecodeConfig

    base = dict(default or {})
    if args.sample:
        base.update(strategy="sample", temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, seed=args.seed)
    elif args.beam is not None:
        if args.beam < 1:
            raise ValueError("--beam must be >= 1")
        base.update(strategy="beam" if args.beam > 1 else "greedy", beam_size=args.beam)
    for flag, key in (("length_penalty", "length_penalty"), ("max_len", "max_len")):
        if getattr(args, flag) is not None:
            base[key] = getattr(args, flag)
    base["n_best"] = args.n_best
    base["block_trigrams"] = args.block_trigrams or base.get("block_trigrams", False)
    if base.get("strategy") == "beam":
        base["beam_size"] = max(base.get("beam_size", 3), args.n_best)
    return DecodeConfig(**base)


def cmd_split(args: argparse.Namespace) -> int:
    from .data import load_coco, load_flickr8k, make_split, write_karpathy

    if args.flickr8k:
        records = load_flickr8k(args.flickr8k)
    elif args.coco_annotations and args.images:
        records = make_split(load_coco(args.coco_annotations, args.images), args.val, args.test)
    else:
        raise ValueError("give --coco-annotations FILE and --images DIR (or --flickr8k ROOT)")
    write_karpathy(records, args.out, "flickr8k" if args.flickr8k else "coco")
    counts = {s: sum(r.split == s for r in records) for s in ("train", "val", "test")}
    print(f"wrote {args.out}: {len(records)} images ({', '.join(f'{v} {k}' for k, v in counts.items())})")
    return 0


def _load_features(args: argparse.Namespace, records, encoder_name: str | None = None):
    from .encoder import build_encoder
    from .features import record_features
    from .runtime import resolve_device

    encoder = build_encoder(encoder_name or args.encoder, args.encoder_weights, resolve_device(args.device))
    features, kept, errors = record_features(records, encoder, args.cache, progress=not args.quiet)
    for e in errors:
        print(f"skipped {e}", file=sys.stderr)
    return encoder, features, kept


def cmd_extract_features(args: argparse.Namespace) -> int:
    from .data import load_dataset

    records = load_dataset(args.dataset, args.images)
    _, features, kept = _load_features(args, records)
    print(f"features for {len(kept)} of {len(records)} images: {tuple(features.shape)}")
    return 0 if len(kept) == len(records) else SOME_SKIPPED


def cmd_train(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .data.tensors import prepare_splits
    from .decoder import DecoderConfig
    from .runtime import resolve_device
    from .training import TrainConfig, fit

    start = time.time()
    records = load_dataset(args.dataset, args.images)
    encoder, features, kept = _load_features(args, records)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                      min_count=args.min_count, label_smoothing=args.label_smoothing, seed=args.seed,
                      val_images=args.val_images, weight_decay=args.weight_decay)
    vocab, split, _ = prepare_splits(kept, features, cfg.min_count, cfg.max_words)
    if "val" not in split:
        raise ValueError(f"{args.dataset}: the dataset has no 'val' split for early stopping")
    model_cfg = DecoderConfig(vocab_size=len(vocab), feature_dim=encoder.spec.feature_dim,
                              embed_dim=args.embed_dim, hidden_dim=args.hidden_dim, num_layers=args.layers,
                              dropout=args.dropout, cell=args.cell, inject=args.inject,
                              tie_weights=args.tie_weights, forget_bias=args.forget_bias)
    print(f"training a {args.cell} decoder on {len(split['train'])} images / "
          f"{len(split['train'].tokens)} captions, vocabulary {len(vocab)}", file=sys.stderr)
    summary = fit(split["train"], split["val"], vocab, model_cfg, cfg, encoder.spec, args.out,
                  resume=args.resume, device=resolve_device(args.device), progress=not args.quiet)
    summary["total_seconds"] = time.time() - start
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import Checkpoint
    from .data import load_dataset, select_split
    from .evaluation import evaluate_split, format_table
    from .io import write_json
    from .runtime import resolve_device

    device = resolve_device(args.device)
    ckpt = Checkpoint.load(args.checkpoint, device)
    records = select_split(load_dataset(args.dataset, args.images), args.split)
    _, features, kept = _load_features(args, records, ckpt.encoder.name)
    if args.compare:
        from .decoding import DecodeConfig
        settings = {"greedy": DecodeConfig(), "beam-3": DecodeConfig("beam", beam_size=3)}
    else:
        cfg = decode_config(args, ckpt.extra.get("decoding"))
        settings = {cfg.strategy + (f"-{cfg.beam_size}" if cfg.strategy == "beam" else ""): cfg}
    results = {name: evaluate_split(ckpt.decoder, features, kept, ckpt.vocab, cfg)
               for name, cfg in settings.items()}
    print(format_table({name: r["scores"] for name, r in results.items()}, extra=("distinct_captions",)))
    print(f"{args.split} split: {len(kept)} images", file=sys.stderr)
    if args.out:
        write_json(args.out, {name: {"decoding": settings[name].to_dict(), **r} for name, r in results.items()})
    if args.json:
        print(json.dumps(next(iter(results.values()))["scores"]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Choose the default decoding on the val split (beam only if its CIDEr is higher), then save."""
    from .checkpoint import Checkpoint
    from .data import load_dataset, select_split
    from .decoding import DecodeConfig
    from .evaluation import evaluate_split

    ckpt = Checkpoint.load(args.checkpoint)
    records = select_split(load_dataset(args.dataset, args.images), "val")
    _, features, kept = _load_features(args, records, ckpt.encoder.name)
    options = {"greedy": DecodeConfig(), f"beam-{args.beam}": DecodeConfig("beam", beam_size=args.beam)}
    cider = {name: evaluate_split(ckpt.decoder, features, kept, ckpt.vocab, cfg, meteor=False)["scores"]["CIDEr"]
             for name, cfg in options.items()}
    best = max(cider, key=lambda k: (cider[k], k == "greedy"))
    print(", ".join(f"val CIDEr {k}: {v:.1f}" for k, v in cider.items()) + f" -> default decoding {best}")
    ckpt.extra.update(decoding=options[best].to_dict(), decoding_choice={"split": "val", "cider": cider})
    ckpt.save(args.out, half=args.half)
    print(f"wrote {args.out}")
    return 0


def cmd_caption(args: argparse.Namespace) -> int:
    from .captioner import Captioner, caption_paths

    captioner = Captioner.from_pretrained(args.checkpoint, device=args.device)
    cfg = decode_config(args, captioner.default_decoding)
    summary = caption_paths(captioner, args.paths, output=args.output, fmt=args.format, decode=cfg,
                            batch_size=args.batch_size, overlay_dir=args.overlay, grid=args.grid,
                            limit=args.limit, num_workers=args.workers, progress=not args.quiet,
                            echo=not args.quiet)
    return SOME_SKIPPED if summary.skipped else 0


def cmd_compare_cells(args: argparse.Namespace) -> int:
    from .comparison import run_comparison

    run_comparison(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioning", description=__doc__)
    parser.add_argument("--version", action="version", version=f"captioning {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("split", help="write a deterministic train/val/test split JSON")
    p.add_argument("--coco-annotations", metavar="FILE", help="COCO captions_*.json")
    p.add_argument("--images", metavar="DIR", help="the COCO image folder")
    p.add_argument("--flickr8k", metavar="ROOT", help="a Flickr8k folder (captions + official splits)")
    p.add_argument("--val", type=int, default=250)
    p.add_argument("--test", type=int, default=250)
    p.add_argument("--out", required=True, metavar="SPLIT.json")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("extract-features", help="compute and cache CNN features for a dataset")
    _dataset_args(p, required=False), _encoder_args(p), _device_arg(p)
    p.set_defaults(func=cmd_extract_features)

    from .cells import CELLS
    from .decoder import DecoderConfig
    from .training import TrainConfig

    t, m = TrainConfig(), DecoderConfig(vocab_size=1)
    p = sub.add_parser("train", help="train a decoder on cached features")
    _dataset_args(p, required=False), _encoder_args(p), _device_arg(p)
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--weight-decay", type=float, default=t.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=t.label_smoothing)
    p.add_argument("--patience", type=int, default=t.patience)
    p.add_argument("--min-count", type=int, default=t.min_count)
    p.add_argument("--val-images", type=int, default=t.val_images, help="validate on the first N val images (0: all)")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--cell", default=m.cell, choices=list(CELLS))
    p.add_argument("--embed-dim", type=int, default=m.embed_dim)
    p.add_argument("--hidden-dim", type=int, default=m.hidden_dim)
    p.add_argument("--layers", type=int, default=m.num_layers)
    p.add_argument("--dropout", type=float, default=m.dropout)
    p.add_argument("--inject", default=m.inject, choices=["init", "pre"])
    p.add_argument("--tie-weights", action="store_true")
    p.add_argument("--forget-bias", type=float, default=m.forget_bias)
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/latest")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="package a checkpoint: fp16 weights, default decoding chosen on val")
    p.add_argument("checkpoint", metavar="CKPT_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--half", action="store_true", help="store weights as float16")
    p.add_argument("--beam", type=int, default=3, help="beam size to compare against greedy")
    _dataset_args(p, required=False), _encoder_args(p), _device_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="score a checkpoint with BLEU, METEOR, ROUGE-L, CIDEr")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder (default: the shipped model)")
    _dataset_args(p, required=False), _encoder_args(p), _device_arg(p), _decode_args(p)
    p.add_argument("--split", default="test")
    p.add_argument("--compare", action="store_true", help="report greedy and beam-3 side by side")
    p.add_argument("--out", metavar="FILE.json", help="write per-image captions and scores")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON line last")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("caption", help="caption image files, folders (recursive) and globs")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder (default: the shipped model)")
    p.add_argument("--output", "-o", metavar="FILE", help="captions file: .jsonl (streamed), .json or .csv")
    p.add_argument("--format", choices=["jsonl", "json", "csv"], help="default: from --output's suffix")
    p.add_argument("--overlay", metavar="DIR", help="write one PNG per image: the image and its caption")
    p.add_argument("--grid", metavar="FILE.png", help="write a grid of (up to 50) captioned images")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="JPEG-decoding worker processes")
    p.add_argument("--limit", type=int, help="caption at most N images")
    _decode_args(p), _device_arg(p)
    p.set_defaults(func=cmd_caption)

    p = sub.add_parser("compare-cells", help="train every cell on the same data; write results/cells.md")
    _dataset_args(p, required=False), _encoder_args(p), _device_arg(p)
    p.add_argument("--out", default="results", metavar="DIR")
    p.add_argument("--cells", default="lstm,peephole,cifg,gru,rnn")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--work", default="runs/compare-cells", metavar="DIR",
                   help="where the runs' checkpoints go (finished runs are reused)")
    p.set_defaults(func=cmd_compare_cells)

    for p in sub.choices.values():
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .runtime import tune_malloc

    tune_malloc()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        _err(str(exc))
        return USAGE_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
