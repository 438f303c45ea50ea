"""Beam width and length penalty chosen on val for one trial's kept model (or the shipped one):
every pair of a small grid decodes the 250 val images, and the record keeps each pair's val
CIDEr and distinct captions. Test is never decoded here."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from ..core.io import write_json
from ..decoder.decode_config import DecodeConfig
from ..decoder.ensemble import load_decoders
from .recipe import SHIPPED, Search, ensure_checkpoint, val_scores

BEAMS = (1, 2, 3, 4, 5)
PENALTIES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # up to where longer captions stop paying (MODEL_CARD.md)


def decoding_path(records: str | Path, name: str) -> Path:
    return Path(records) / f"decoding-{name}.json"


def grid_config(beam: int, penalty: float) -> DecodeConfig:
    """Greedy for one beam (the length penalty only reorders finished beams), else beam search."""
    if beam == 1:
        return DecodeConfig()
    return DecodeConfig("beam", beam_size=beam, length_penalty=penalty)


def tune_decoding(s: Search, name: str, records: str | Path, command: str,
                  beams: Sequence[int] = BEAMS, penalties: Sequence[float] = PENALTIES) -> dict:
    """Score every (beam, length penalty) pair on val for trial `name` ("shipped": the shipped
    model) and write results/recipe/decoding-<name>.json; returns the record."""
    began = time.time()
    model, first = load_decoders([None if name == SHIPPED else ensure_checkpoint(s, name)], s.device)
    val, feats = s.val_split()
    rows = []
    for beam, penalty in itertools.product(beams, penalties):
        if beam == 1 and penalty != penalties[0]:
            continue  # greedy ignores the penalty: one row
        cider, _, distinct = val_scores(model, first.vocab, val, feats, grid_config(beam, penalty))
        rows.append({"beam": beam, "length_penalty": penalty if beam > 1 else None,
                     "val_cider": round(cider, 3), "distinct": distinct})
    best = max(rows, key=lambda r: r["val_cider"])
    record = {"name": name, "command": command, "rows": rows, "best": best,
              "minutes": round((time.time() - began) / 60, 2)}
    write_json(decoding_path(records, name), record)
    return record


def decoding_markdown(record: dict) -> str:
    """The record as a table: one row per beam width, one column per length penalty."""
    penalties = sorted({r["length_penalty"] for r in record["rows"] if r["length_penalty"] is not None})
    head = "| beam | " + " | ".join(f"penalty {p:g}" for p in penalties) + " |"
    lines = [head, "|---|" + "---|" * len(penalties)]
    for beam in sorted({r["beam"] for r in record["rows"]}):
        cells = {r["length_penalty"]: r for r in record["rows"] if r["beam"] == beam}
        if beam == 1:
            only = next(iter(cells.values()))
            lines.append(f"| 1 (greedy) | {only['val_cider']:.1f} ({only['distinct']} distinct) |"
                         + " |" * (len(penalties) - 1))
            continue
        lines.append(f"| {beam} | " + " | ".join(
            f"{cells[p]['val_cider']:.1f} ({cells[p]['distinct']})" if p in cells else "" for p in penalties) + " |")
    b = record["best"]
    choice = "greedy" if b["beam"] == 1 else f"beam {b['beam']}, length penalty {b['length_penalty']:g}"
    return "\n".join(lines) + f"\n\nBest on val: {choice} ({b['val_cider']:.1f}); `{record['command']}`."
