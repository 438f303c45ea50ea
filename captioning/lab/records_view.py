"""Read-side views of the LSTM-family comparison's committed run records (results/cell-runs/):
the curves, recurrence statistics and gate traces each run stored, picked by cell and seed, so a
notebook shows the trained cells without their checkpoints (which are not committed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def runs_of(runs: Iterable[dict], cell: str) -> list[dict]:
    """The records of one cell, by seed; a clear error when the comparison has none."""
    mine = sorted((r for r in runs if r["cell"] == cell), key=lambda r: r["seed"])
    if not mine:
        raise ValueError(f"no record of cell {cell!r} among the runs")
    return mine


def pick(record: dict, path: str) -> Any:
    """One value of a record by a dotted path: "recurrence.keep", "gradient_flow.h.-1" (the last
    step), "val_curve.0" (epoch 1); list indices may be negative."""
    value: Any = record
    for key in path.split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def seed_values(runs: Iterable[dict], cell: str, path: str) -> list[float]:
    """pick(record, path) for every seed of one cell, in seed order."""
    return [float(pick(r, path)) for r in runs_of(runs, cell)]


def span(values: Sequence[float], fmt: str = ".3g") -> str:
    """'lo–hi' over seeds (one value alone when they agree to the format): how far the seeds spread."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def trained_flow(runs: Iterable[dict], cells: Sequence[str], seed: int = 0) -> dict[str, list[float]]:
    """One seed's stored gradient-flow curves, named as plot_gradient_flow draws trained curves:
    "lstm (trained)" is ‖∂h_t/∂h_0‖, "lstm (trained) ∂c" is ‖∂c_t/∂c_0‖ where the cell has c."""
    runs = list(runs)
    out: dict[str, list[float]] = {}
    for cell in cells:
        flow = next(r for r in runs_of(runs, cell) if r["seed"] == seed)["gradient_flow"]
        out[f"{cell} (trained)"] = flow["h"]
        if "c" in flow:
            out[f"{cell} (trained) ∂c"] = flow["c"]
    return out


def stored_trace(record: dict) -> tuple[list[str], dict[str, np.ndarray], dict[str, list[int]]]:
    """A record's gate trace: the words read, each gate as a [T, U] array over its U stored units
    (the most varying along that caption, most varying first) and those units' indices."""
    trace = record["gate_trace"]
    gates = {name: np.asarray(g["values"], dtype=np.float64) for name, g in trace["gates"].items()}
    return list(trace["words"]), gates, {name: list(g["units"]) for name, g in trace["gates"].items()}


def early_stopping(runs: Iterable[dict]) -> tuple[int, int, int]:
    """(runs whose best epoch came before their last, the fewest and the most epochs run): whether
    every run was ended by early stopping rather than by its epoch cap."""
    runs = list(runs)
    stopped = sum(r["best_epoch"] < r["epochs_run"] < r["settings"]["train"]["epochs"] for r in runs)
    epochs = [r["epochs_run"] for r in runs]
    return stopped, min(epochs), max(epochs)


def verdict_line(v: dict) -> str:
    """One comparison of lab.significance.verdicts in words: the means, the effect with its 95%
    interval, p with the test and the smallest p its seed counts allow, and what every seed says."""
    cell, against = v["cell"], v["against"]
    seeds = {"above": f"every {cell} seed above every {against} seed",
             "below": f"every {cell} seed below every {against} seed"}.get(v["direction"], "the seeds overlap")
    interval = ("no interval: one seed" if v["interval"] is None
                else "95% interval {:+.1f} to {:+.1f}".format(*v["interval"]))
    n = " vs ".join(str(k) for k in v["n_seeds"])
    return (f"{cell} vs {against}, test {v['metric']}: {v['means'][0]:.1f} vs {v['means'][1]:.1f}, effect "
            f"{v['effect']:+.1f} ({interval}); {seeds}\n    p = {v['p']:.2f}, "
            f"{v['test']} (smallest p possible with {n} seeds: {v['min_p']:.2f}): "
            + ("established (p < 0.05)" if v["established"] else "not established"))
