"""The cell comparison's summary table and its discussion, on fake run results."""

import json
import shutil
import statistics
from pathlib import Path

import pytest

from captioning.core.errors import InputError
from captioning.lab import comparison
from captioning.lab.comparison import read_records
from captioning.lab.config import ComparisonConfig
from captioning.lab.findings import verdict_text
from captioning.lab.report import (
    caps_text,
    discussion,
    render_markdown,
    retrain_groups,
    settings_differences,
    settings_text,
    stopping_text,
    summarize,
)
from captioning.lab.report import markdown_table as _markdown_table
from captioning.lab.significance import compare, learning_speed, verdicts

SETTINGS = {"model": {"cell": "x", "hidden_dim": 512, "forget_bias": 1.0},
            "train": {"seed": 0, "lr": 1e-3, "epochs": 30, "patience": 5}, "encoder": {"name": "efficientnet_lite0"}}


def fake_run(cell, seed, cider, params, seconds=60.0, epochs=6, best=4, curve=None):
    run = {"cell": cell, "seed": seed, "parameters": params, "train_seconds": seconds,
           "epochs_run": epochs, "best_epoch": best, "settings": SETTINGS,
           "test": {"CIDEr": cider, "BLEU-4": cider / 4, "METEOR": 20.0 + seed, "ROUGE-L": 45.0}}
    return {**run, "val_curve": list(curve)} if curve else run


RUNS = [
    fake_run("lstm", 0, 60.0, 4_000_000, seconds=120, best=5),
    fake_run("lstm", 1, 62.0, 4_000_000, seconds=147, epochs=7, best=6),
    fake_run("lstm", 2, 64.0, 4_000_000, seconds=132, best=4),
    fake_run("gru", 0, 50.0, 3_000_000, seconds=90, epochs=5, best=3),
    fake_run("gru", 1, 52.0, 3_000_000, seconds=92, epochs=5, best=3),
    fake_run("rnn", 0, 30.0, 1_500_000, seconds=40, epochs=4, best=2),
]
FLOW = {"rnn": [0.5, 0.05, 0.004], "lstm": [0.9, 0.8, 0.7]}


def test_summarize_means_and_stds():
    table = summarize(RUNS)
    assert list(table) == ["lstm", "gru", "rnn"]
    lstm = table["lstm"]
    assert lstm["CIDEr"] == pytest.approx((62.0, statistics.stdev([60.0, 62.0, 64.0])))
    assert lstm["CIDEr"][1] == pytest.approx(2.0)
    assert lstm["BLEU-4"] == pytest.approx((15.5, 0.5))
    assert lstm["METEOR"] == pytest.approx((21.0, 1.0))
    assert lstm["ROUGE-L"] == pytest.approx((45.0, 0.0))
    assert lstm["sec_per_epoch"] == pytest.approx((21.0, 1.0))  # 20, 21, 22 s per epoch
    assert lstm["best_epoch"] == pytest.approx((5.0, 1.0))
    assert lstm["parameters"] == 4_000_000 and lstm["seeds"] == 3 and lstm["early_stopped"]
    assert table["gru"]["CIDEr"] == pytest.approx((51.0, statistics.stdev([50.0, 52.0])))
    assert table["rnn"]["CIDEr"] == (30.0, 0.0) and table["rnn"]["seeds"] == 1  # one seed: std 0


