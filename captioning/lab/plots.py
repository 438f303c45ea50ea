"""Figures that look inside the model: gate activations, gradient flow, training curves, and the
cell comparison. Each returns a standalone Figure (render.layout); save it with save_figure."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..render.layout import figure, to_numpy


def _steps_by_units(name: str, value: Any, steps: int) -> np.ndarray:
    """gates[name] as a float [T, H] array (accepts [T], [T, H], [T, 1, H] or [1, T, H])."""
    a = to_numpy(value).astype(np.float64)
    if a.ndim == 3 and 1 in a.shape[:2]:
        a = a.squeeze(1 if a.shape[1] == 1 else 0)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] != steps:
        raise ValueError(f"gates[{name!r}] should be [T={steps}, H], got shape {a.shape}")
    return a


def plot_gates(tokens: Sequence[str], gates: Mapping[str, Any], *,
               max_units: int = 64) -> Figure:
    """Word × unit heatmaps of each gate's activations (gates[name] is [T, H]) above a panel of the
    per-word mean of each gate; an optional 'cell_norm' ([T], or [T, H] states) gets its own panel."""
    tokens = [str(t) for t in tokens]
    steps, x = len(tokens), np.arange(len(tokens))
    mats = {k: _steps_by_units(k, v, steps) for k, v in gates.items() if k != "cell_norm"}
    norm = _steps_by_units("cell_norm", gates["cell_norm"], steps) if "cell_norm" in gates else None
    if not mats and norm is None:
        raise ValueError("plot_gates needs at least one gate or 'cell_norm'")
    units = min(max((m.shape[1] for m in mats.values()), default=0), max_units)
    heights = [float(np.clip(units / 32, 1.0, 2.0))] * len(mats) + [1.8] * bool(mats)
    heights += [1.2] * (norm is not None)
    fig = figure(float(np.clip(1.8 + 0.45 * steps, 6, 18)), sum(heights) + 1.0, layout="constrained")
    grid = fig.add_gridspec(len(heights), 2, width_ratios=[40, 1], height_ratios=heights)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    sigmoid = {name: bool(m.min() >= 0 and m.max() <= 1) for name, m in mats.items()}
    for i, (name, m) in enumerate(mats.items()):
        hi = 1.0 if sigmoid[name] else float(np.abs(m).max()) or 1.0  # tanh-like: symmetric scale
        cmap, lo = ("viridis", 0.0) if sigmoid[name] else ("RdBu_r", -hi)
        im = axes[i].imshow(m[:, :max_units].T, aspect="auto", origin="lower", cmap=cmap, vmin=lo,
                            vmax=hi, interpolation="nearest")
        fig.colorbar(im, cax=fig.add_subplot(grid[i, 1]))
        h = m.shape[1]
        shown = f"units 0–{max_units - 1} of {h}" if h > max_units else f"{h} units"
        label = name.replace("_", " ") + ("" if "gate" in name else " gate")
        axes[i].set(ylabel="unit", title=f"{label} ({shown})")
    if mats:
        ax = axes[len(mats)]
        for name, m in mats.items():
            ax.plot(x, m.mean(axis=1), marker="o", ms=3, label=name)
        if all(sigmoid.values()):
            ax.set_ylim(-0.03, 1.03)  # keep the absolute 0 (closed) to 1 (open) scale
        ax.set(ylabel="mean over units", title="per-word mean gate value")
        ax.legend(fontsize=8, framealpha=0.8)
    if norm is not None:
        axes[-1].plot(x, norm[:, 0] if norm.shape[1] == 1 else np.linalg.norm(norm, axis=1), "k--.")
        axes[-1].set(ylabel="‖c_t‖", title="cell-state norm")
    for ax in axes:
        ax.title.set(fontsize=10, ha="left", x=0)
        if ax.lines:
            ax.grid(alpha=0.3)
    rotate = steps > 8 or max(map(len, tokens), default=0) > 6
    axes[-1].set_xticks(x, tokens, rotation=45 * rotate, ha="right" if rotate else "center",
                        rotation_mode="anchor", parse_math=False)
    return fig


def plot_gradient_flow(norms: Mapping[str, Sequence[float]], *,
                       title: str = r"Gradient flow: $\|\partial h_t / \partial h_0\|$") -> Figure:
    """‖∂h_t/∂h_0‖ against t on a log y-axis, one line per cell name (the vanishing-gradient picture)."""
    fig = figure(6.4, 4.0, layout="constrained")
    ax = fig.add_subplot()
    for name, values in norms.items():
        y = to_numpy(values).astype(np.float64).reshape(-1)
        ax.plot(np.arange(len(y)), np.where(y > 0, y, np.nan), marker="o" if len(y) <= 40 else None,
                ms=3, label=str(name))
    ax.set_yscale("log")
    ax.set(xlabel="time step t", ylabel=r"$\|\partial h_t / \partial h_0\|$ (log scale)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="both", alpha=0.25)
    if norms:
        ax.legend()
    return fig


def plot_training_curves(records: Sequence[Mapping[str, Any]]) -> Figure:
    """Train/val loss and validation CIDEr per epoch from a metrics log (records have keys epoch,
    train_loss, and optionally val_loss and val_cider)."""
    recs = sorted((r for r in records if r.get("epoch") is not None), key=lambda r: r["epoch"])

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(float(r["epoch"]), float(r[key])) for r in recs if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    cider_x, cider_y = series("val_cider")
    fig = figure(10.0 if cider_y else 6.0, 3.8, layout="constrained")
    axes = fig.subplots(1, 2 if cider_y else 1, squeeze=False)[0]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if (xy := series(key))[1]:
            axes[0].plot(*xy, marker="o", ms=3, label=label)
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss" if recs else "Loss (no records)")
    if axes[0].lines:
        axes[0].legend()
    if cider_y:
        axes[1].plot(cider_x, cider_y, marker="o", ms=3, color="C2")
        axes[1].set(xlabel="epoch", ylabel="CIDEr", title="Validation CIDEr")
        if np.isfinite(cider_y).any():
            best = int(np.nanargmax(cider_y))
            axes[1].plot(cider_x[best], cider_y[best], marker="*", ms=14, color="C3")
            axes[1].set_title(f"Validation CIDEr (best {cider_y[best]:.3f} at epoch {cider_x[best]:g})")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig


def plot_comparison(runs: list[dict], table: dict[str, dict]):
    """Left: test CIDEr mean ± std per cell; right: validation CIDEr per epoch (mean over seeds)."""
    fig = figure(11, 4)
    ax1, ax2 = fig.subplots(1, 2)
    names = list(table)
    ax1.bar(names, [table[c]["CIDEr"][0] for c in names], yerr=[table[c]["CIDEr"][1] for c in names],
            capsize=4, color="tab:blue")
    ax1.set_ylabel("test CIDEr (greedy)")
    ax1.set_title("Test CIDEr, mean ± std over seeds")
    for cell in names:
        curves = [r["val_curve"] for r in runs if r["cell"] == cell]
        n = min(len(c) for c in curves)
        ax2.plot(range(1, n + 1), [statistics.fmean(c[i] for c in curves) for i in range(n)], marker="o", label=cell)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation CIDEr (greedy)")
    ax2.set_title("Learning curves")
    ax2.legend()
    fig.tight_layout()
    return fig
