"""Notebook 05's error analysis, drawn and practised: the labelled categories as bars (one record,
or an old and a new model's side by side), and the checked exercise where a learner labels five
of the worst val images and compares their labels with the committed record's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..render.layout import figure
from .errors import CATEGORIES
from .exercises import Check, judge

EXERCISE_IDS = (489305, 507667, 500257, 515025, 505789)  # none of them among the notebook's examples
BAR_COLORS = ("tab:blue", "tab:orange")


def category_bars(columns: Mapping[str, Mapping[str, int]], n_images: int) -> Figure:
    """Horizontal bars: images per category (category_counts) for each record in `columns`,
    side by side, categories in CATEGORIES order from the top, each bar with its count."""
    if not columns:
        raise ValueError("need at least one record's counts")
    fig = figure(8.5, 0.45 * len(CATEGORIES) + 1.0, layout="constrained")
    ax = fig.subplots()
    y, height = np.arange(len(CATEGORIES))[::-1], 0.8 / len(columns)
    for k, (name, counts) in enumerate(columns.items()):
        values = [counts[c] for c in CATEGORIES]
        bars = ax.barh(y + 0.4 - height * (k + 0.5), values, height, label=name,
                       color=BAR_COLORS[k % len(BAR_COLORS)])
        ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_yticks(y, CATEGORIES)
    ax.set_xlim(0, n_images)
    ax.set_xlabel(f"images of {n_images} (an image may carry several categories)")
    if len(columns) > 1:
        ax.legend(loc="lower right")
    return fig


def _normal(category: object) -> str:
    return " ".join(str(category).lower().split())


def _labels_problem(got: Any, ids: Sequence[int]) -> str | None:
    """None when got is {image id: [categories]} for exactly `ids`, else what is wrong, in words."""
    if not isinstance(got, Mapping):
        return f"returned a {type(got).__name__}, expected a dict {{image id: [categories]}}"
    keys = {str(k) for k in got}
    wanted = [str(i) for i in ids]
    missing, extra = [i for i in wanted if i not in keys], sorted(keys - set(wanted))
    if missing or extra:
        return f"has no labels for image {missing[0]}" if missing else f"labels image {extra[0]}, not one of the five"
    known = {_normal(c) for c in CATEGORIES}
    for key, cats in got.items():
        if not isinstance(cats, list | tuple | set):
            return f"gives image {key} a {type(cats).__name__}: give a list of categories, e.g. ['wrong object']"
        if not cats:
            return (f"gives image {key} no category: pick at least one (a right caption is "
                    "'references disagree / caption acceptable')")
        unknown = [c for c in cats if _normal(c) not in known]
        if unknown:
            return f"labels image {key} {unknown[0]!r}, which is not a category of CATEGORY_RULES"
    return None


def label_agreement(mine: Mapping, entries: Sequence[Mapping], ids: Sequence[int] = EXERCISE_IDS) -> list[dict]:
    """Per image of `ids`: your categories, the committed ones (entries: the analysis's images) and
    whether they are the "same", "overlap" (share a category) or "differ"."""
    committed = {str(e["image_id"]): e for e in entries}
    yours = {str(k): sorted({_normal(c) for c in v}) for k, v in mine.items()}
    rows = []
    for i in map(str, ids):
        a, b = set(yours[i]), set(committed[i]["categories"])
        rows.append({"image_id": i, "yours": yours[i], "committed": list(committed[i]["categories"]),
                     "agreement": "same" if a == b else "overlap" if a & b else "differ",
                     "note": committed[i]["note"]})
    return rows


def _agreement_line(rows: Sequence[Mapping]) -> str:
    n = {k: sum(r["agreement"] == k for r in rows) for k in ("same", "overlap", "differ")}
    if n["same"] == len(rows):
        return f"✓ Labelled: your labels match the committed ones on all {len(rows)} images."
    first = next(r for r in rows if r["agreement"] != "same")
    return (f"✓ Labelled: the same labels as the committed record on {n['same']} of {len(rows)} images, a "
            f"shared category on {n['overlap']}, different on {n['differ']}; e.g. image {first['image_id']}: "
            f"yours {', '.join(first['yours'])}; the record's {', '.join(first['committed'])}.")


def check_my_labels(fn: Callable[[], Mapping], entries: Sequence[Mapping], ids: Sequence[int] = EXERCISE_IDS) -> Check:
    """fn() -> {image id: [categories]} for the images `ids`. Labels are judgments, not answers: any
    valid labelling passes, and the line says how far it agrees with the committed record (entries)."""
    if {str(i) for i in ids} - {str(e["image_id"]) for e in entries}:
        raise ValueError("every exercise image must be in the committed record")
    answer: dict[str, str] = {}

    def compare(got: Any) -> str | None:
        problem = _labels_problem(got, ids)
        if problem is None:
            answer["line"] = _agreement_line(label_agreement(got, entries, ids))
        return problem

    check = judge("my_labels", fn, compare, "")
    return Check(True, answer["line"]) if check.ok else check

