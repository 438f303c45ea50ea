"""records_view: reading curves, statistics and gate traces out of run records, on hand-made
records and on the committed comparison (results/cell-runs/)."""

from pathlib import Path

import numpy as np
import pytest

from captioning.lab.comparison import read_records
from captioning.lab.records_view import (
    early_stopping,
    pick,
    runs_of,
    seed_values,
    span,
    stored_trace,
    trained_flow,
    verdict_line,
)

RECORDS = Path(__file__).resolve().parents[2] / "results" / "cell-runs"


def run(cell, seed, h, c=None, best=4, epochs=8, cap=30):
    flow = {"h": h} | ({"c": c} if c is not None else {})
    trace = {"words": ["<start>", "a", "dog"],
             "gates": {"forget": {"units": [7, 2], "values": [[0.9, 0.1], [0.8, 0.5], [0.95, 0.2]]}}}
    return {"cell": cell, "seed": seed, "gradient_flow": flow, "recurrence": {"keep": 0.5 + seed / 10},
            "val_curve": [5.0 + seed, 20.0], "best_epoch": best, "epochs_run": epochs,
            "settings": {"train": {"epochs": cap}}, "gate_trace": trace}


RUNS = [run("gru", 1, [3.0, 2.0]), run("lstm", 0, [1.0, 0.5], [4.0, 3.0]), run("gru", 0, [2.0, 1.0])]


def test_runs_of_a_cell_by_seed_and_a_clear_error_for_none():
    assert [r["seed"] for r in runs_of(RUNS, "gru")] == [0, 1]
    with pytest.raises(ValueError, match="rnn"):
        runs_of(RUNS, "rnn")


def test_pick_and_seed_values_follow_dotted_paths():
    assert pick(RUNS[1], "gradient_flow.h.-1") == 0.5
    assert pick(RUNS[1], "val_curve.0") == 5.0
    assert seed_values(RUNS, "gru", "gradient_flow.h.-1") == [1.0, 2.0]
    assert seed_values(RUNS, "gru", "recurrence.keep") == [0.5, 0.6]


def test_span_gives_the_seed_range_or_one_value():
    assert span([0.912, 0.920, 0.915], ".3f") == "0.912–0.920"
    assert span([0.9201, 0.9204], ".3f") == "0.920"


def test_trained_flow_names_curves_as_the_plot_draws_them():
    flow = trained_flow(RUNS, ["lstm", "gru"], seed=0)
    assert flow == {"lstm (trained)": [1.0, 0.5], "lstm (trained) ∂c": [4.0, 3.0], "gru (trained)": [2.0, 1.0]}
    assert trained_flow(RUNS, ["gru"], seed=1) == {"gru (trained)": [3.0, 2.0]}


def test_stored_trace_gives_arrays_over_the_stored_units():
    words, gates, units = stored_trace(RUNS[0])
    assert words == ["<start>", "a", "dog"] and units == {"forget": [7, 2]}
    assert gates["forget"].shape == (3, 2) and gates["forget"][2, 0] == pytest.approx(0.95)


def test_early_stopping_counts_runs_ended_before_their_cap():
    assert early_stopping(RUNS) == (3, 8, 8)
    late = [run("x", 0, [1.0], best=8, epochs=8), run("x", 1, [1.0], best=5, epochs=30, cap=30)]
    assert early_stopping(late) == (0, 8, 30)  # best in the last epoch; stopped by the cap


def test_the_committed_records_hold_what_notebook_04_reads():
    runs = read_records(RECORDS)
    cells = ["lstm", "peephole", "cifg", "gru", "rnn", "lstm-open-output", "gru-open-reset"]
    assert list(dict.fromkeys(r["cell"] for r in runs)) == cells
    stopped, _, most = early_stopping(runs)  # every run, rnn's under its 40-epoch cap, the others' under 30
    assert stopped == len(runs) and most < max(r["settings"]["train"]["epochs"] for r in runs)
    flow = trained_flow(runs, ["lstm", "cifg", "gru", "rnn"])
    assert {"lstm (trained) ∂c", "cifg (trained) ∂c", "gru (trained)", "rnn (trained)"} <= set(flow)
    assert all(len(v) == 16 for v in flow.values())
    for cell in ("lstm", "gru", "rnn"):
        assert len(seed_values(runs, cell, "recurrence.decay_rate")) >= 3
    assert {"tanh_slope", "weight_hh_norm", "gain"} <= set(runs_of(runs, "rnn")[0]["recurrence"])
    words, gates, _ = stored_trace(runs_of(runs, "gru")[0])
    assert set(gates) == {"update", "reset"} and all(g.shape[0] == len(words) for g in gates.values())
    assert np.all((gates["reset"] >= 0) & (gates["reset"] <= 1))


def test_verdict_line_says_effect_interval_p_and_what_every_seed_says():
    v = {"cell": "rnn", "against": "lstm", "metric": "CIDEr", "n_seeds": [3, 3], "means": [55.6, 65.1],
         "effect": -9.5, "interval": [-24.3, 5.3], "p": 0.1, "test": "exact permutation test over seeds (two-sided)",
         "min_p": 0.1, "direction": "below", "established": False}
    line = verdict_line(v)
    assert line.startswith("rnn vs lstm, test CIDEr: 55.6 vs 65.1, effect -9.5 (95% interval -24.3 to +5.3)")
    assert "every rnn seed below every lstm seed" in line and "p = 0.10, exact permutation" in line
    assert "3 vs 3 seeds: 0.10" in line and line.endswith("not established")
    mixed = verdict_line(v | {"direction": "mixed", "p": 0.01, "established": True})
    assert "the seeds overlap" in mixed and mixed.endswith("established (p < 0.05)")
    assert "(no interval: one seed)" in verdict_line(v | {"interval": None, "n_seeds": [1, 3]})
