"""Issue 29, items 1 and 10, in the run folder: a full disk during a folder swap frees its
half-written copy and names the real folder; staging copies count as a run; a run whose latest/
is only beside it, renamed away by a cut-off swap, can still be resumed."""

import errno

import pytest

from captioning.training import state
from captioning.training.state import RunFolder


def test_a_full_disk_while_writing_a_folder_frees_the_copy_and_names_the_folder(tmp_path):
    target = tmp_path / "latest"
    state.replace_folder(target, lambda f: (f / "a.txt").write_text("old"))

    def fill(folder):
        (folder / "big.bin").write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "optimizer.safetensors"))
    with pytest.raises(OSError) as err:
        state.replace_folder(target, fill)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target / "optimizer.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]  # no .latest.new left taking space
    assert (target / "a.txt").read_text() == "old"


@pytest.mark.parametrize("name", [".latest.new", ".best.old", "best", "latest", "metrics.jsonl"])
def test_any_trace_of_a_run_makes_a_run_folder(tmp_path, name):
    (tmp_path / name).mkdir()
    assert RunFolder(tmp_path).held() == name


def test_a_latest_renamed_away_by_a_cut_off_swap_is_resumable(tmp_path):
    (tmp_path / ".latest.old").mkdir()
    (tmp_path / ".latest.old" / "trainer.json").write_text("{}")
    assert RunFolder(tmp_path).resumable  # recover_folder brings it back first
    (tmp_path / "latest").mkdir()
    assert not RunFolder(tmp_path).resumable  # a latest/ without trainer state wins: nothing to resume
