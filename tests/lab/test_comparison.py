"""The cell comparison's summary table and its discussion, on fake run results."""

import statistics

import pytest

from captioning.lab.report import discussion, summarize
from captioning.lab.report import markdown_table as _markdown_table
from captioning.lab.report import verdict as _verdict


def fake_run(cell, seed, cider, params, seconds=60.0, epochs=6, best=4):
    return {"cell": cell, "seed": seed, "parameters": params, "train_seconds": seconds,
            "epochs_run": epochs, "best_epoch": best,
            "test": {"CIDEr": cider, "BLEU-4": cider / 4, "METEOR": 20.0 + seed, "ROUGE-L": 45.0}}


RUNS = [
    fake_run("lstm", 0, 60.0, 4_000_000, seconds=120, best=5),
    fake_run("lstm", 1, 62.0, 4_000_000, seconds=126, best=6),
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
    assert lines[0] == ("| cell | CIDEr | BLEU-4 | METEOR | ROUGE-L | parameters | s/epoch | "
                        "epochs to best val CIDEr |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert len(lines) == 5 and all(line.count("|") == 9 for line in lines)
    assert lines[2] == "| lstm | 62.0 ± 2.0 | 15.5 ± 0.5 | 21.0 ± 1.0 | 45.0 ± 0.0 | 4,000,000 | 21 | 5.0 ± 1.0 |"
    assert lines[3].startswith("| gru | 51.0 ± 1.4 |") and "3,000,000" in lines[3]
    assert lines[4].startswith("| rnn | 30.0 ± 0.0 |")


def test_verdict_judges_against_seed_noise():
    table = summarize(RUNS)
    assert _verdict("lstm", "gru", table) == "lstm beats gru on CIDEr (62.0 vs 51.0)"
    assert _verdict("gru", "lstm", table) == "lstm beats gru on CIDEr (62.0 vs 51.0)"
    close = summarize([fake_run("a", 0, 50.0, 1), fake_run("a", 1, 54.0, 1),
                       fake_run("b", 0, 51.0, 1), fake_run("b", 1, 53.0, 1)])
    assert "within seed noise" in _verdict("a", "b", close)


def test_discussion_covers_the_three_gates_with_the_numbers():
    text = discussion(summarize(RUNS), FLOW)
    lower = text.lower()
    for phrase in ("reset gate", "update gate", "output gate"):
        assert phrase in lower
    assert "lstm beats gru on CIDEr (62.0 vs 51.0)" in text
    assert "0.75× the LSTM's parameters" in text          # 3M / 4M
    assert "18 s/epoch vs the LSTM's 21 s/epoch" in text   # gru: 18.0 and 18.4 s per epoch
    assert "3.0 vs 5.0 epochs" in text
    assert "lstm beats rnn on CIDEr (62.0 vs 30.0)" in text
    assert "4.00e-03" in text and "7.00e-01" in text and "After 3 words" in text
    assert "cifg beats" not in text and "cifg and lstm" not in text  # no cifg runs, no cifg verdict


def test_discussion_only_states_what_was_measured():
    only = summarize([r for r in RUNS if r["cell"] == "lstm"])
    assert discussion(only, {}) == ""
    with_cifg = summarize([*RUNS, fake_run("cifg", 0, 61.0, 3_500_000)])
    assert "cifg and lstm are within seed noise" in discussion(with_cifg, {})
