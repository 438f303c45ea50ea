"""Figures that look inside the model: gate activations, gradient flow, training curves, and the
cell comparison. Each returns a standalone Figure (render.layout); save it with save_figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..render.layout import figure, text_width_in, to_numpy


def steps_by_units(name: str, value: Any, steps: int) -> np.ndarray:
    """gates[name] as a float [T, H] array (accepts [T], [T, H], [T, 1, H] or [1, T, H])."""
    a = to_numpy(value).astype(np.float64)
    if a.ndim == 3 and 1 in a.shape[:2]:
        a = a.squeeze(1 if a.shape[1] == 1 else 0)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] != steps:
        raise ValueError(f"gates[{name!r}] should be [T={steps}, H], got shape {a.shape}")
    return a


def _select_units(m: np.ndarray, max_units: int, units: str) -> np.ndarray:
    """Which columns of a [T, H] gate matrix to draw: the first max_units, or (units="variance")
    the max_units whose activation varies most over the caption, most varying first."""
    if units == "first":
        return np.arange(min(m.shape[1], max_units))
    if units == "variance":
        return np.argsort(-m.var(axis=0), kind="stable")[:max_units]
    raise ValueError(f"units must be 'first' or 'variance', got {units!r}")


def _heatmap(fig: Figure, ax: Any, cax: Any, name: str, m: np.ndarray, idx: np.ndarray,
             sigmoid: bool, units: str) -> None:
    """One gate's unit × word heatmap of the columns idx, titled with what it shows."""
    hi = 1.0 if sigmoid else float(np.abs(m).max()) or 1.0  # tanh-like: symmetric scale
    cmap, lo = ("viridis", 0.0) if sigmoid else ("RdBu_r", -hi)
    im = ax.imshow(m[:, idx].T, aspect="auto", origin="lower", cmap=cmap, vmin=lo, vmax=hi,
                   interpolation="nearest")
    fig.colorbar(im, cax=cax)
    h, n = m.shape[1], len(idx)
    if units == "variance":
        shown = f"the {n} most varying of {h} units, most varying at the bottom"
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(
            lambda v, _: str(idx[round(v)]) if 0 <= round(v) < n else ""))
    else:
        shown = f"units 0–{n - 1} of {h}" if h > n else f"{h} units"
    label = name.replace("_", " ") + ("" if "gate" in name else " gate")
    ax.set(ylabel="unit", title=f"{label} ({shown})")


def _draw_events(ax: Any, events: Sequence[tuple[int, str]], steps: int) -> None:
    """A dotted vertical line and a short label at the top for each (word position, label); labels
    in the right half sit left of their line, so none runs off the axes."""
    for pos, label in events:
        left = pos > (steps - 1) / 2
        ax.axvline(pos, color="0.35", ls=":", lw=1.2, zorder=0)
        ax.annotate(str(label), xy=(pos, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-3 if left else 3, -3), textcoords="offset points",
                    ha="right" if left else "left", va="top",
                    fontsize=7.5, color="0.2", parse_math=False,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def plot_gates(tokens: Sequence[str], gates: Mapping[str, Any], *, max_units: int = 64,
               units: str = "first", events: Sequence[tuple[int, str]] | None = None,
               width: float | None = None, words_on_every_panel: bool = False) -> Figure:
    """Word × unit heatmaps of each gate's activations (gates[name] is [T, H]) above a panel of the
    per-word mean of each gate; an optional 'cell_norm' ([T], or [T, H] states) gets its own panel.

    units="variance" shows each gate's most varying units instead of the first max_units; events,
    (word position, label) pairs such as gates.gate_events gives, mark words on the mean panel.
    width (inches) fixes the figure's width (default: from the number of words);
    words_on_every_panel labels the words under every panel, not only the bottom one."""
    tokens = [str(t) for t in tokens]
    steps, x = len(tokens), np.arange(len(tokens))
    mats = {k: steps_by_units(k, v, steps) for k, v in gates.items() if k != "cell_norm"}
    norm = steps_by_units("cell_norm", gates["cell_norm"], steps) if "cell_norm" in gates else None
    if not mats and norm is None:
        raise ValueError("plot_gates needs at least one gate or 'cell_norm'")
    shown = {k: _select_units(m, max_units, units) for k, m in mats.items()}
    rows = max((len(i) for i in shown.values()), default=0)
    heights = [float(np.clip(0.14 * rows, 1.2, 3.0))] * len(mats) + [1.8] * bool(mats)  # ~11 px a unit
    heights += [1.2] * (norm is not None)
    width = width or float(np.clip(1.8 + 0.45 * steps, 6, 18))
    per_word = (width - 1.3) * 40 / 41 / max(steps, 1)  # inches of heatmap per word
    rotate = max((text_width_in(t, 10) for t in tokens), default=0.0) > 0.9 * per_word  # they would touch
    extra = (0.6 if rotate else 0.25) * words_on_every_panel  # inches more between panels, for words
    n, total = len(heights), sum(heights)
    row = (total - 0.1) / (n + 0.35 * (n - 1))  # the mean panel's height in inches without `extra`
    height = total + 1.0 + extra * (n - 1)
    fig = figure(width, height)  # margins in inches, not constrained layout: half the drawing time
    grid = fig.add_gridspec(n, 2, width_ratios=[40, 1], height_ratios=heights, wspace=0.03,
                            hspace=0.35 + extra / row, left=0.8 / width, right=1 - 0.5 / width,
                            top=1 - 0.3 / height, bottom=0.8 / height)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=words_on_every_panel)
    sigmoid = {name: bool(m.min() >= 0 and m.max() <= 1) for name, m in mats.items()}
    for i, (name, m) in enumerate(mats.items()):
        _heatmap(fig, axes[i], fig.add_subplot(grid[i, 1]), name, m, shown[name], sigmoid[name], units)
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
    _draw_events(axes[len(mats)] if mats else axes[-1], events or (), steps)
    for ax in axes:
        ax.title.set(fontsize=10, ha="left", x=0)
        if ax.lines:
            ax.grid(alpha=0.3)
    for ax in axes if words_on_every_panel else axes[-1:]:
        ax.set_xticks(x, tokens, rotation=45 * rotate, ha="right" if rotate else "center",
                      rotation_mode="anchor", parse_math=False)
    return fig


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "--", "-.", ":")


