"""Error analysis: the images a model captions worst (lowest per-image CIDEr on a split), and the
committed, hand-labelled record of what went wrong on each (read, checked and counted here).

Per-image CIDEr depends on the whole split (its document frequencies come from every reference of
the split), so the worst images are always ranked from one scoring of the full split. A new model is
judged by re-labelling the same images (relabel_draft, then compare_labels), and the demo photos of
data/samples carry their own labelled record (read_sample_labels, sample_sheet)."""

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
SAMPLE_FIELDS = ("image_id", "file_name", "caption", "categories", "note")  # categories [] = the caption is right
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


def _check_entry(where: str, entry: object, fields: Sequence[str] = FIELDS, right_ok: bool = False) -> None:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object with {', '.join(fields)}")
    missing = [f for f in fields if f not in entry]
    if missing:
        raise InputError(f"{where}: missing field '{missing[0]}'")
    cats = entry["categories"]
    if not isinstance(cats, list) or not (cats or right_ok):
        raise InputError(f"{where}.categories: expected a non-empty list of {', '.join(CATEGORIES)}")
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise InputError(f"{where}.categories: unknown category {unknown[0]!r} (known: {', '.join(CATEGORIES)})")
    if "cider" in fields and not isinstance(entry["cider"], (int, float)):
        raise InputError(f"{where}.cider: expected a number, got {entry['cider']!r}")


def _read_labelled(path: str | Path, what: str, fields: Sequence[str], right_ok: bool) -> dict:
    data = read_json(path, what)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path}: expected an object with an 'images' list")
    for i, entry in enumerate(data["images"]):
        _check_entry(f"{path}: images[{i}]", entry, fields, right_ok)
    ids = [e["image_id"] for e in data["images"]]
    if len(set(map(str, ids))) != len(ids):
        raise InputError(f"{path}: images: an image id appears twice")
    return data


def read_analysis(path: str | Path) -> dict:
    """The committed analysis file: {"checkpoint", "split", "decoding", "images": [entries]}, each
    entry with FIELDS and categories from CATEGORIES. Any problem is one InputError naming the field."""
    return _read_labelled(path, "error-analysis file", FIELDS, right_ok=False)


def read_sample_labels(path: str | Path) -> dict:
    """The labelled demo photos (results/error-analysis/samples.json): entries with SAMPLE_FIELDS,
    where categories [] means the caption is right. Checked as read_analysis checks its file."""
    return _read_labelled(path, "sample-labels file", SAMPLE_FIELDS, right_ok=True)


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


def relabel_draft(committed: Sequence[Mapping], fresh: Sequence[Mapping]) -> list[dict]:
    """The committed images again, in their order, with another model's caption and CIDEr from
    `fresh` (rank_worst rows of the whole split) and empty categories and notes: a file to re-label."""
    by_id = {str(r["image_id"]): r for r in fresh}
    missing = [e["image_id"] for e in committed if str(e["image_id"]) not in by_id]
    if missing:
        raise InputError(f"image {missing[0]} of the committed analysis is not among the {len(fresh)} scored images")
    return [{**{k: by_id[str(e["image_id"])][k] for k in FIELDS[:4]}, "categories": [], "note": ""} for e in committed]


def _model_name(record: Mapping) -> str:
    """What a record calls its model: its "model" description, else its checkpoint's name."""
    return str(record.get("model") or record.get("checkpoint", "?"))


def compare_labels(before: Mapping, after: Mapping) -> dict:
    """Two labelled records of the same images (read_analysis: the old model's, the new model's):
    images per category side by side, as columns {"before: <model>": category_counts, "after:
    ...": ...}, and the images whose label changed, in `before`'s order, with both captions and labels."""
    old = {str(e["image_id"]): e for e in before["images"]}
    new = {str(e["image_id"]): e for e in after["images"]}
    only = [(i, "first") for i in old if i not in new] + [(i, "second") for i in new if i not in old]
    if only:
        raise InputError(f"the records label different images: image {only[0][0]} is only in the {only[0][1]}")
    if before.get("split") != after.get("split"):
        raise InputError(f"the records come from different splits: {before.get('split')} vs {after.get('split')}")
    columns = {f"before: {_model_name(before)}": category_counts(before["images"]),
               f"after: {_model_name(after)}": category_counts(after["images"])}
    changed = [{"image_id": old[i]["image_id"], "file_name": old[i]["file_name"],
                "before": {k: old[i][k] for k in ("caption", "cider", "categories")},
                "after": {k: new[i][k] for k in ("caption", "cider", "categories", "note")}}
               for i in old if set(old[i]["categories"]) != set(new[i]["categories"])]
    return {"n_images": len(old), "columns": columns, "changed": changed,
            "captions_changed": sum(old[i]["caption"] != new[i]["caption"] for i in old)}


def comparison_markdown(change: Mapping) -> str:
    """compare_labels's result in Markdown: the counts table, then one line per image whose label
    changed (labels and captions, before -> after, and the new label's note)."""
    lines = [counts_markdown(change["columns"], change["n_images"]), "",
             f"**{len(change['changed'])} of {change['n_images']} images changed label** "
             f"({change['captions_changed']} captions changed).", ""]
    for row in change["changed"]:
        was, now = row["before"], row["after"]
        lines.append(f"- {row['image_id']}: {' + '.join(was['categories'])} → {' + '.join(now['categories'])}; "
                     f"\"{was['caption']}\" (CIDEr {was['cider']:.1f}) → \"{now['caption']}\" "
                     f"(CIDEr {now['cider']:.1f}). {now['note']}".rstrip())
    return "\n".join(lines)


def counts_markdown(columns: Mapping[str, Mapping[str, int]], n_images: int) -> str:
    """A Markdown table: one row per category, one column of image counts per record ({name:
    category_counts(...)}); with two records a third column gives the change."""
    names = list(columns)
    change = len(names) == 2
    head = ["category", *(f"{name} (of {n_images})" for name in names)] + (["change"] * change)
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for cat in CATEGORIES:
        cells = [str(columns[name][cat]) for name in names]
        if change:
            cells.append(f"{columns[names[1]][cat] - columns[names[0]][cat]:+d}")
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sample_sheet(labels: Sequence[Mapping], captions: Mapping[str, str]) -> list[dict]:
    """One row per photo of `captions` ({file name: the model's caption now}): its verdict from the
    labelled record ("right", the categories joined, or "not labelled"), the categories (None when
    not labelled) and the note. A label is kept only for the caption it was given to."""
    by_name = {e["file_name"]: e for e in labels}
    rows = []
    for name, caption in captions.items():
        entry = by_name.get(name)
        if entry is None or entry["caption"] != caption:
            why = "not labelled" if entry is None else f"not labelled (the label was for {entry['caption']!r})"
            rows.append({"file_name": name, "caption": caption, "categories": None, "verdict": why, "note": ""})
            continue
        cats = list(entry["categories"])
        rows.append({"file_name": name, "caption": caption, "categories": cats,
                     "verdict": ", ".join(cats) if cats else "right", "note": entry["note"]})
    return rows
