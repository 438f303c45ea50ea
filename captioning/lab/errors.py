"""Error analysis: the images a model captions worst (lowest per-image CIDEr on a split), and the
committed, hand-labelled record of what went wrong on each (read, checked and counted here).

Per-image CIDEr depends on the whole split (its document frequencies come from every reference of
the split), so the worst images are always ranked from one scoring of the full split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..core.errors import InputError
from ..core.io import read_json
from ..data.records import ImageRecord
from ..decoder.decode_config import DecodeConfig
from ..decoder.search import StepDecoder
from ..text.vocabulary import Vocabulary
from ..training.evaluation import evaluate_split

CATEGORY_RULES = {  # what went wrong with a caption, and when a labeller picks each
    "wrong object": "a thing, scene or action in the photo named as something else",
    "wrong count": "one where there are several, a group where there are one or two, and so on",
    "wrong color or attribute": "colour, age, gender, weather or another property wrong",
    "hallucinated object": "names something with no counterpart in the photo",
    "generic caption": "true or nearly true but misses what the photo is about",
    "grammar slip": "unfinished or nonsensical wording",
    "references disagree / caption acceptable": "the caption is right; CIDEr is low because the "
                                                "references phrase it differently",
}
CATEGORIES = tuple(CATEGORY_RULES)
FIELDS = ("image_id", "file_name", "caption", "cider", "categories", "note")
CIDER_TOLERANCE = 0.05  # x100; scores are stored with two decimals


def rank_worst(rows: Sequence[Mapping], n: int) -> list[dict]:
    """The n rows (evaluate_split's per-image rows) with the lowest CIDEr, lowest first; ties are
    broken by image id so the list is the same on every run. Each as image_id, file_name, caption,
    cider (two decimals)."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    ordered = sorted(rows, key=lambda r: (r["scores"]["CIDEr"], str(r["image_id"])))
    return [{"image_id": r["image_id"], "file_name": Path(r["image"]).name, "caption": r["caption"],
             "cider": round(float(r["scores"]["CIDEr"]), 2)} for r in ordered[:n]]


@torch.no_grad()
def worst_images(decoder: StepDecoder, features: torch.Tensor, records: Sequence[ImageRecord],
                 vocab: Vocabulary, n: int = 50, cfg: DecodeConfig | None = None) -> list[dict]:
    """Caption every record (features[i] is records[i]'s) with `cfg` (default greedy), score the
    split with pycocoevalcap's CIDEr and return the n images with the lowest per-image CIDEr."""
    if features.size(0) != len(records):
        raise InputError(f"{features.size(0)} feature rows for {len(records)} records")
    result = evaluate_split(decoder, features, records, vocab, cfg, meteor=False)
    return rank_worst(result["images"], n)


def stock_phrases(worst: Sequence[str], everything: Sequence[str], top: int = 3, words: int = 3) -> dict:
    """Are the worst captions the model's stock phrases? The split's `top` most common openings
    (first `words` words) with how many of the worst and of all captions start with each, and how
    many captions are given word for word to two or more images of the split."""
    openings = Counter(" ".join(c.split()[:words]) for c in everything).most_common(top)
    uses = Counter(everything)
    return {"openings": [(o, sum(" ".join(c.split()[:words]) == o for c in worst), n) for o, n in openings],
            "reused": (sum(uses[c] > 1 for c in worst), sum(uses[c] > 1 for c in everything))}


def _check_entry(where: str, entry: object) -> None:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in entry]
    if missing:
        raise InputError(f"{where}: missing field '{missing[0]}'")
    cats = entry["categories"]
    if not isinstance(cats, list) or not cats:
        raise InputError(f"{where}.categories: expected a non-empty list of {', '.join(CATEGORIES)}")
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise InputError(f"{where}.categories: unknown category {unknown[0]!r} (known: {', '.join(CATEGORIES)})")
    if not isinstance(entry["cider"], (int, float)):
        raise InputError(f"{where}.cider: expected a number, got {entry['cider']!r}")


def read_analysis(path: str | Path) -> dict:
    """The committed analysis file: {"checkpoint", "split", "decoding", "images": [entries]}, each
    entry with FIELDS and categories from CATEGORIES. Any problem is one InputError naming the field."""
    data = read_json(path, "error-analysis file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path}: expected an object with an 'images' list")
    for i, entry in enumerate(data["images"]):
        _check_entry(f"{path}: images[{i}]", entry)
    ids = [e["image_id"] for e in data["images"]]
    if len(set(map(str, ids))) != len(ids):
        raise InputError(f"{path}: images: an image id appears twice")
    return data


def compare_worst(committed: Sequence[Mapping], fresh: Sequence[Mapping],
                  tolerance: float = CIDER_TOLERANCE) -> list[str]:
    """Where a committed list of worst images differs from a freshly computed one: one line per
    difference in order, id, file name, caption, or CIDEr beyond `tolerance`; [] when they agree."""
    problems = []
    if len(committed) != len(fresh):
        problems.append(f"{len(committed)} committed images, {len(fresh)} computed")
    for rank, (old, new) in enumerate(zip(committed, fresh), 1):
        if str(old["image_id"]) != str(new["image_id"]):
            problems.append(f"rank {rank}: committed image {old['image_id']}, computed {new['image_id']}")
            continue
        if old["file_name"] != new["file_name"]:
            problems.append(f"image {old['image_id']}: file {old['file_name']!r} vs {new['file_name']!r}")
        if old["caption"] != new["caption"]:
            problems.append(f"image {old['image_id']}: caption {old['caption']!r} vs {new['caption']!r}")
        if abs(float(old["cider"]) - float(new["cider"])) > tolerance:
            problems.append(f"image {old['image_id']}: CIDEr {old['cider']} vs {new['cider']}")
    return problems


def category_counts(entries: Sequence[Mapping]) -> dict[str, int]:
    """How many entries carry each category (an image may carry several), in CATEGORIES order."""
    return {c: sum(c in e["categories"] for e in entries) for c in CATEGORIES}
