"""Is one model better than another on the same split? A paired bootstrap over images of the
per-image CIDEr that `captioning evaluate --out FILE.json` wrote for each (lab.significance).

  captioning evaluate --split test --out /tmp/new.json
  captioning evaluate --split test --checkpoint OLD --out /tmp/old.json
  python benchmarks/compare_models.py /tmp/new.json /tmp/old.json --json results/.../new-vs-old.json

Each file holds one decoding (evaluate without --compare); the images must be the same. Exit 2
with one line naming the file on a bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captioning.core.errors import InputError
from captioning.core.io import read_json, write_json
from captioning.lab.significance import paired_bootstrap


def per_image_cider(path: Path) -> tuple[str, dict[str, float]]:
    """(the decoding's name, {image id: CIDEr x100}) of one `evaluate --out` file."""
    data = read_json(path, "evaluate output")
    if not isinstance(data, dict) or len(data) != 1:
        raise InputError(f"{path}: expected the output of one decoding (captioning evaluate --out, without --compare)")
    (name, result), = data.items()
    try:
        return name, {str(r["image_id"]): float(r["scores"]["CIDEr"]) for r in result["images"]}
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{path}: images[].scores.CIDEr missing or not a number ({e})") from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path, help="evaluate --out file of the first model")
    ap.add_argument("b", type=Path, help="evaluate --out file of the second model")
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--json", type=Path, metavar="FILE")
    args = ap.parse_args()
    (name_a, a), (name_b, b) = per_image_cider(args.a), per_image_cider(args.b)
    if set(a) != set(b):
        raise InputError(f"{args.a} and {args.b} score different images ({len(set(a) ^ set(b))} differ)")
    ids = sorted(a)
    result = paired_bootstrap([a[i] for i in ids], [b[i] for i in ids], resamples=args.resamples)
    lo, hi = result["interval"]
    print(f"{args.a.name} ({name_a}) - {args.b.name} ({name_b}): mean per-image CIDEr {result['effect']:+.1f} "
          f"(95% interval {lo:+.1f} to {hi:+.1f}), paired bootstrap over {len(ids)} images, p = {result['p']:.3f}")
    if args.json:
        write_json(args.json, {"a": {"file": args.a.name, "decoding": name_a}, "b": {"file": args.b.name, "decoding": name_b},
                               "command": "python benchmarks/compare_models.py " + " ".join(sys.argv[1:]), **result})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
