"""The recipe search's report (results/recipe.md), written from its records alone.

Stopping rules are compared honestly: a rule that chooses an epoch by val CIDEr chooses it on one
half of the val images and is scored on the other half (then the halves swap and the two scores
are averaged), so a rule gains nothing from picking a lucky epoch. Rules that choose nothing (a
fixed epoch budget, the average of the last checkpoints) are scored on all val images."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import mean

from ..core.io import atomic_write_text, read_json
from ..training.decoding_search import decoding_markdown
from ..training.recipe import Trial, record_path

REPORT = "recipe.md"
BUDGETS = (5, 10, 15, 20)
PATIENCES = (3, 5)


def patience_choice(curve: Sequence[float], patience: int) -> int:
    """The epoch early stopping keeps: the best so far when `patience` epochs pass without a better one."""
    best = 0
    for epoch, value in enumerate(curve):
        if value > curve[best]:
            best = epoch
        if epoch - best >= patience:
            break
    return best


def _half_means(per_epoch: list[list[float]], half: int) -> list[float]:
    return [mean(scores[half::2]) for scores in per_epoch]


def chosen_score(per_epoch: list[list[float]], choose) -> float:
    """Split-half score of a rule that picks an epoch from a curve: pick on one half, score on the other."""
    out = []
    for pick, score in ((0, 1), (1, 0)):
        epoch = choose(_half_means(per_epoch, pick))
        out.append(_half_means(per_epoch, score)[epoch])
    return mean(out)


def rule_scores(record: dict) -> dict[str, float | None]:
    """Val CIDEr (greedy, x100) of each stopping rule on one run's per-epoch per-image scores."""
    per_image = record.get("val_per_image") or {}
    if not per_image:
        return {}
    per_epoch = [per_image[str(e)] for e in sorted(int(k) for k in per_image)]
    out: dict[str, float | None] = {}
    for p in PATIENCES:
        out[f"patience {p}"] = chosen_score(per_epoch, lambda c, p=p: patience_choice(c, p))
    out["best epoch of the run"] = chosen_score(per_epoch, lambda c: max(range(len(c)), key=c.__getitem__))
    for n in BUDGETS:
        out[f"fixed {n} epochs"] = mean(per_image[str(n)]) if str(n) in per_image else None
    for name, scores in sorted((record.get("averaged") or {}).items()):
        out[f"average of the {name} epochs"] = mean(scores)
    return out


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def trials_table(records: list[dict]) -> list[str]:
    lines = ["| trial | kind | lever | kept epoch | val greedy | val beam-3 | beam-3 distinct | minutes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        k = r["kept"]
        lines.append(f"| {r['name']} | {r['kind']} | {r['lever']} | {r.get('kept_epoch', '–')} | "
                     f"{k['greedy']['cider']:.1f} | {k['beam-3']['cider']:.1f} | {k['beam-3']['distinct']} | "
                     f"{r['minutes']:.1f} |")
    return lines


def curves_table(records: list[dict], key: str = "val_cider") -> list[str]:
    """Per-epoch val CIDEr of every trained trial (the loop's own greedy validation)."""
    runs = [r for r in records if r.get("curves")]
    if not runs:
        return []
    epochs = sorted({e for r in runs for e in r["curves"]["epoch"]})
    lines = ["| epoch | " + " | ".join(r["name"] for r in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for epoch in epochs:
        cells = []
        for r in runs:
            by_epoch = dict(zip(r["curves"]["epoch"], r["curves"][key]))
            cells.append(_fmt(by_epoch[epoch]) if by_epoch.get(epoch) is not None else "")
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return lines


def rules_table(records: list[dict]) -> list[str]:
    scored = [(r["name"], rule_scores(r)) for r in records if r["kind"] == "scst"]  # SCST's stopping rule
    scored = [(n, s) for n, s in scored if s]
    if not scored:
        return []
    rules = list(dict.fromkeys(k for _, s in scored for k in s))
    lines = ["| rule | " + " | ".join(n for n, _ in scored) + " | mean |", "|---" * (len(scored) + 2) + "|"]
    for rule in rules:
        values = [s.get(rule) for _, s in scored]
        known = [v for v in values if v is not None]
        avg = mean(known) if len(known) == len(values) else None
        lines.append(f"| {rule} | " + " | ".join(_fmt(v) for v in values) + f" | {_fmt(avg)} |")
    return lines


def ab_table(records_dir: Path, by_name: dict[str, dict], ab: dict[str, str]) -> list[str]:
    """Today's SCST loop (a trial's first 10 epochs) against the loop at 501b063, per seed."""
    lines = []
    for seed, trial in sorted(ab.items()):
        old_path = records_dir / "scst-ab" / f"old-loop-seed{seed}.jsonl"
        if trial not in by_name or not old_path.is_file():
            continue
        old = [json.loads(line) for line in old_path.read_text().splitlines() if line.strip()]
        new = by_name[trial]["curves"]
        lines += [f"Seed {seed} (today's loop: trial `{trial}`; the old loop: `{old_path.name}`):", "",
                  "| epoch | today: val | reward | baseline | 501b063: val | reward | baseline |",
                  "|---|---|---|---|---|---|---|"]
        for i, o in enumerate(old):
            n = {k: new[k][i] for k in new if i < len(new["epoch"])}
            lines.append(f"| {o['epoch']} | {_fmt(n.get('val_cider'))} | {_fmt3(n.get('train_reward'))} | "
                         f"{_fmt3(n.get('train_baseline'))} | {_fmt(o['val_cider'])} | "
                         f"{_fmt3(o.get('train_reward'))} | {_fmt3(o.get('train_baseline'))} |")
        lines.append("")
    return lines


def _fmt3(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def write_report(trials: Sequence[Trial], records_dir: str | Path, ab: dict[str, str] | None = None,
                 intro: str = "") -> Path:
    """results/recipe/recipe.md from the records of the plan's trials (those that exist), in plan
    order; intro (how to regenerate it) follows the first sentence."""
    records_dir = Path(records_dir)
    records = [read_json(record_path(records_dir, t.name)) for t in trials if record_path(records_dir, t.name).is_file()]
    by_name = {r["name"]: r for r in records}
    text = ["# The recipe search", "",
            f"{len(records)} of {len(trials)} planned trials have a record. Every score is val CIDEr (x100) "
            "on the 250 val images; test is not looked at. " + intro, "",
            "## Trials", "", *trials_table(records), ""]
    if curves := curves_table(records):
        text += ["## Per-epoch val CIDEr (greedy, the training loop's validation; SCST epoch 0 is its start)",
                 "", *curves, ""]
    if rules := rules_table(records):
        text += ["## Stopping rules for SCST", "",
                 "Val CIDEr (greedy) of the checkpoint each rule keeps. Rules that choose an epoch on val "
                 "choose on half of the images and are scored on the other half (both ways, averaged).", "",
                 *rules, ""]
    if ab_lines := ab_table(records_dir, by_name, ab or {}):
        text += ["## SCST: today's loop against the loop at 501b063", "", *ab_lines, ""]
    for path in sorted(records_dir.glob("decoding-*.json")):
        record = read_json(path)
        text += [f"## Decoding chosen on val: {record['name']}", "",
                 "Val CIDEr (distinct captions) of each beam width and length penalty.", "",
                 decoding_markdown(record), ""]
    path = records_dir / REPORT
    atomic_write_text(path, "\n".join(text).rstrip() + "\n")
    return path


def update_block(path: str | Path, name: str, lines: Sequence[str]) -> bool:
    """Replace the generated block between `<!-- name -->` and `<!-- /name -->` in a document (the
    model card's search table); False when the document has no such block."""
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    new = head + start + "\n" + "\n".join(lines) + "\n" + end + tail
    if new != text:
        atomic_write_text(path, new)
    return True


def card_table(trials: Sequence[Trial], records_dir: str | Path) -> list[str]:
    """The model card's table of trials: the same rows as the report's, from the same records."""
    records_dir = Path(records_dir)
    return trials_table([read_json(record_path(records_dir, t.name)) for t in trials
                         if record_path(records_dir, t.name).is_file()])
