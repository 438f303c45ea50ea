"""The `captioning` argument parser. It imports only config modules (no torch), so `--help` is instant.
A bad flag is one line on stderr and exit 2, like every other usage error of the command."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..core import __version__
from ..data.split import SplitConfig
from ..decoder.config import DecoderConfig
from ..decoder.decode_config import DecodeConfig
from ..features.config import ComputeConfig, EncoderConfig
from ..lab.config import ComparisonConfig
from ..tools.job import CaptionJob
from ..training.config import RecipeConfig, ScstConfig, TrainConfig
from .options import add_options, number_type

DESCRIPTION = ("Show-and-Tell image captioning: a pretrained CNN vector initializes an LSTM-family "
               "decoder. Subcommands: split, extract-features, train, scst, export, evaluate, caption, "
               "compare-cells, recipe.")
FEATURES = ("device", "runtime", "workers", "cache", "amp")  # ComputeConfig fields for dataset commands


def _dataset_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", metavar="SPLIT.json",
                   help="Karpathy-style split JSON (from `captioning split`) or a COCO annotation file "
                        "(default: $CAPTIONING_SHARED_COCO, else ../shared/data/coco-val2017, split by "
                        "the fixed rule)")
    g.add_argument("--images", metavar="ROOT", help="folder the dataset's image paths resolve against")
    add_options(p, SplitConfig, "split sizes (when the dataset is a COCO annotation file)")


def _checkpoints_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", action="append", metavar="DIR",
                   help="checkpoint folder (default: the shipped model); repeat it to decode with an "
                        "ensemble (mean of the members' log-probabilities)")


def _split_parser(sub) -> None:
    p = sub.add_parser("split", help="write a deterministic train/val/test split JSON")
    p.add_argument("--coco-annotations", metavar="FILE", help="COCO captions_*.json")
    p.add_argument("--images", metavar="DIR", help="the COCO image folder")
    p.add_argument("--flickr8k", metavar="ROOT", help="a Flickr8k folder (captions + official splits)")
    p.add_argument("--out", required=True, metavar="SPLIT.json")
    add_options(p, SplitConfig, "split sizes")


def _extract_parser(sub) -> None:
    p = sub.add_parser("extract-features", help="compute and cache CNN features for a dataset")
    _dataset_args(p)
    add_options(p, EncoderConfig)
    add_options(p, ComputeConfig, only=FEATURES)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its latest/")
    g.add_argument("--force", action="store_true", help="replace the run already in RUN_DIR (without it, "
                                                        "an existing run is refused)")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a decoder on cached features (cross-entropy)")
    _run_args(p)
    _dataset_args(p)
    add_options(p, TrainConfig)
    add_options(p, DecoderConfig)
    add_options(p, EncoderConfig)
    add_options(p, ComputeConfig, only=FEATURES)


def _scst_parser(sub) -> None:
    p = sub.add_parser("scst", help="self-critical fine-tuning (CIDEr-D reward) of a trained checkpoint")
    p.add_argument("--init", required=True, metavar="CKPT_DIR",
                   help="the checkpoint to start from (cross-entropy or SCST; not an ensemble folder)")
    _run_args(p)
    _dataset_args(p)
    add_options(p, ScstConfig)
    add_options(p, ComputeConfig, only=FEATURES)


def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="package a checkpoint (or several, as an ensemble): default "
                                      "decoding chosen on val, optional fp16")
    p.add_argument("checkpoint", nargs="+", metavar="CKPT_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--half", action="store_true", help="store weights as float16")
    p.add_argument("--beam", type=number_type(DecodeConfig, "num_beams"), default=3, metavar="K",
                   help="beam size to compare with greedy")
    p.add_argument("--length-penalty", type=number_type(DecodeConfig, "length_penalty"), default=0.0,
                   metavar="A", help="the beam's length penalty (a width and penalty tuned on val: "
                                     "captioning recipe --tune-decoding)")
    p.add_argument("--block-trigrams", action="store_true",
                   help="the beam never repeats a trigram (what a long length penalty otherwise invites)")
    p.add_argument("--decoding", choices=("choose", "greedy", "beam"), default="choose",
                   help="choose: greedy or beam-K, whichever scores higher on val; greedy or beam: fixed "
                        "without looking at val (members trained on val need this)")
    _dataset_args(p)
    add_options(p, ComputeConfig, only=FEATURES)


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint with BLEU, METEOR, ROUGE-L, CIDEr")
    _checkpoints_arg(p)
    p.add_argument("--split", default="test", help="train, val, test or all (default: test)")
    p.add_argument("--compare", action="store_true", help="report greedy and beam-3 side by side")
    p.add_argument("--out", metavar="FILE.json", help="write per-image captions and scores")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON line last")
    _dataset_args(p)
    add_options(p, DecodeConfig)
    add_options(p, ComputeConfig, only=FEATURES)


def _caption_parser(sub) -> None:
    p = sub.add_parser("caption", help="caption image files, folders (recursive) and globs")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _checkpoints_arg(p)
    add_options(p, CaptionJob)
    add_options(p, DecodeConfig)
    add_options(p, ComputeConfig, only=("device", "runtime", "workers", "amp"))


def _compare_parser(sub) -> None:
    p = sub.add_parser("compare-cells", help="train every cell on the same data; write results/cells.md")
    _dataset_args(p)
    add_options(p, ComparisonConfig)
    p.add_argument("--status", action="store_true", help="say how many runs have a record and exit")
    p.add_argument("--report", action="store_true", help="only rewrite cells.md, cells.json and the figures "
                   "from every record in --records (reads no data, trains nothing)")
    add_options(p, TrainConfig, skip=("seed", "views"))
    add_options(p, DecoderConfig, skip=("cell",))
    add_options(p, EncoderConfig)
    add_options(p, ComputeConfig, only=FEATURES)


def _recipe_parser(sub) -> None:
    p = sub.add_parser("recipe", help="run the recipe search's trials that have no record; write its report")
    _dataset_args(p)
    add_options(p, RecipeConfig)
    p.add_argument("--status", action="store_true", help="say how many trials have a record and exit")
    p.add_argument("--report", action="store_true", help="only rewrite the report from the records")
    p.add_argument("--tune-decoding", nargs="+", metavar="NAME", help="score beam widths 1-5 x length "
                   "penalties 0, 0.5, 1, 1.5, 2, 3 on val for these trials' kept models ('shipped': the shipped model) "
                   "and write results/recipe/decoding-NAME.json")
    add_options(p, ComputeConfig, only=FEATURES)


PARSERS = (_split_parser, _extract_parser, _train_parser, _scst_parser, _export_parser, _evaluate_parser,
           _caption_parser, _compare_parser, _recipe_parser)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, without the usage block (its subcommands' too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="captioning", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"captioning {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(sub)
    for p in sub.choices.values():
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars (and no per-image lines from caption)")
        p.add_argument("--debug", action="store_true", help="print the traceback of an internal error "
                                                            "(also CAPTIONING_DEBUG=1)")
    return parser
