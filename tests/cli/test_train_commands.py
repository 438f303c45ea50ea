"""compare-cells' retrain commands: one per group of cells sharing an epoch cap and a seed count."""

from captioning.cli.train_commands import retrain_commands


def record(cell, seed, cap):
    return {"cell": cell, "seed": seed, "settings": {"train": {"epochs": cap}}}


def test_each_cap_and_seed_count_gets_one_command_with_the_other_options_kept():
    runs = [record("lstm", s, 30) for s in range(5)] + [record("cifg", s, 30) for s in range(3)]
    runs += [record("gru", s, 30) for s in range(5)] + [record("rnn", s, 40) for s in range(5)]
    command = "captioning compare-cells --cells rnn --seeds 5 --epochs 40 --hidden-dim 8 --quiet"
    assert retrain_commands(runs, command) == [
        "captioning compare-cells --cells lstm gru --seeds 5 --epochs 30 --hidden-dim 8 --quiet",
        "captioning compare-cells --cells cifg --seeds 3 --epochs 30 --hidden-dim 8 --quiet",
        "captioning compare-cells --cells rnn --seeds 5 --epochs 40 --hidden-dim 8 --quiet"]


def test_a_record_without_a_cap_gets_no_epochs_option():
    runs = [{"cell": "gru", "seed": 0, "settings": {"train": {}}}]
    assert retrain_commands(runs, "captioning compare-cells --quiet") == [
        "captioning compare-cells --cells gru --seeds 1 --quiet"]
