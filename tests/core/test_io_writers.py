"""core.io's guards for issue 29: a safetensors write the system refuses is an OSError naming the
file (items 1), and what is not a regular file is refused before it is opened (item 5)."""

import errno
import os

import pytest
import torch
from safetensors import SafetensorError
from safetensors import torch as safetensors_torch
from safetensors.torch import load_file

from captioning.core.errors import InputError
from captioning.core.io import read_json, regular_file, save_tensors, writer_os_error


@pytest.mark.parametrize(("text", "code"), [
    ("Error while serializing: I/O error: No space left on device (os error 28)", errno.ENOSPC),  # 0.4 and later
    ('Error while serializing: IoError(Os { code: 30, kind: ReadOnlyFilesystem, message: "Read-only" })', errno.EROFS),
    ("Error while serializing: I/O error: something odd", errno.EIO),
])
def test_a_writers_system_error_becomes_an_os_error_naming_the_file(text, code):
    error = writer_os_error(SafetensorError(text), "run/latest/model.safetensors")
    assert isinstance(error, OSError) and error.errno == code and error.filename == "run/latest/model.safetensors"
    assert error.strerror == (os.strerror(code) if code != errno.EIO else "Error while serializing: I/O error: "
                                                                        "something odd")


def test_other_writer_errors_stay_what_they_are():
    assert writer_os_error(SafetensorError("You are trying to save a non contiguous tensor"), "x") is None


def test_save_tensors_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_tensors(path, {"w": torch.ones(3)})
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    monkeypatch.setattr(safetensors_torch, "serialize_file", full)
    with pytest.raises(OSError) as err:
        save_tensors(path, {"w": torch.zeros(3)})
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]
    monkeypatch.undo()
    assert torch.equal(load_file(path)["w"], torch.ones(3))


def test_a_bug_in_what_is_saved_is_not_a_system_error(tmp_path):
    with pytest.raises((SafetensorError, ValueError, TypeError)):
        save_tensors(tmp_path / "x.safetensors", {"w": "not a tensor"})
    assert not list(tmp_path.iterdir())


def test_regular_file_refuses_what_is_not_one_before_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(InputError, match=r"pipe\.json: the dataset file is a FIFO \(named pipe\), not a regular file"):
        read_json(tmp_path / "pipe.json", "dataset file")
    with pytest.raises(InputError, match="is a directory, not a regular file"):
        regular_file(tmp_path, "cache")
    (tmp_path / "link.json").symlink_to("/dev/null")
    with pytest.raises(InputError, match="is a character device"):
        regular_file(tmp_path / "link.json")
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "good.json").symlink_to("real.json")
    assert read_json(tmp_path / "good.json") == {}
    assert regular_file(tmp_path / "missing.json") == tmp_path / "missing.json"  # its reader says it is missing
    with pytest.raises(InputError, match="no such JSON file"):
        read_json(tmp_path / "missing.json")
