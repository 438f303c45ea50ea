"""Issue 19: scoring never hangs. An empty split is refused before METEOR's Java child is asked,
and a child that errors or never answers is ended within its timeout."""

import gc
import shutil
import subprocess
import time

import pytest

from captioning.core.errors import InputError
from captioning.metrics import coco
from captioning.metrics.coco import meteor_score, score_captions


def test_an_empty_split_is_refused_at_once():
    with pytest.raises(InputError, match="no images to score"):
        score_captions({}, {})


class _Silent:
    """A stand-in for pycocoevalcap's Meteor whose child process never answers."""

    def __init__(self) -> None:
        self.meteor_p = subprocess.Popen(["sleep", "600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def compute_score(self, gts, res):
        return float(self.meteor_p.stdout.readline()), []


def test_a_child_that_never_answers_is_ended_after_the_timeout(monkeypatch):
    monkeypatch.setattr(coco, "Meteor", _Silent)
    started = time.monotonic()
    with pytest.raises(ChildProcessError, match=r"METEOR \(Java\) gave no answer within 1 s"):
        meteor_score({1: ["a dog"]}, {1: ["a dog"]}, timeout=1)
    assert time.monotonic() - started < 30


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_java_error_answer_fails_fast_and_cleans_up():
    """The probe's hang: an empty EVAL makes Java print 'Error: specify Meteor stats'; the
    wrapper's float() fails while holding its lock, and its __del__ then waited forever."""
    started = time.monotonic()
    with pytest.raises(ChildProcessError, match=r"METEOR \(Java\) failed \(could not convert string to float"):
        meteor_score({}, {}, timeout=120)
    gc.collect()  # pycocoevalcap's __del__ runs here: it must not deadlock
    assert time.monotonic() - started < 120
