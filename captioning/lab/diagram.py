"""The LSTM cell drawn: the conveyor belt c_{t-1} -> c_t across the top, the gates below it; and
the GRU cell in the same symbols (gru_cell_diagram).

One axes in inches (1 data unit = 1 inch), so boxes, circles and labels keep their sizes and never
overlap. variant="peephole" adds the dashed peephole connections from the cell state into the
gates; variant="cifg" replaces the forget gate by 1 − i_t."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from ..render.layout import figure

VARIANTS = ("lstm", "peephole", "cifg")
BELT_Y, BUS_Y, GATE_Y = 4.9, 1.3, 2.6  # heights of the belt, the [h_{t-1}, x_t] bus and the gates
GATE_X = {"f": 2.3, "i": 3.5, "g": 4.6, "o": 6.2}  # gate columns
FORGET_X, ADD_X, OUT_X = 2.3, 4.6, 7.6  # the belt's ⊙ and +, and where h_t taps it
IG_Y, TANH_Y = 3.8, 3.8  # the i ⊙ g product, the tanh(c_t) on the way down to h_t
BOX_W, BOX_H, R = 0.7, 0.5, 0.22  # gate box size and operator circle radius
INK, BELT, PEEP = "0.15", "#1f4e79", "#b03a2e"
TITLES = {"lstm": "LSTM cell", "peephole": "LSTM with peephole connections",
          "cifg": "LSTM with coupled input and forget gates (CIFG)"}


def _wire(ax: Any, points: list[tuple[float, float]], *, arrow: bool = True,
          color: str = INK, lw: float = 1.6, ls: str = "-", zorder: int = 1) -> None:
    """A polyline through points; the last segment ends in an arrow head unless arrow=False."""
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=color, lw=lw, ls=ls, solid_capstyle="butt", zorder=zorder)
    if arrow:
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=zorder,
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": lw, "shrinkA": 0,
                                "shrinkB": 0, "mutation_scale": 14})


def _gate(ax: Any, x: float, y: float, text: str, color: str = "#f7d774") -> None:
    """A layer box (σ or tanh: a learned affine map and its nonlinearity)."""
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, zorder=3,
                                boxstyle="round,pad=0,rounding_size=0.08", fc=color, ec=INK, lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=13 if text == "σ" else 11, zorder=4)


def _op(ax: Any, x: float, y: float, symbol: str) -> None:
    """A pointwise operation: ⊙ (elementwise product), + or tanh, in a circle."""
    radius = R * (1.45 if symbol == "tanh" else 1.0)
    ax.add_patch(Circle((x, y), radius, fc="#f6c6d0", ec=INK, lw=1.2, zorder=3))
    ax.text(x, y, symbol, ha="center", va="center_baseline", zorder=4,
            fontsize={"⊙": 17, "+": 17}.get(symbol, 10))


def _label(ax: Any, x: float, y: float, s: str, **kwargs: Any) -> None:
    """Text above every line and patch (12 pt unless told)."""
    kwargs.setdefault("fontsize", 12)
    ax.text(x, y, s, zorder=5, **kwargs)


def _belt(ax: Any) -> None:
    """c_{t-1} -> ⊙ f_t -> + i_t ⊙ g_t -> c_t, the cell state's straight, additive path."""
    _wire(ax, [(0.3, BELT_Y), (9.7, BELT_Y)], color=BELT, lw=3.2, zorder=2)
    _op(ax, FORGET_X, BELT_Y, "⊙")
    _op(ax, ADD_X, BELT_Y, "+")
    _label(ax, 0.2, BELT_Y, "$c_{t-1}$", ha="right", va="center", fontsize=14, color=BELT)
    _label(ax, 9.8, BELT_Y, "$c_t$", ha="left", va="center", fontsize=14, color=BELT)
    _label(ax, 6.15, BELT_Y + 0.12, "cell state: the conveyor belt", ha="center", va="bottom",
           fontsize=10, color=BELT, style="italic")


def _inputs(ax: Any, variant: str) -> None:
    """h_{t-1} from the left and x_t from below join into one bus that feeds every gate."""
    _wire(ax, [(0.3, BUS_Y), (GATE_X["o"], BUS_Y)], arrow=False)
    _wire(ax, [(1.6, 0.15), (1.6, BUS_Y)], arrow=False)
    ax.plot([1.6], [BUS_Y], "o", color=INK, ms=5, zorder=2)
    _label(ax, 0.2, BUS_Y, "$h_{t-1}$", ha="right", va="center", fontsize=14)
    _label(ax, 1.6, 0.05, "$x_t$", ha="center", va="top", fontsize=14)
    for name, x in GATE_X.items():
        if not (variant == "cifg" and name == "f"):
            _wire(ax, [(x, BUS_Y), (x, GATE_Y - BOX_H / 2)])
            ax.plot([x], [BUS_Y], "o", color=INK, ms=4, zorder=2)


