"""Error analysis on val: the images the shipped model (or --checkpoint) captions worst.

Captions the 250 val images of the shared COCO subset's fixed split with the model's default
decoding, scores them with pycocoevalcap's CIDEr, takes the --n with the lowest per-image CIDEr
and says how many of them are the model's stock phrases. Then it checks the committed analysis
(--analysis, default results/error-analysis/val-worst50.json): same images in the same order,
same captions, CIDEr within 0.05, and prints how many images carry each (hand-labelled)
category. Exit 1 on a mismatch, 2 on a bad input (one line naming it).

  python benchmarks/error_analysis.py                       # regenerate, check, count
  python benchmarks/error_analysis.py --draft new.json      # a fresh list to label (categories empty)
  python benchmarks/error_analysis.py --checkpoint NEW --relabel results/error-analysis/val-worst50-NEW.json
                                           # the committed 50 with NEW's captions, to label with the same rules
  python benchmarks/error_analysis.py --review /tmp/review  # sheets: photo, caption, the 5 references
                                           # (with --relabel: of the committed images, with NEW's captions)
  python benchmarks/error_analysis.py --sheet results/error-analysis/examples.jpg --examples 511321,...

The committed analysis names the model it labels (model_digest, a fingerprint of its weights):
results/error-analysis/val-worst50.json is the first shipped ensemble's, kept in git at ecedf3a;
checking it against another model is refused in one line. To check it:
  git worktree add /tmp/v1 ecedf3a
  python benchmarks/error_analysis.py --checkpoint /tmp/v1/captioning/pretrained/coco-lite2-scst-x3

--sheet draws the committed entries named by --examples (photo, caption, CIDEr) as one JPEG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captioning.core.errors import InputError
from captioning.core.io import write_json
from captioning.core.runtime import tune
from captioning.decoder.checkpoint import PRETRAINED
from captioning.decoder.decode_config import resolve_decoding
from captioning.decoder.ensemble import load_decoders, weights_digest
from captioning.features.cache import cached_features
from captioning.features.loading import encoder_for
from captioning.lab.caption_rows import caption_rows
from captioning.lab.errors import (
    CATEGORIES,
    CATEGORY_RULES,
    category_counts,
    compare_worst,
    read_analysis,
    relabel_draft,
    stock_phrases,
    worst_images,
)
from captioning.lab.notebook import shared_records
from captioning.render.captions import caption_grid
from captioning.render.layout import save_figure

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "../shared/data/coco-val2017"
ANALYSIS = ROOT / "results/error-analysis/val-worst50.json"


def compute(checkpoint: str, split: str) -> tuple[list[dict], dict, dict]:
    """(every image of the split, lowest CIDEr first; the decoding used; {image_id: record})."""
    decoder, ckpt = load_decoders([checkpoint])
    cfg = resolve_decoding(ckpt.decoding)
    records = [r for r in shared_records(SHARED) if r.split == split]
    feats, failed = cached_features(encoder_for(ckpt.encoder), [r.path for r in records], progress=False)
    if failed:
        raise InputError(f"{len(failed)} {split} image(s) could not be read, e.g. {next(iter(failed.values()))}")
    ranked = worst_images(decoder, feats, records, ckpt.vocab, len(records), cfg)
    return ranked, cfg.to_dict(), {str(r.image_id): r for r in records}


def review_sheets(worst: list[dict], records: dict, out: Path, per_sheet: int = 5) -> None:
    """Sheets for labelling: each image with its caption, CIDEr and the references."""
    for start in range(0, len(worst), per_sheet):
        chunk = worst[start:start + per_sheet]
        recs = [records[str(e["image_id"])] for e in chunk]
        fig = caption_rows([r.path for r in recs],
                           [{f"#{start + i + 1} id {e['image_id']}": e["caption"]} for i, e in enumerate(chunk)],
                           [r.captions for r in recs],
                           [{f"#{start + i + 1} id {e['image_id']}": {"CIDEr": e["cider"]}} for i, e in enumerate(chunk)])
        save_figure(fig, out / f"review-{start // per_sheet + 1:02d}.png", dpi=60)


def example_sheet(entries: list[dict], ids: list[str], out: Path) -> None:
    """One JPEG: the named committed entries, each photo with its caption and CIDEr."""
    if not ids:
        raise InputError("--examples: give one or more comma-separated image ids for --sheet")
    by_id = {str(e["image_id"]): e for e in entries}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise InputError(f"--examples: image {unknown[0]} is not in the committed analysis")
    chosen = [by_id[i] for i in ids]
    fig = caption_grid([SHARED / "images" / e["file_name"] for e in chosen], [e["caption"] for e in chosen],
                       titles=[f"CIDEr {e['cider']:.1f} (id {e['image_id']})" for e in chosen],
                       ncols=4, cell_in=2.1)
    save_figure(fig, out, dpi=100)


def print_stock_phrases(worst: list[str], everything: list[str]) -> None:
    phrases = stock_phrases(worst, everything)
    for opening, n_worst, n_all in phrases["openings"]:
        print(f"captions opening '{opening} ...': {n_worst} of the {len(worst)} worst, {n_all} of all {len(everything)}")
    n_worst, n_all = phrases["reused"]
    print(f"captions given word for word to 2+ images: {n_worst} of the {len(worst)} worst, {n_all} of all {len(everything)}")


def check_model(analysis_path: Path, checkpoint: str) -> None:
    """The committed labels describe one model's captions: refuse, in one line, to check them
    against another (a newly shipped model has its own worst images)."""
    analysis = read_analysis(analysis_path)
    made_with, digest = analysis.get("model_digest"), weights_digest(checkpoint)
    if made_with and made_with != digest:
        where = analysis.get("model", "another model")
        raise InputError(f"{analysis_path}: model_digest {made_with} is {where}, not --checkpoint {checkpoint} "
                         f"({digest}); pass that model as --checkpoint, or --draft FILE to list this one's worst")


def report(worst: list[dict], analysis_path: Path) -> int:
    """Check the committed analysis against the fresh list and print the category counts."""
    analysis = read_analysis(analysis_path)
    problems = compare_worst(analysis["images"], worst)
    for line in problems:
        print(f"MISMATCH {line}")
    counts = category_counts(analysis["images"])
    print(f"{len(analysis['images'])} images; images per category (an image may have several):")
    for name in CATEGORIES:
        print(f"  {counts[name]:3d}  {name}")
    print("committed analysis matches" if not problems else f"{len(problems)} mismatch(es)")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(PRETRAINED))
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--analysis", type=Path, default=ANALYSIS, help="the committed, labelled analysis to check")
    ap.add_argument("--draft", type=Path, metavar="FILE", help="write the fresh list with empty categories")
    ap.add_argument("--relabel", type=Path, metavar="FILE", help="write --analysis's images with this model's captions")
    ap.add_argument("--review", type=Path, metavar="DIR", help="write labelling sheets (photo, caption, references)")
    ap.add_argument("--sheet", type=Path, metavar="FILE.jpg", help="write an example sheet of --examples")
    ap.add_argument("--examples", default="", help="comma-separated image ids for --sheet")
    args = ap.parse_args()
    if args.sheet:
        example_sheet(read_analysis(args.analysis)["images"], [i for i in args.examples.split(",") if i], args.sheet)
        print(f"wrote {args.sheet} ({args.sheet.stat().st_size // 1024} KB)")
        return 0
    if args.n < 1:
        raise InputError(f"--n: must be at least 1, got {args.n}")
    for flag, path in (("--draft", args.draft), ("--relabel", args.relabel)):
        if path and path.exists():
            raise InputError(f"{flag}: {path} exists; choose a new file")
    if not (args.draft or args.relabel or args.review):
        check_model(args.analysis, args.checkpoint)
    tune()
    ranked, decoding, records = compute(args.checkpoint, args.split)
    worst = ranked[:args.n]
    for rank, e in enumerate(worst, 1):
        print(f"{rank:3d}  {e['image_id']}  CIDEr {e['cider']:5.2f}  {e['caption']}")
    print_stock_phrases([e["caption"] for e in worst], [e["caption"] for e in ranked])
    images = (relabel_draft(read_analysis(args.analysis)["images"], ranked) if args.relabel
              else [{**e, "categories": [], "note": ""} for e in worst])
    if args.review:  # sheets of what is being labelled: the committed images again with --relabel
        review_sheets(images, records, args.review)
    if args.draft or args.relabel:
        write_json(args.draft or args.relabel, {
            "checkpoint": Path(args.checkpoint).name, "model_digest": weights_digest(args.checkpoint),
            "split": args.split, "decoding": decoding,
            "command": "python benchmarks/error_analysis.py", "category_rules": CATEGORY_RULES, "images": images})
        return 0
    return report(worst, args.analysis)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
