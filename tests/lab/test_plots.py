"""The lab figures, checked on their axes data: where the points sit, what the labels say, which
units are shown, that ticks are whole numbers and that coinciding curves stay distinguishable."""

import itertools

import numpy as np
import pytest
from matplotlib.text import Annotation

from captioning.lab import plots


def _visible_xticks(ax) -> list[float]:
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_xlim())
    return [float(t) for t in ax.get_xticks() if lo <= t <= hi]


def _assert_integer_xticks(ax) -> None:
    ticks = _visible_xticks(ax)
    assert ticks and all(t.is_integer() for t in ticks), ticks


# ----------------------------------------------------------------------------- gradient flow
def test_gradient_flow_step_t_is_drawn_at_t():
    fig = plots.plot_gradient_flow({"rnn": 0.5 ** np.arange(1, 11), "lstm": [0.9] * 10})
    ax = fig.axes[0]
    for line in ax.lines:
        assert list(line.get_xdata()) == list(range(1, 11))
    assert "Frobenius norm of the Jacobian" in ax.get_ylabel()
    assert r"\partial h_t" in ax.get_ylabel() and r"\partial c_t" not in ax.get_ylabel()
    assert ax.get_yscale() == "log" and r"\partial h_t" in ax.get_title()
    _assert_integer_xticks(ax)


def test_gradient_flow_cell_state_curves_are_dashed_in_their_cells_colour():
    norms = {"rnn": [0.5, 0.25], "lstm": [0.9, 0.8], "lstm ∂c": [0.95, 0.9]}
    fig = plots.plot_gradient_flow(norms, styles={"rnn": {"color": "k"}})
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert lines["lstm ∂c"].get_color() == lines["lstm"].get_color()
    assert lines["lstm ∂c"].get_linestyle() == "--" and lines["lstm"].get_linestyle() == "-"
    assert lines["rnn"].get_color() == "k"  # styles override
    assert r"\partial c_t" in ax.get_ylabel() and "cell state" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(norms)


def test_gradient_flow_trained_curves_share_their_cells_colour_and_many_get_a_legend_beside():
    norms = {f"{c}{t}": [1.0 + i, 0.5 + i + len(t)] for i, c in enumerate(("lstm", "gru", "rnn", "cifg", "peephole"))
             for t in ("", " (trained)")}
    fig = plots.plot_gradient_flow(norms)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert lines["gru (trained)"].get_color() == lines["gru"].get_color() != lines["lstm"].get_color()
    assert lines["gru"].get_markerfacecolor() == "none" and lines["gru (trained)"].get_markerfacecolor() != "none"
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # beside the curves, not over them


def test_gradient_flow_of_a_single_step_has_an_integer_tick():
    _assert_integer_xticks(plots.plot_gradient_flow({"gru": [0.7]}).axes[0])


# ----------------------------------------------------------------------------- gates
TOKENS = ["<start>", "a", "man", "riding", "a", "wave"]


def _gates(rng, units=10):
    forget = 0.5 + 0.01 * rng.random((6, units))
    forget[:, 7] = np.linspace(0, 1, 6)  # varies most
    forget[:, 2] = np.linspace(0.3, 0.7, 6)  # second
    forget[:, 5] = np.linspace(0.45, 0.55, 6)  # third
    return {"forget": forget, "input": rng.random((6, units))}


def test_plot_gates_variance_shows_the_most_varying_units_first():
    gates = _gates(np.random.default_rng(0))
    fig = plots.plot_gates(TOKENS, gates, max_units=3, units="variance")
    heat = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(heat, gates["forget"][:, [7, 2, 5]].T)
    ax = fig.axes[0]
    assert "3 most varying of 10 units" in ax.get_title()
    fig.canvas.draw()
    labels = {round(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    assert labels.get(0) == "7"  # rows are labelled with the unit they show


def test_plot_gates_first_units_by_default():
    gates = _gates(np.random.default_rng(1))
    fig = plots.plot_gates(TOKENS, gates, max_units=4)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), gates["forget"][:, :4].T)
    assert "units 0–3 of 10" in fig.axes[0].get_title()
    assert not [t for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)]
    with pytest.raises(ValueError, match="units"):
        plots.plot_gates(TOKENS, gates, units="random")


def test_plot_gates_marks_events_on_the_mean_panel():
    gates = _gates(np.random.default_rng(2))
    fig = plots.plot_gates(TOKENS, gates, events=[(3, "forget ↓0.20"), (5, "new phrase")])
    mean_panel = next(ax for ax in fig.axes if ax.get_title() == "per-word mean gate value")
    notes = [t for t in mean_panel.texts if isinstance(t, Annotation)]
    assert [n.get_text() for n in notes] == ["forget ↓0.20", "new phrase"]
    assert [n.xy[0] for n in notes] == [3, 5]
    vertical = [line for line in mean_panel.lines if len(set(line.get_xdata())) == 1]
    assert sorted(line.get_xdata()[0] for line in vertical) == [3, 5]


# ----------------------------------------------------------------------------- training curves
def test_training_curves_of_one_epoch_have_integer_ticks():
    fig = plots.plot_training_curves([{"epoch": 1, "train_loss": 2.0, "val_loss": 2.0,
                                       "val_cider": 0.3}])
    for ax in fig.axes:
        _assert_integer_xticks(ax)
    train, val = fig.axes[0].lines
    assert (train.get_marker(), train.get_linestyle()) != (val.get_marker(), val.get_linestyle())