def _gates(ax: Any, variant: str) -> None:
    """σ boxes for f, i, o and the tanh box for the candidate g, wired up to the belt."""
    top = GATE_Y + BOX_H / 2
    if variant == "cifg":  # f_t = 1 − i_t: taken off the input gate's wire, no parameters
        _wire(ax, [(GATE_X["i"], 3.3), (FORGET_X + BOX_W / 2, 3.3)])
        ax.plot([GATE_X["i"]], [3.3], "o", color=INK, ms=4, zorder=2)
        _gate(ax, FORGET_X, 3.3, "1 − ·", color="#d9e8f5")
        _wire(ax, [(FORGET_X, 3.3 + BOX_H / 2), (FORGET_X, BELT_Y - R)])
        _label(ax, FORGET_X - 0.1, 4.2, "$f_t = 1 - i_t$", ha="right", va="center")
    else:
        _gate(ax, GATE_X["f"], GATE_Y, "σ")
        _wire(ax, [(GATE_X["f"], top), (FORGET_X, BELT_Y - R)])
        _label(ax, GATE_X["f"] - 0.1, 3.45, "$f_t$", ha="right", va="center")
    _gate(ax, GATE_X["i"], GATE_Y, "σ")
    _gate(ax, GATE_X["g"], GATE_Y, "tanh")
    _gate(ax, GATE_X["o"], GATE_Y, "σ")
    _wire(ax, [(GATE_X["i"], top), (GATE_X["i"], IG_Y), (ADD_X - R, IG_Y)])
    _wire(ax, [(GATE_X["g"], top), (GATE_X["g"], IG_Y - R)])
    _op(ax, ADD_X, IG_Y, "⊙")
    _wire(ax, [(ADD_X, IG_Y + R), (ADD_X, BELT_Y - R)])
    i_left = variant != "cifg"  # CIFG's 1 − i_t branch takes the room on the left
    _label(ax, GATE_X["i"] + (-0.1 if i_left else 0.1), 3.45 if i_left else 3.05, "$i_t$",
           ha="right" if i_left else "left", va="center")
    _label(ax, GATE_X["g"] + 0.1, 3.2, "$g_t$", ha="left", va="center")


def _output(ax: Any) -> None:
    """h_t = o_t ⊙ tanh(c_t): down from the belt, out to the right and up to the word predictor."""
    _wire(ax, [(OUT_X, BELT_Y), (OUT_X, TANH_Y + R * 1.45)])
    _op(ax, OUT_X, TANH_Y, "tanh")
    _wire(ax, [(OUT_X, TANH_Y - R * 1.45), (OUT_X, GATE_Y + R)])
    _wire(ax, [(GATE_X["o"] + BOX_W / 2, GATE_Y), (OUT_X - R, GATE_Y)])
    _op(ax, OUT_X, GATE_Y, "⊙")
    _label(ax, (GATE_X["o"] + OUT_X) / 2, GATE_Y + 0.1, "$o_t$", ha="center", va="bottom")
    _wire(ax, [(OUT_X, GATE_Y - R), (OUT_X, BUS_Y), (9.7, BUS_Y)])
    _wire(ax, [(8.6, BUS_Y), (8.6, 6.3)], zorder=0)  # passes under the belt
    ax.plot([8.6], [BUS_Y], "o", color=INK, ms=5, zorder=2)
    _label(ax, 9.8, BUS_Y, "$h_t$", ha="left", va="center", fontsize=14)
    _label(ax, 8.6, 6.35, "$h_t$ (to the word predictor)", ha="center", va="bottom", fontsize=11)


def _peepholes(ax: Any) -> None:
    """Dashed: c_{t-1} into the forget and input gates, c_t into the output gate."""
    style = {"color": PEEP, "ls": (0, (4, 2)), "lw": 1.4, "zorder": 2}
    _wire(ax, [(1.7, BELT_Y), (1.7, 3.2), (GATE_X["i"] - 0.2, 3.2), (GATE_X["i"] - 0.2, GATE_Y + BOX_H / 2)],
          **style)
    _wire(ax, [(1.7, 3.2), (GATE_X["f"] - 0.2, 3.2), (GATE_X["f"] - 0.2, GATE_Y + BOX_H / 2)], **style)
    _wire(ax, [(6.9, BELT_Y), (6.9, 3.3), (GATE_X["o"] + 0.2, 3.3), (GATE_X["o"] + 0.2, GATE_Y + BOX_H / 2)],
          **style)
    for name, drop in (("f", GATE_X["f"] - 0.2), ("i", GATE_X["i"] - 0.2), ("o", GATE_X["o"] + 0.2)):
        _label(ax, drop - 0.12, 3.0, f"$p_{name}$", ha="right", va="center", fontsize=11, color=PEEP)