def line_style(i: int) -> dict[str, Any]:
    """The i-th curve's colour, hollow marker and line style: curves that coincide stay visible
    (a hollow square around a hollow circle, dashes over a solid line)."""
    return {"color": f"C{i % 10}", "marker": _MARKERS[i % len(_MARKERS)], "mfc": "none",
            "ls": _LINESTYLES[i % len(_LINESTYLES)]}


def integer_xticks(ax: Any) -> None:
    """Only whole numbers on the x-axis (steps, epochs), even when it spans a single value."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _cell_of(name: str) -> str:
    """The cell a gradient-flow curve belongs to: "lstm ∂c", "lstm (trained)" and "lstm" share a colour."""
    return name.replace("∂c", "").replace("(trained)", "").strip(" ,:")


def _same_as(y: np.ndarray, drawn: Mapping[str, np.ndarray], decades: float) -> str | None:
    """The first curve already drawn that y hides on a log axis: positive at the same steps, and
    within `decades` (log10 units) of it at each of them, if any."""
    for name, other in drawn.items():
        if other.shape == y.shape and np.array_equal(y > 0, other > 0):
            pos = y > 0
            if np.all(np.abs(np.log10(y[pos]) - np.log10(other[pos])) <= decades):
                return name
    return None


def _log_span(curves: Sequence[np.ndarray]) -> float:
    """How many decades the positive values of the curves span (1 when there is no range)."""
    pos = np.concatenate([c[c > 0] for c in curves]) if curves else np.array([])
    return float(np.log10(pos.max() / pos.min())) if pos.size and pos.max() > pos.min() else 1.0


COINCIDE = 0.005  # curves within half a percent of the log axis's height at every step sit on top of each other


def plot_gradient_flow(norms: Mapping[str, Sequence[float]], *, title: str | None = None,
                       styles: Mapping[str, Mapping[str, Any]] | None = None,
                       hidden_size: int | None = None) -> Figure:
    """The Frobenius norm of the Jacobian, ‖∂h_t/∂h_0‖_F, for t = 1..T on a log y-axis, one line
    per name (the vanishing-gradient picture). Names containing "∂c" (e.g. "lstm ∂c", from
    gradient_flow(source="c", target="c")) are ‖∂c_t/∂c_0‖_F, drawn dashed in their cell's colour
    ("lstm"), and "lstm (trained)" is drawn in that colour with filled markers; styles[name]
    overrides a line's matplotlib keywords. A curve that hides one drawn before it (within COINCIDE of
    the axis height at every step) says so in the legend, "peephole (on top of lstm)", and gets a
    larger hollow marker, so the hidden curve's marker shows inside it. hidden_size=H draws √H, the norm of an identity
    Jacobian (a step that keeps every direction of h intact). Many curves: the legend goes beside."""
    cells = list(dict.fromkeys(_cell_of(str(name)) for name in norms))
    has_c = any("∂c" in str(name) for name in norms)
    fig = figure(6.4, 4.2, layout="constrained")
    ax = fig.add_subplot()
    drawn: dict[str, np.ndarray] = {}
    ys = {str(name): to_numpy(values).astype(np.float64).reshape(-1) for name, values in norms.items()}
    decades = COINCIDE * _log_span(list(ys.values()))
    for name, y in ys.items():
        style = line_style(cells.index(_cell_of(name)))
        twin = _same_as(y, drawn, decades)
        style.update(ls="--" if "∂c" in name else "-", ms=7 if twin else 3.5)
        if "(trained)" in name:
            style.update(mfc="none" if twin else style["color"], lw=2.0)  # hollow over a twin: it shows inside
        style["marker"] = style["marker"] if len(y) <= 40 else None
        style.update((styles or {}).get(name, {}))
        label = f"{name} (on top of {twin})" if twin else name
        ax.plot(np.arange(1, len(y) + 1), np.where(y > 0, y, np.nan), label=label, **style)
        drawn[name] = y
    if hidden_size:
        ax.axhline(np.sqrt(hidden_size), color="0.45", ls=":", lw=1.2,
                   label=f"√H = {np.sqrt(hidden_size):.1f} (identity Jacobian, H = {hidden_size})")
    ax.set_yscale("log")
    h_norm, c_norm = r"$\|\partial h_t / \partial h_0\|_F$", r"$\|\partial c_t / \partial c_0\|_F$"
    ylabel = f"{h_norm} (solid), {c_norm} (dashed)" if has_c else h_norm
    if title is None:
        title = "Gradient flow along h and along the cell state c" if has_c else f"Gradient flow: {h_norm}"
    ax.set(xlabel="time step t", title=title,
           ylabel=f"Frobenius norm of the Jacobian, log scale\n{ylabel}")
    integer_xticks(ax)
    ax.grid(True, which="both", alpha=0.25)
    if len(ax.lines) > 8:
        fig.set_figwidth(fig.get_figwidth() + 2.2)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    elif norms:
        ax.legend(fontsize=8)
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
    for i, (key, label) in enumerate((("train_loss", "train"), ("val_loss", "validation"))):
        if (xy := series(key))[1]:
            axes[0].plot(*xy, ms=4, label=label, **line_style(i))
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
        integer_xticks(ax)
        ax.grid(alpha=0.3)
    return fig


def plot_comparison(runs: list[dict], table: dict[str, dict]) -> Figure:
    """Left: test CIDEr mean ± std per cell, each seed a dot; right: validation CIDEr per epoch of
    every run (no averaging, so runs of different lengths stay whole), one colour, hollow marker and
    line style per cell so coinciding curves stay visible."""
    fig = figure(11, 4)
    ax1, ax2 = fig.subplots(1, 2)
    names = list(table)
    ax1.bar(range(len(names)), [table[c]["CIDEr"][0] for c in names], yerr=[table[c]["CIDEr"][1] for c in names],
            capsize=4, color=[line_style(i)["color"] for i in range(len(names))], alpha=0.75)
    label = "one seed"
    for i, cell in enumerate(names):
        seeds = [r["test"]["CIDEr"] for r in runs if r["cell"] == cell and "test" in r]
        if seeds:
            ax1.plot([i] * len(seeds), seeds, "o", ms=4, color="k", mfc="white", zorder=3, label=label)
            label = "_nolegend_"
    ax1.set_xticks(range(len(names)), [c.replace("-", "\n") for c in names])  # "lstm\nopen\noutput" fits
    ax1.set_ylabel("test CIDEr (greedy)")
    ax1.set_title("Test CIDEr: mean ± std over seeds, dots are seeds")
    if label != "one seed":
        ax1.legend(loc="lower left", fontsize=8)
    for i, cell in enumerate(names):
        curves = [r["val_curve"] for r in runs if r["cell"] == cell and r.get("val_curve")]
        for k, curve in enumerate(curves):
            ax2.plot(range(1, len(curve) + 1), curve, label=cell if k == 0 else "_nolegend_", lw=1.0, ms=3,
                     alpha=0.85, **line_style(i))
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation CIDEr (greedy)")
    ax2.set_title("Learning curves: every seed, one line per run")
    integer_xticks(ax2)
    ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
