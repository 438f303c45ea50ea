"""Our PTB tokenizer call matches pycocoevalcap's wrapper and leaves the process's stderr alone."""

import os
import threading

import pytest
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from captioning.metrics.ptb import ptb_tokenize

CAPTIONS = {1: ["A man's hat, on a table.", "Two dogs -- running!"], "b": ["A T-shirt (red) ... and (blue)?"],
            3: ["don't stop; keep going", "Ünïcode café"]}


def test_matches_pycocoevalcaps_tokenizer():
    theirs = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in CAPTIONS.items()})
    assert ptb_tokenize(CAPTIONS) == theirs


def test_empty_input():
    assert ptb_tokenize({}) == {}
    assert ptb_tokenize({1: []}) == {1: []}


def test_other_threads_keep_writing_to_stderr(capfd):
    """The Java process's stderr goes to /dev/null through its own pipe, not by redirecting fd 2,
    so a message another thread writes meanwhile still arrives."""
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            os.write(2, b"still here\n")
            stop.wait(0.01)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        ptb_tokenize(CAPTIONS)
    finally:
        stop.set()
        thread.join()
    err = capfd.readouterr().err
    assert "still here" in err and "PTBTokenizer" not in err and "tokens at" not in err


def test_java_failure_is_one_line(monkeypatch):
    import subprocess

    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: real(["false"], **kw))
    with pytest.raises(RuntimeError, match=r"PTB tokenizer .* failed with exit code 1"):
        ptb_tokenize(CAPTIONS)