def _equations(variant: str) -> list[str]:
    """The cell's equations in the drawing's symbols (and the notebook's: W x_t + U h_{t-1})."""
    peep = {k: (rf" + p_{k} \odot c_{{{t}}}" if variant == "peephole" else "")
            for k, t in (("f", "t-1"), ("i", "t-1"), ("o", "t"))}

    def gate(k: str, fn: str = r"\sigma") -> str:
        return rf"${k}_t = {fn}(W_{k}\, x_t + U_{k}\, h_{{t-1}}{peep.get(k, '')} + b_{k})$"

    forget = "$f_t = 1 - i_t$" if variant == "cifg" else gate("f")
    return [forget, gate("i"), gate("g", r"\tanh"), gate("o"),
            r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$", r"$h_t = o_t \odot \tanh(c_t)$"]


def _cell_canvas() -> tuple[Figure, Any]:
    """The page both cell drawings share: one set of axes in drawing units, the cell's grey box."""
    fig = figure(11.6, 9.75)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(-0.9, 10.7), ylim=(-2.7, 7.05), aspect="equal")
    ax.set_axis_off()
    ax.add_patch(FancyBboxPatch((0.85, 0.7), 8.3, 4.9, boxstyle="round,pad=0,rounding_size=0.3",
                                fc="#eef2f6", ec="0.55", lw=1.2, zorder=0))
    return fig, ax


def lstm_cell_diagram(variant: str = "lstm") -> Figure:
    """The LSTM cell (or its peephole / CIFG variant) as a Figure: belt, gates, equations.

    σ boxes are the gates (values in 0..1), ⊙ an elementwise product, + the additive write onto
    the belt; the equations below use the same symbols."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    fig, ax = _cell_canvas()
    _belt(ax)
    _inputs(ax, variant)
    _gates(ax, variant)
    _output(ax)
    if variant == "peephole":
        _peepholes(ax)
    eqs = _equations(variant)
    for x, lines in ((0.3, eqs[:4]), (6.6, eqs[4:])):
        for row, line in enumerate(lines):
            _label(ax, x, -0.75 - 0.5 * row, line, ha="left", va="center", fontsize=12)
    notes = ["σ: logistic sigmoid, ⊙: elementwise product"]
    notes += ["dashed: peepholes, the gates see the cell state"] * (variant == "peephole")
    for row, note in enumerate(notes):
        _label(ax, 6.6, -1.95 - 0.4 * row, note, ha="left", va="center", fontsize=10, color="0.35")
    _label(ax, 4.9, 6.95, TITLES[variant], ha="center", va="top", fontsize=14, weight="bold")
    return fig


def _gru_state(ax: Any) -> None:
    """h_{t-1} -> ⊙ z_t -> + (1 − z_t) ⊙ n_t -> h_t: the GRU's one state, which also feeds the gates."""
    _wire(ax, [(0.3, BELT_Y), (9.7, BELT_Y)], color=BELT, lw=3.2, zorder=2)
    _op(ax, GRU_X["z"], BELT_Y, "⊙")
    _op(ax, GRU_X["write"], BELT_Y, "+")
    _label(ax, 0.2, BELT_Y, "$h_{t-1}$", ha="right", va="center", fontsize=14, color=BELT)
    _label(ax, 9.8, BELT_Y, "$h_t$", ha="left", va="center", fontsize=14, color=BELT)
    _label(ax, 4.3, BELT_Y + 0.12, "the state: no separate cell state", ha="center", va="bottom",
           fontsize=10, color=BELT, style="italic")
    _wire(ax, [(0.6, BELT_Y), (0.6, BUS_Y), (GRU_X["n"], BUS_Y)], arrow=False, color=BELT, lw=1.6)
    ax.plot([0.6], [BELT_Y], "o", color=BELT, ms=5, zorder=3)
    _wire(ax, [(8.6, BELT_Y), (8.6, 6.3)])
    ax.plot([8.6], [BELT_Y], "o", color=BELT, ms=5, zorder=3)
    _label(ax, 8.6, 6.35, "$h_t$ (to the word predictor)", ha="center", va="bottom", fontsize=11)