def test_markdown_table():
    md = _markdown_table(summarize(RUNS))
    lines = md.splitlines()
    assert lines[0] == ("| cell | seeds | CIDEr | BLEU-4 | METEOR | ROUGE-L | parameters | s/epoch | best epoch | "
                        "epochs run |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|---|"
    assert len(lines) == 5 and all(line.count("|") == 11 for line in lines)
    assert lines[2] == ("| lstm | 3 | 62.0 ± 2.0 | 15.5 ± 0.5 | 21.0 ± 1.0 | 45.0 ± 0.0 | 4,000,000 | 21 | 5.0 ± 1.0 | "
                        "6.3 ± 0.6 |")
    assert lines[3].startswith("| gru | 2 | 51.0 ± 1.4 |") and "3,000,000" in lines[3]
    assert lines[4].startswith("| rnn | 1 | 30.0 ± 0.0 |")


def test_a_verdict_gives_effect_interval_p_and_what_every_seed_agrees_on():
    runs = [fake_run("lstm", s, c, 4) for s, c in enumerate((63.3, 65.1, 66.8))]
    runs += [fake_run("rnn", s, c, 2) for s, c in enumerate((52.7, 62.6, 51.4))]
    text = verdict_text(verdicts(runs)[0], runs, summarize(runs))
    assert text.startswith("rnn − lstm: −9.5 test CIDEr (55.6 vs 65.1, 3 seeds), 95% interval −23.4 to +4.4 "
                           "(Welch t over seeds), p = 0.10 (exact two-sided permutation test over seeds).")
    assert "Not established with 3 seeds (p is already the smallest this test can give with 3 seeds)" in text
    assert "same direction in every seed: every rnn seed below every lstm seed (51.4–62.6 vs 63.3–66.8)" in text
    assert "within seed noise" not in text
    overlap = [*runs[:3], *[fake_run("gru", s, c, 3) for s, c in enumerate((67.6, 64.4, 62.8))]]
    assert "the seeds overlap (gru 62.8–67.6, lstm 63.3–66.8)." in verdict_text(
        verdicts(overlap)[0], overlap, summarize(overlap))


def test_a_verdict_is_established_with_enough_seeds_and_then_cites_both_tests():
    runs = [fake_run("lstm", s, 60.0 + s, 4) for s in range(5)] + [fake_run("rnn", s, 50.0 + s, 2) for s in range(5)]
    for r in runs:
        r["test_images"] = {"image_ids": [1, 2, 3, 4], "CIDEr": [r["test"]["CIDEr"] + d for d in (-20, -5, 5, 20)]}
    v = verdicts(runs)[0]
    text = verdict_text(v, runs, summarize(runs))
    assert v["established"] and v["p_permutation"] == pytest.approx(2 / 252)
    assert "paired bootstrap over 4 test images: −10.0, 95% interval −10.0 to −10.0, p < 0.001" in text
    runs[0] = {k: v for k, v in runs[0].items() if k != "test_images"}  # lstm seed 0 from before format 2
    v = verdicts(runs)[0]
    assert v["bootstrap"]["seeds"] == [[0, 1, 2, 3, 4], [1, 2, 3, 4]]
    text = verdict_text(v, runs, summarize(runs))
    assert ("paired bootstrap over 4 test images (the runs that store per-image scores: rnn seeds 0, 1, 2, 3 and 4, "
            "lstm seeds 1, 2, 3 and 4): −10.5") in text
    assert "Established (p = 0.008, below 0.05): rnn scores below lstm; same direction in every seed" in text


def test_discussion_states_the_numbers_and_no_more():
    table = summarize(RUNS)
    text = discussion(table, FLOW, RUNS)
    assert "**How the verdicts are tested.**" in text and "exact two-sided permutation test over seeds" in text
    assert "the records store no per-image test scores" in text and "permutation test only" in text
    assert "1. **LSTM against GRU.** gru − lstm: −11.0 test CIDEr (51.0 vs 62.0, 2 and 3 seeds)" in text
    assert "2. **Gates against the plain tanh RNN.** rnn − lstm: −32.0" in text  # numbered as they come
    assert "0.75× the LSTM's parameters" in text and "names no cause" in text and "reset gate" in text
    assert "beats" not in text and "within seed noise" not in text
    assert "Ablation" not in text  # no ablation runs, so no ablation verdict
    assert "4.00e-03" in text and "7.00e-01" in text and "After 3 words" in text
    assert "lstm 21 ± 1, gru 18 ± 0, rnn 10 ± 0" in text and "not a speed comparison" in text
    assert "GRU's update gate z" in text and "CIFG's input gate, as -1" in text
    assert "**Early-stopped.**" in text and "best epochs 2–6" in text and "at epochs 4–7 of the 30-epoch cap" in text
    assert "Converged" not in text and "written-out loop, which" not in text
    assert "Warning" not in text  # every record shares its settings


def test_unconverged_runs_get_a_caveat_and_trained_flow_is_explained():
    runs = [*RUNS, fake_run("cifg", 0, 61.0, 3_500_000, epochs=6, best=6)]
    text = discussion(summarize(runs), {**FLOW, "rnn (trained)": [0.9, 0.9, 0.9], "lstm (trained)": [0.8, 0.6, 0.5]},
                      runs, recurrence={"lstm": {"keep_gate": "forget", "keep": 0.83, "decay_rate": 0.92},
                                        "rnn": {"decay_rate": 0.949, "tanh_slope": 0.25, "weight_hh_norm": 5.23,
                                                "gain": 1.30}})
    assert "**Caveat: not early-stopped.**" in text and "cifg seed 0 (best 6 of 6)" in text
    assert "**Coupled input and forget gates.** cifg − lstm: −1.0" in text
    assert "lstm forget 0.83" in text and "decay rate of that norm" in text and "lstm 0.920, rnn 0.949" in text
    assert "is 1.30: at best a loose upper bound" in text and "does not contradict the measured decay rate of 0.949" in text
    assert "What sets the trained decay" not in text and "do not say what sets their decay" in text
    assert "most kept to least: rnn 0.9, lstm 0.5" in text


def test_a_run_that_reached_its_epoch_cap_is_not_called_early_stopped():
    runs = [*RUNS, fake_run("cifg", 0, 61.0, 3_500_000, epochs=30, best=25)]
    assert "cifg seed 0 (best 25 of 30)" in discussion(summarize(runs), FLOW, runs)
    assert not summarize(runs)["cifg"]["early_stopped"]


def test_learning_speed_names_what_every_seed_agrees_on_in_the_first_epochs():
    runs = [fake_run("lstm", s, 65.0, 4, curve=c) for s, c in enumerate(((7.6, 22.3, 38.0), (5.8, 26.6), (5.7, 24.0)))]
    runs += [fake_run("gru", s, 65.0, 3, curve=c, best=b)
             for s, (c, b) in enumerate((((25.0, 41.7), 3), ((24.9, 45.1), 4), ((23.3, 24.1), 5)))]
    text = discussion(summarize(runs), {}, runs)
    assert "**Learning speed.** Validation CIDEr (greedy), range over seeds, after epoch 1: lstm 5.7–7.6, gru 23.3–25.0" in text
    assert "at epoch 1: gru above lstm; at epoch 2: gru" not in text  # epoch 2: 24.1 < 26.6, the seeds overlap
    assert "at epoch 1: gru above lstm (p = 0.10, exact two-sided permutation test over seeds)" in text
    assert "The best val epoch is gru 3–5 (mean 4.0) and lstm 4 (mean 4.0), p = 1.00" in text
    assert "that the GRU peaks sooner is not established with 3 seeds" in text
    assert learning_speed(runs)[0]["val_cider"] == [7.6, 5.8, 5.7]


def test_ablations_get_their_own_verdicts_and_differing_settings_are_flagged():
    runs = [*RUNS, fake_run("gru-open-reset", 0, 40.0, 2_500_000), fake_run("gru-open-reset", 1, 41.0, 2_500_000),
            {**fake_run("lstm-open-output", 0, 61.0, 3_500_000),
             "settings": {**SETTINGS, "train": {**SETTINGS["train"], "lr": 3e-3}}}]
    text = discussion(summarize(runs), FLOW, runs)
    assert "**Ablation: the GRU's reset gate.** gru-open-reset − gru: −10.5" in text
    assert "**Ablation: the LSTM's output gate.** lstm-open-output − lstm: −1.0 test CIDEr (61.0 vs 62.0, 1 and 3" in text
    assert "**Warning: the records differ in train.lr**" in text


def test_a_run_just_trained_matches_the_records_read_back():
    # In memory a setting may be a tuple; read back from its JSON record it is a list: the same.
    fresh = {**fake_run("gru", 2, 51.0, 3_000_000),
             "settings": {**SETTINGS, "encoder": {"name": "efficientnet_lite0", "mean": (0.5, 0.5, 0.5)}}}
    read_back = [{**r, "settings": {**SETTINGS, "encoder": {"name": "efficientnet_lite0", "mean": [0.5, 0.5, 0.5]}}}
                 for r in RUNS]
    assert settings_differences([*read_back, fresh]) == []
    assert "**Warning" not in discussion(summarize([*read_back, fresh]), FLOW, [*read_back, fresh])
    changed = {**fresh, "settings": {**fresh["settings"], "encoder": {"name": "efficientnet_lite0", "mean": (0.4,)}}}
    assert settings_differences([*read_back, changed]) == ["encoder.mean"]


def test_discussion_only_states_what_was_measured():
    only = summarize([r for r in RUNS if r["cell"] == "lstm"])
    text = discussion(only, {}, RUNS[:3])
    assert "How the verdicts" not in text and "Gradient flow" not in text and "Learning speed" not in text


def test_the_committed_report_is_what_its_committed_records_say():
    # results/cells.json names its records folder; cells.md and cells.json are rebuilt from the
    # records alone (the fresh-network curves, not in any record, are read from cells.json).
    root = Path(__file__).resolve().parents[2]
    results = json.loads((root / "results" / "cells.json").read_text())
    runs = read_records(root / results["records"])
    assert [r["cell"] for r in runs[:3]] == ["lstm"] * 3 and [r["seed"] for r in runs[:3]] == [0, 1, 2]
    table = summarize(runs)
    assert results["summary"] == json.loads(json.dumps(table))
    assert results["verdicts"] == json.loads(json.dumps(verdicts(runs)))
    assert results["learning_speed"] == json.loads(json.dumps(learning_speed(runs)))
    recurrence = {r["cell"]: r["recurrence"] for r in runs if r["seed"] == 0}
    assert results["recurrence"] == recurrence
    for r in runs:
        if r["seed"] == 0:
            assert results["gradient_flow"][f"{r['cell']} (trained)"] == r["gradient_flow"]["h"]
    minutes = sum(r["wall_seconds"] for r in runs) / 60
    md = render_markdown(table, results["gradient_flow"], settings_text(runs), results["commands"], minutes, runs,
                         recurrence)
    assert md == (root / "results" / "cells.md").read_text()


def test_the_committed_report_states_the_issue_28_findings():
    text = (Path(__file__).resolve().parents[2] / "results" / "cells.md").read_text()
    assert "exact two-sided permutation test over seeds" in text and "Welch t" in text
    assert "every rnn seed below every lstm seed" in text and "within seed noise" not in text
    assert "at epoch 1: gru above lstm" in text
    assert "**Early-stopped.**" in text and "before a cap of 30 epochs (40 for rnn)" in text and "Caveat" not in text
    assert "```\ncaptioning compare-cells --cells lstm gru --seeds 5 --epochs 30 --quiet\n" in text
    assert "captioning compare-cells --cells rnn --seeds 5 --epochs 40 --quiet\n```" in text
    assert "Converged" not in text and "which is why its epochs take longer" not in text
    assert "What sets the trained decay" not in text and "at best a loose upper bound" in text


def full_record(cell, seed, cider, curve=(10.0, 20.0)):
    settings = {"model": {"cell": cell, "embed_dim": 8, "hidden_dim": 8, "num_layers": 1, "dropout": 0.5,
                          "forget_bias": 1.0},
                "train": {"seed": seed, "epochs": 30, "patience": 5, "batch_size": 64, "lr": 1e-3,
                          "label_smoothing": 0.1, "val_images": 0},
                "encoder": {"name": "efficientnet_lite0", "flip": False}}
    return {**fake_run(cell, seed, cider, 1000, curve=curve), "settings": settings, "wall_seconds": 60.0,
            "gradient_flow": {"h": [1.0, 0.5]}, "recurrence": {"cell": cell, "decay_rate": 0.5}}


def test_a_run_of_some_cells_with_more_seeds_keeps_every_record_in_the_report(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from captioning.decoder.config import DecoderConfig
    from captioning.training.config import TrainConfig

    records = tmp_path / "records"
    records.mkdir()
    for cell, seeds in (("lstm", 5), ("gru", 3)):
        for seed in range(seeds):
            (records / f"{cell}-seed{seed}.json").write_text(json.dumps(full_record(cell, seed, 60.0 + seed)))
    def train_cell(cell, seed, *args):  # the real one returns the record and trains nothing when it exists
        assert comparison.record_path(records, cell, seed).is_file(), f"{cell} seed {seed} would train"

    monkeypatch.setattr(comparison, "train_cell", train_cell)
    monkeypatch.setattr(comparison, "fresh_flow", lambda cells, test, model: {c: {"h": [1.0, 0.1]} for c in cells})
    cmp = ComparisonConfig(cells=("lstm",), seeds=5, records=str(records), out=str(tmp_path / "out"))
    assert comparison.status(cmp) == (f"5 of 5 runs done (records in {records}); all done; 0 of 8 records in the "
                                      "folder store per-image test CIDEr (the paired bootstrap needs them for "
                                      "every run of both cells)")
    table = comparison.run_comparison((list(range(10)), {"test": None}, {}), SimpleNamespace(feature_dim=8),
                                      DecoderConfig(), TrainConfig(), cmp, command="captioning compare-cells")
    assert list(table) == ["lstm", "gru"] and table["lstm"]["seeds"] == 5 and table["gru"]["seeds"] == 3
    md = (tmp_path / "out" / "cells.md").read_text()
    assert "with 5 seeds for lstm and 3 seeds for gru:" in md
    assert "gru − lstm: −1.0 test CIDEr (61.0 vs 62.0, 3 and 5 seeds)" in md
    missing = ComparisonConfig(cells=("lstm", "gru"), seeds=5, records=str(records))
    assert "8 of 10 runs done" in comparison.status(missing) and "missing: gru-seed3, gru-seed4;" in comparison.status(missing)


def test_the_report_rewritten_from_the_records_alone_is_byte_identical(tmp_path):
    records, out = tmp_path / "records", tmp_path / "out"
    records.mkdir()
    for cell, seed in (("lstm", 0), ("lstm", 1), ("rnn", 0), ("rnn", 1)):
        (records / f"{cell}-seed{seed}.json").write_text(json.dumps(full_record(cell, seed, 50.0 + seed)))
    out.mkdir()
    fresh = {"lstm": [1.0, 0.5], "lstm ∂c": [1.0, 0.9], "rnn": [1.0, 0.01]}
    (out / "cells.json").write_text(json.dumps({"command": "captioning compare-cells --epochs 30",
                                                "gradient_flow": fresh}))
    cmp = ComparisonConfig(records=str(records), out=str(out))
    comparison.rewrite_report(cmp)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"cells.md", "cells.json", "cells.png", "gradient_flow.png"}
    comparison.rewrite_report(cmp)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    written = json.loads(first["cells.json"])
    assert written["command"] == "captioning compare-cells --epochs 30" and written["gradient_flow"]["lstm ∂c"] == [1.0, 0.9]
    assert written["commands"] == ["captioning compare-cells --epochs 30"]  # the CLI derives them per group
    assert written["gradient_flow"]["rnn (trained)"] == [1.0, 0.5]  # from the seed-0 record
    assert "```\ncaptioning compare-cells --epochs 30\n```" in first["cells.md"].decode()
    (records / "gru-seed0.json").write_text(json.dumps(full_record("gru", 0, 50.0)))
    with pytest.raises(InputError, match="no fresh-network curves for gru"):
        comparison.rewrite_report(cmp)
    with pytest.raises(InputError, match="no run records"):
        comparison.rewrite_report(ComparisonConfig(records=str(tmp_path / "none"), out=str(out)))


def test_read_records_orders_cells_as_the_comparison_does(tmp_path):
    for cell, seed in (("gru", 1), ("lstm", 1), ("gru", 0), ("lstm", 0)):
        (tmp_path / f"{cell}-seed{seed}.json").write_text(json.dumps({"cell": cell, "seed": seed}))
    (tmp_path / "notes.json").write_text("{}")  # not a record
    assert [(r["cell"], r["seed"]) for r in read_records(tmp_path)] == [("lstm", 0), ("lstm", 1), ("gru", 0), ("gru", 1)]


@pytest.mark.integration
def test_compare_cells_writes_its_results_with_the_command_that_made_them(core_coco_features, core_prefill_cache,
                                                                           tmp_path, core_one_thread):
    from captioning.cli.main import main
    from captioning.data.karpathy import read_karpathy, write_karpathy

    _, kept = core_coco_features
    by = {s: [r for r in kept if r.split == s] for s in ("train", "val", "test")}
    split = write_karpathy(by["train"][:40] + by["val"][:10] + by["test"][:20], tmp_path / "split.json")
    cache = core_prefill_cache(tmp_path / "cache.safetensors", [r.path for r in read_karpathy(split)])
    records, out = tmp_path / "records", tmp_path / "results"
    argv = ["compare-cells", "--cells", "lstm", "gru-open-reset", "--seeds", "1", "--epochs", "2", "--embed-dim", "8",
            "--hidden-dim", "8", "--min-count", "2", "--dataset", str(split), "--cache", str(cache), "--out", str(out),
            "--records", str(records), "--work", str(tmp_path / "work"), "--device", "cpu", "--quiet"]
    assert main([*argv, "--status"]) == 0
    assert main(argv) == 0
    md = (out / "cells.md").read_text()
    assert f"```\ncaptioning {' '.join(argv)}\n```" in md  # --cells, --seeds and --epochs come first here
    assert sorted(p.name for p in records.iterdir()) == ["gru-open-reset-seed0.json", "lstm-seed0.json"]
    lstm = json.loads((records / "lstm-seed0.json").read_text())
    assert lstm["settings"]["model"]["cell"] == "lstm" and len(lstm["curves"]["val_cider"]) == lstm["epochs_run"]
    assert set(lstm["gradient_flow"]) == {"h", "c"} and len(lstm["gradient_flow"]["h"]) == 16
    assert set(lstm["gate_trace"]["gates"]) == {"forget", "input", "output"} and lstm["wall_seconds"] > 0
    per_image = lstm["test_images"]  # format 2: per-image test CIDEr, whose mean is the test CIDEr
    assert lstm["format"] == 2 and len(per_image["image_ids"]) == len(per_image["CIDEr"]) == lstm["test"]["n_images"]
    assert statistics.fmean(per_image["CIDEr"]) == pytest.approx(lstm["test"]["CIDEr"])
    results = json.loads((out / "cells.json").read_text())
    assert {"lstm", "lstm ∂c", "lstm (trained)", "lstm (trained) ∂c", "gru-open-reset",
            "gru-open-reset (trained)"} == set(results["gradient_flow"])
    assert results["recurrence"]["lstm"]["keep_gate"] == "forget"
    assert {p.name for p in out.iterdir()} == {"cells.md", "cells.json", "cells.png", "gradient_flow.png"}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    shutil.rmtree(tmp_path / "work")  # a fresh clone: records only, no checkpoints
    assert main(argv) == 0  # trains nothing and writes the same report
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main([*argv, "--report"]) == 0  # from the records alone, reading no data
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    other = json.loads((records / "gru-open-reset-seed0.json").read_text())
    assert compare([other], [lstm])["bootstrap"]["images"] == 20  # the two runs pair over the same test images


def test_a_field_added_since_an_older_record_counts_as_its_default():
    # records written before TrainConfig.views existed lack it; a new run holds views=1
    newer = {**fake_run("gru", 3, 51.0, 3_000_000), "settings": {**SETTINGS, "train": {**SETTINGS["train"], "views": 1}}}
    assert settings_differences([*RUNS, newer]) == []
    other = {**newer, "settings": {**newer["settings"], "train": {**SETTINGS["train"], "views": 8}}}
    assert settings_differences([*RUNS, other]) == ["train.views"]


def capped(run, cap):
    return {**run, "settings": {**run["settings"], "train": {**run["settings"]["train"], "epochs": cap}}}


def test_a_cell_given_a_larger_cap_is_stated_per_cell_and_retrained_by_its_own_group():
    # rnn's runs under a 40-epoch cap (one reached 30 while improving), the other cells under 30
    runs = [full_record(c, s, 60.0) for c, s in (("lstm", 0), ("lstm", 1), ("lstm", 2), ("gru", 0), ("gru", 1))]
    runs += [{**capped(full_record("rnn", s, 30.0), 40), "epochs_run": 20 + s, "best_epoch": 14} for s in range(2)]
    assert caps_text(runs) == "30 epochs (40 for rnn)" and caps_text(RUNS) == "30 epochs"
    assert settings_differences(runs) == []  # caps are stated per cell, not a difference of regime
    assert "at most 30 epochs (40 for rnn) with early stopping" in settings_text(runs)
    assert "Besides the epoch cap, which is 30 epochs (40 for rnn), the one setting that differs" in discussion(
        summarize(runs), FLOW, runs)
    text = stopping_text(runs)
    assert "at epochs 6–21, before a cap of 30 epochs (40 for rnn), after 5 epochs without" in text and "decays more slowly" in text
    assert retrain_groups(runs) == [(["lstm"], 3, 30), (["gru"], 2, 30), (["rnn"], 2, 40)]  # one command each
    mixed = [*runs, full_record("rnn", 2, 30.0)]
    assert settings_differences(mixed) == ["train.epochs within rnn"]  # one cell, two caps: not one regime
