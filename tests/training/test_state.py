"""Run folders: best/ and latest/ are written whole, so a save cut off at any file (a crash, a
full disk) leaves the previous checkpoint, and --resume then finishes the run as if nothing
happened. The loop's counters and its early-stopping rule."""

import errno
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from captioning.decoder.checkpoint import Checkpoint
from captioning.training import state
from captioning.training.state import LoopState, RunFolder, read_metrics

from .test_loop import run

pytestmark = pytest.mark.usefixtures("core_one_thread")


class CutOff:
    """os.replace and os.rename (every file and folder a save commits) fail from the n-th call on."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.real = n, 0, (os.replace, os.rename)

    def __call__(self, real):
        def wrapped(src, dst, *args, **kwargs):
            self.calls += 1
            if self.calls >= self.n:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
            return real(src, dst, *args, **kwargs)
        return wrapped


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_a_save_cut_off_at_every_file_leaves_a_whole_latest_and_resume_finishes_the_run(tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    run(straight, epochs=2)
    first = tmp_path / "first"
    run(first, epochs=1)
    n, cut_offs = 1, 0
    while True:
        out = tmp_path / f"cut-{n}"
        shutil.copytree(first, out)
        cut = CutOff(n)
        with monkeypatch.context() as mp:
            mp.setattr(os, "replace", cut(os.replace))
            mp.setattr(os, "rename", cut(os.rename))
            try:
                run(out, epochs=2, resume=True)
            except OSError:
                cut_offs += 1
            else:
                break
        for name in ("best", "latest"):  # what a resume does first: undo a swap cut between its renames
            state.recover_folder(out / name)
        latest = Checkpoint.load(out / "latest")  # whole: config, weights and trainer state agree
        trainer = json.loads((out / "latest" / "trainer.json").read_text())
        assert latest.training["epoch"] == trainer["epoch"] in (1, 2), n
        run(out, epochs=2, resume=True)
        for name in ("latest", "best"):
            a, b = weights(straight / name), weights(out / name)
            assert all(torch.equal(a[k], b[k]) for k in a), (n, name)
        strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
        assert strip(read_metrics(out)) == strip(read_metrics(straight)), n
        assert sorted(p.name for p in out.iterdir()) == ["best", "latest", "metrics.jsonl"], n
        n += 1
    assert cut_offs >= 8  # best/ and latest/ files and folder swaps, and metrics.jsonl


def test_a_folder_swap_cut_between_its_renames_is_undone(tmp_path):
    target = tmp_path / "latest"
    state.replace_folder(target, lambda f: (f / "a.txt").write_text("old"))
    os.rename(target, tmp_path / ".latest.old")  # the state after the first rename of the next swap
    (tmp_path / ".latest.new").mkdir()
    (tmp_path / ".latest.new" / "a.txt").write_text("half")
    state.recover_folder(target)
    assert (target / "a.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_loop_state_counts_epochs_and_stops_after_patience():
    loop_state = LoopState()
    assert not loop_state.stale(0)  # nothing scored yet: always train
    assert loop_state.count({"epoch": 1, "val_cider": 10.0, "seconds": 2.0})
    assert not loop_state.count({"epoch": 2, "val_cider": 9.0, "seconds": 3.0})
    assert (loop_state.epoch, loop_state.best_epoch, loop_state.best_cider, loop_state.seconds) == (2, 1, 10.0, 5.0)
    assert loop_state.stale(1) and not loop_state.stale(2)


def test_held_names_what_makes_a_run_folder(tmp_path):
    assert RunFolder(tmp_path / "new").held() is None
    (tmp_path / "metrics.jsonl").write_text("")
    assert RunFolder(tmp_path).held() == "metrics.jsonl"