def _gru_gates(ax: Any) -> None:
    """σ boxes for z and r, the tanh candidate n fed by x_t and r_t ⊙ (U_n h_{t-1}), and 1 − z_t."""
    _wire(ax, [(1.6, 0.15), (1.6, BUS_Y)], arrow=False)
    ax.plot([1.6], [BUS_Y], "o", color=INK, ms=5, zorder=2)
    _label(ax, 1.6, 0.05, "$x_t$", ha="center", va="top", fontsize=14)
    top = GATE_Y + BOX_H / 2
    for name in ("z", "r"):
        _wire(ax, [(GRU_X[name], BUS_Y), (GRU_X[name], GATE_Y - BOX_H / 2)])
        ax.plot([GRU_X[name]], [BUS_Y], "o", color=INK, ms=4, zorder=2)
        _gate(ax, GRU_X[name], GATE_Y, "σ")
    _wire(ax, [(GRU_X["z"], top), (GRU_X["z"], BELT_Y - R)])  # z_t keeps h_{t-1}
    _label(ax, GRU_X["z"] - 0.1, 3.3, "$z_t$", ha="right", va="center")
    _wire(ax, [(GRU_X["z"], IG_Y), (GRU_X["one"] - BOX_W / 2, IG_Y)])  # ... and 1 − z_t writes
    ax.plot([GRU_X["z"]], [IG_Y], "o", color=INK, ms=4, zorder=2)
    _gate(ax, GRU_X["one"], IG_Y, "1 − ·", color="#d9e8f5")
    _wire(ax, [(GRU_X["one"] + BOX_W / 2, IG_Y), (GRU_X["write"] - R, IG_Y)])
    _label(ax, GRU_X["one"], IG_Y + BOX_H / 2 + 0.05, "$1 - z_t$", ha="center", va="bottom", fontsize=11)
    _wire(ax, [(GRU_X["r"] + BOX_W / 2, GATE_Y), (GRU_X["reset"] - R, GATE_Y)])
    _op(ax, GRU_X["reset"], GATE_Y, "⊙")
    _label(ax, GRU_X["r"] + 0.4, GATE_Y + 0.1, "$r_t$", ha="left", va="bottom")
    _wire(ax, [(GRU_X["reset"], BUS_Y), (GRU_X["reset"], GATE_Y - R)])
    ax.plot([GRU_X["reset"]], [BUS_Y], "o", color=INK, ms=4, zorder=2)
    _label(ax, GRU_X["reset"] - 0.08, 1.95, "$U_n h_{t-1}$", ha="right", va="center", fontsize=10)
    _wire(ax, [(GRU_X["reset"] + R, GATE_Y), (GRU_X["n"] - BOX_W / 2, GATE_Y)])
    _wire(ax, [(GRU_X["n"], BUS_Y), (GRU_X["n"], GATE_Y - BOX_H / 2)])
    _label(ax, GRU_X["n"] + 0.08, 1.95, "$W_n x_t$", ha="left", va="center", fontsize=10)
    _gate(ax, GRU_X["n"], GATE_Y, "tanh")
    _wire(ax, [(GRU_X["n"] + BOX_W / 2, GATE_Y), (GRU_X["write"], GATE_Y), (GRU_X["write"], IG_Y - R)])
    _label(ax, GRU_X["write"] + 0.1, 3.1, "$n_t$", ha="left", va="center")
    _op(ax, GRU_X["write"], IG_Y, "⊙")
    _wire(ax, [(GRU_X["write"], IG_Y + R), (GRU_X["write"], BELT_Y - R)])


GRU_X = {"z": 2.3, "r": 3.3, "reset": 4.4, "n": 5.4, "one": 5.4, "write": 6.9}  # columns of the GRU drawing
GRU_EQUATIONS = [r"$z_t = \sigma(W_z\, x_t + U_z\, h_{t-1} + b_z)$", r"$r_t = \sigma(W_r\, x_t + U_r\, h_{t-1} + b_r)$",
                 r"$n_t = \tanh(W_n\, x_t + b_{in} + r_t \odot (U_n\, h_{t-1} + b_{hn}))$",
                 r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$"]


def gru_cell_diagram() -> Figure:
    """The GRU cell as a Figure, in the LSTM drawing's symbols: one state h across the top (kept by
    z_t, written by 1 − z_t), the reset gate applied after U_n h_{t-1} as in PyTorch, equations below."""
    fig, ax = _cell_canvas()
    _gru_state(ax)
    _gru_gates(ax)
    for row, line in enumerate(GRU_EQUATIONS):
        _label(ax, 0.3, -0.75 - 0.5 * row, line, ha="left", va="center", fontsize=12)
    for row, note in enumerate(["σ: logistic sigmoid, ⊙: elementwise product",
                                "$z_t = 1$ keeps the old state; $r_t = 0$ hides it from $n_t$"]):
        _label(ax, 5.6, -1.75 - 0.4 * row, note, ha="left", va="center", fontsize=10, color="0.35")
    _label(ax, 4.9, 6.95, "GRU cell (reset gate after the recurrent product, as in PyTorch)",
           ha="center", va="top", fontsize=14, weight="bold")
    return fig
