"""The cell comparison's summary table and its discussion, on fake run results."""

import json
import shutil
import statistics
from pathlib import Path

import pytest

from captioning.lab.comparison import read_records
from captioning.lab.report import discussion, settings_differences, summarize
from captioning.lab.report import markdown_table as _markdown_table
from captioning.lab.report import verdict as _verdict

SETTINGS = {"model": {"cell": "x", "hidden_dim": 512, "forget_bias": 1.0}, "train": {"seed": 0, "lr": 1e-3},
            "encoder": {"name": "efficientnet_lite0"}}


def fake_run(cell, seed, cider, params, seconds=60.0, epochs=6, best=4):
    return {"cell": cell, "seed": seed, "parameters": params, "train_seconds": seconds,
            "epochs_run": epochs, "best_epoch": best, "settings": SETTINGS,
            "test": {"CIDEr": cider, "BLEU-4": cider / 4, "METEOR": 20.0 + seed, "ROUGE-L": 45.0}}


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
    assert lstm["parameters"] == 4_000_000 and lstm["seeds"] == 3
    assert table["gru"]["CIDEr"] == pytest.approx((51.0, statistics.stdev([50.0, 52.0])))
    assert table["rnn"]["CIDEr"] == (30.0, 0.0) and table["rnn"]["seeds"] == 1  # one seed: std 0


def test_markdown_table():
    md = _markdown_table(summarize(RUNS))
    lines = md.splitlines()
    assert lines[0] == "| cell | CIDEr | BLEU-4 | METEOR | ROUGE-L | parameters | s/epoch | best epoch | epochs run |"
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    assert len(lines) == 5 and all(line.count("|") == 10 for line in lines)
    assert lines[2] == ("| lstm | 62.0 ± 2.0 | 15.5 ± 0.5 | 21.0 ± 1.0 | 45.0 ± 0.0 | 4,000,000 | 21 | 5.0 ± 1.0 | "
                        "6.3 ± 0.6 |")
    assert lines[3].startswith("| gru | 51.0 ± 1.4 |") and "3,000,000" in lines[3]
    assert lines[4].startswith("| rnn | 30.0 ± 0.0 |")


def test_verdict_judges_against_seed_noise():
    table = summarize(RUNS)
    assert _verdict("lstm", "gru", table) == "lstm beats gru on CIDEr (62.0 ± 2.0 vs 51.0 ± 1.4)"
    assert _verdict("gru", "lstm", table) == _verdict("lstm", "gru", table)
    close = summarize([fake_run("a", 0, 50.0, 1), fake_run("a", 1, 54.0, 1),
                       fake_run("b", 0, 51.0, 1), fake_run("b", 1, 57.0, 1)])
    assert "within seed noise" in _verdict("a", "b", close)  # 2 points apart, stds 2.8 and 4.2


def test_discussion_states_the_numbers_and_no_more():
    table = summarize(RUNS)
    text = discussion(table, FLOW, RUNS)
    assert "lstm beats rnn on CIDEr (62.0 ± 2.0 vs 30.0 ± 0.0)" in text
    assert "lstm beats gru on CIDEr" in text and "0.75× the LSTM's parameters" in text
    assert "ablations below test two of them" in text and "reset gate" in text
    assert "Ablation" not in text  # no ablation runs, so no ablation verdict
    assert "4.00e-03" in text and "7.00e-01" in text and "After 3 words" in text
    assert "lstm 21 ± 1, gru 18 ± 0, rnn 10 ± 0" in text and "not a speed comparison" in text
    assert "GRU's update gate z" in text and "CIFG's input gate, as -1" in text
    assert "**Converged.**" in text and "best epochs 2–6" in text
    assert "Warning" not in text  # every record shares its settings


def test_unconverged_runs_get_a_caveat_and_trained_flow_is_explained():
    runs = [*RUNS, fake_run("cifg", 0, 61.0, 3_500_000, epochs=6, best=6)]
    text = discussion(summarize(runs), {**FLOW, "rnn (trained)": [0.9, 0.9, 0.9], "lstm (trained)": [0.8, 0.6, 0.5]},
                      runs, recurrence={"lstm": {"keep": 0.83}, "rnn": {"tanh_slope": 0.9,
                                                                        "weight_hh_norm": 1.1, "gain": 0.99}})
    assert "**Caveat: not converged.**" in text and "cifg seed 0 (best 6 of 6)" in text
    assert "cifg and lstm are within seed noise" in text
    assert "forget gates average 0.83" in text and "is 0.99" in text
    assert "most kept to least: rnn 0.9, lstm 0.5" in text


def test_ablations_get_their_own_verdicts_and_differing_settings_are_flagged():
    runs = [*RUNS, fake_run("gru-open-reset", 0, 40.0, 2_500_000), fake_run("gru-open-reset", 1, 41.0, 2_500_000),
            {**fake_run("lstm-open-output", 0, 61.0, 3_500_000),
             "settings": {**SETTINGS, "train": {"seed": 0, "lr": 3e-3}}}]
    text = discussion(summarize(runs), FLOW, runs)
    assert "**Ablation: the GRU's reset gate.** gru beats gru-open-reset on CIDEr" in text
    assert "**Ablation: the LSTM's output gate.** lstm and lstm-open-output are within seed noise" in text
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
    assert "beats" not in text and "Gradient flow" not in text


def test_the_committed_report_is_what_its_committed_records_say():
    # results/cells.json names its records folder; the notebook rebuilds the table from it.
    root = Path(__file__).resolve().parents[2]
    results = json.loads((root / "results" / "cells.json").read_text())
    runs = read_records(root / results["records"])
    assert [r["cell"] for r in runs[:3]] == ["lstm"] * 3 and [r["seed"] for r in runs[:3]] == [0, 1, 2]
    table = summarize(runs)
    assert list(table) == list(results["summary"])
    for cell, row in table.items():
        assert row["CIDEr"] == pytest.approx(results["summary"][cell]["CIDEr"])


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
    assert f"```\ncaptioning {' '.join(argv)}\n```" in md
    assert sorted(p.name for p in records.iterdir()) == ["gru-open-reset-seed0.json", "lstm-seed0.json"]
    lstm = json.loads((records / "lstm-seed0.json").read_text())
    assert lstm["settings"]["model"]["cell"] == "lstm" and len(lstm["curves"]["val_cider"]) == lstm["epochs_run"]
    assert set(lstm["gradient_flow"]) == {"h", "c"} and len(lstm["gradient_flow"]["h"]) == 16
    assert set(lstm["gate_trace"]["gates"]) == {"forget", "input", "output"} and lstm["wall_seconds"] > 0
    results = json.loads((out / "cells.json").read_text())
    assert {"lstm", "lstm ∂c", "lstm (trained)", "lstm (trained) ∂c", "gru-open-reset",
            "gru-open-reset (trained)"} == set(results["gradient_flow"])
    assert results["recurrence"]["lstm"]["keep_gate"] == "forget"
    assert {p.name for p in out.iterdir()} == {"cells.md", "cells.json", "cells.png", "gradient_flow.png"}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    shutil.rmtree(tmp_path / "work")  # a fresh clone: records only, no checkpoints
    assert main(argv) == 0  # trains nothing and writes the same report
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