def test_comparison_curves_stay_visible_when_they_coincide():
    curve = [10.0, 20.0, 25.0]
    runs = [{"cell": c, "val_curve": curve} for c in ("lstm", "peephole", "cifg", "gru", "rnn")]
    table = {r["cell"]: {"CIDEr": (25.0, 1.0)} for r in runs}
    fig = plots.plot_comparison(runs, table)
    ax = fig.axes[1]
    assert [line.get_label() for line in ax.lines] == list(table)
    assert len({(line.get_marker(), line.get_linestyle()) for line in ax.lines}) == len(table)
    assert all(line.get_markerfacecolor() == "none" for line in ax.lines)  # hollow: see through
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    _assert_integer_xticks(ax)


def test_comparison_draws_every_seed_whole_and_each_seeds_test_score():
    runs = [{"cell": "lstm", "seed": 0, "val_curve": [5.0, 20.0, 30.0], "test": {"CIDEr": 64.0}},
            {"cell": "lstm", "seed": 1, "val_curve": [6.0, 22.0], "test": {"CIDEr": 66.0}},
            {"cell": "gru", "seed": 0, "val_curve": [25.0], "test": {"CIDEr": 65.0}}]
    table = {"lstm": {"CIDEr": (65.0, 1.4)}, "gru": {"CIDEr": (65.0, 0.0)}}
    bars, curves = plots.plot_comparison(runs, table).axes[:2]
    assert [list(line.get_ydata()) for line in curves.lines] == [[5.0, 20.0, 30.0], [6.0, 22.0], [25.0]]  # no cut
    assert [line.get_label() for line in curves.lines] == ["lstm", "_nolegend_", "gru"]
    assert curves.lines[0].get_color() == curves.lines[1].get_color() != curves.lines[2].get_color()
    assert "every seed" in curves.get_title() and "mean" not in curves.get_title()
    dots = [line for line in bars.lines if line.get_marker() == "o"]
    assert [list(d.get_ydata()) for d in dots] == [[64.0, 66.0], [65.0]] and "dots are seeds" in bars.get_title()


def test_comparison_bar_labels_do_not_overlap():
    cells = ("lstm", "peephole", "cifg", "gru", "rnn", "lstm-open-output", "gru-open-reset")
    table = {c: {"CIDEr": (60.0, 1.0)} for c in cells}
    fig = plots.plot_comparison([{"cell": c, "val_curve": [1.0, 2.0]} for c in cells], table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][-2:] == ["lstm\nopen\noutput", "gru\nopen\nreset"]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes))


def test_gradient_flow_marks_a_curve_drawn_on_top_of_another_and_draws_sqrt_h():
    norms = {"lstm": [3.0, 1.0, 0.3], "peephole": [3.01, 1.0, 0.301], "gru": [2.0, 1.0, 0.5]}
    fig = plots.plot_gradient_flow(norms, hidden_size=16)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert "peephole (on top of lstm)" in lines and "gru" in lines and "lstm" in lines
    assert lines["peephole (on top of lstm)"].get_markersize() > lines["lstm"].get_markersize()
    (ref,) = [line for label, line in lines.items() if label.startswith("√H")]
    assert list(ref.get_ydata()) == [4.0, 4.0] and "identity Jacobian" in ref.get_label()


def test_gradient_flow_names_the_fresh_lstm_curve_hidden_under_peepholes():
    # The committed comparison's fresh curves: up to 3.5% apart, on an axis spanning five decades,
    # so the peephole curve covers the lstm curve; the legend says so and its marker is larger.
    lstm = [2.898, 1.998, 1.496, 1.126, 0.869, 0.680, 0.532, 0.422, 0.337, 0.270, 0.218, 0.176]
    peephole = [2.848, 1.931, 1.450, 1.107, 0.851, 0.665, 0.521, 0.416, 0.332, 0.267, 0.215, 0.174]
    rnn = list(0.3 ** np.arange(12))
    norms = {"lstm": lstm, "peephole": peephole, "rnn": rnn, "gru": [v * 1.5 for v in lstm]}
    ax = plots.plot_gradient_flow(norms).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["lstm", "peephole (on top of lstm)", "rnn", "gru"]  # 1.5x apart: not hidden
    lines = {line.get_label(): line for line in ax.lines}
    assert lines["peephole (on top of lstm)"].get_markersize() > lines["lstm"].get_markersize()
    trained = plots.plot_gradient_flow({"gru (trained)": lstm, "lstm (trained)": peephole, "rnn": rnn}).axes[0]
    twin = trained.lines[1]
    assert twin.get_label() == "lstm (trained) (on top of gru (trained))" and twin.get_markerfacecolor() == "none"
    apart = plots.plot_gradient_flow({"lstm": lstm, "peephole": peephole}).axes[0]  # a narrow axis: visibly apart
    assert [t.get_text() for t in apart.get_legend().get_texts()] == ["lstm", "peephole"]


def test_gate_heatmaps_give_each_shown_unit_room():
    rng = np.random.default_rng(0)
    few = plots.plot_gates(TOKENS, {"forget": rng.random((6, 64))}, max_units=16, units="variance")
    heatmap = few.axes[0]
    few.canvas.draw()
    assert heatmap.get_window_extent().height / few.dpi / 16 >= 0.1  # at least 0.1 inch a unit
