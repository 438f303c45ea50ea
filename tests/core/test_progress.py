"""Progress off a terminal (a log file, a pipe, torchrun): a few plain lines, no carriage returns."""

import logging

from captioning.core import progress


def test_off_a_terminal_progress_is_a_few_plain_lines(caplog, monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="captioning.progress"):
        assert list(progress.progress_bar(range(10), "epoch 1", unit="steps")) == list(range(10))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["epoch 1: 3/10 steps", "epoch 1: 6/10 steps", "epoch 1: 9/10 steps"]
    assert not any("\r" in line for line in lines)


def test_disabled_progress_says_nothing(caplog, monkeypatch, capsys):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    with caplog.at_level(logging.INFO, logger="captioning.progress"):
        list(progress.progress_bar(range(5), "quiet", enabled=False))
    assert not caplog.records and capsys.readouterr().err == ""


def test_on_a_terminal_it_is_a_bar(monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    with progress.counter(3, "bar") as count:
        assert hasattr(count, "format_dict")  # tqdm
