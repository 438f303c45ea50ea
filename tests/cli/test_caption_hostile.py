"""Issue 19 on `captioning caption`: figures never replace a user's file, resume does not depend on
how a path is spelled, odd file names keep JSON valid, and a full or read-only disk ends in one
line with exit code 3, keeping what was written."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import shutil
from pathlib import Path

import pytest
from PIL import Image

from captioning.cli import exit_codes
from captioning.tools import outputs
from tests.cli.conftest import one_line, run

pytestmark = pytest.mark.usefixtures("reuse_captioner")  # in-process runs share one captioner


def test_grid_over_an_input_photo_is_refused_and_the_photo_kept(folder: Path) -> None:
    before = (folder / "a.jpg").read_bytes()
    rc, _, err = run(folder, "--grid", folder / "a.jpg", "-q")
    assert rc == exit_codes.USAGE_ERROR
    assert one_line(err).startswith(f"captioning: error: --grid: {folder / 'a.jpg'} is one of the input images")
    assert (folder / "a.jpg").read_bytes() == before


@pytest.mark.parametrize(("name", "problem"), [("notes.json", "a grid is a PNG or JPEG image"),
                                               ("paper.pdf", "a grid is a PNG or JPEG image"),
                                               ("notes.png", "exists and is not a PNG image")])
def test_grid_over_another_kind_of_file_is_refused_unless_forced(folder: Path, tmp_path: Path, name, problem):
    target = tmp_path / name
    target.write_text("the user's own words")
    rc, _, err = run(folder, "--grid", target, "-q")
    assert rc == exit_codes.USAGE_ERROR and problem in one_line(err) and "--grid" in err
    assert target.read_text() == "the user's own words"
    if name.endswith(".png"):
        rc, _, err = run(folder, "--grid", target, "--force", "-q")
        assert rc == 0, err
        with Image.open(target) as image:
            assert image.format == "PNG"


def test_overlays_into_the_input_folder_never_replace_a_photo(folder: Path) -> None:
    before = (folder / "b.png").read_bytes()
    rc, _, err = run(folder, "--overlay", folder, "-q")  # b.png's overlay would be b.png itself
    assert rc == exit_codes.USAGE_ERROR and f"--overlay: {folder / 'b.png'} is one of the input images" in err
    assert (folder / "b.png").read_bytes() == before


def test_rerun_with_grid_inside_the_inputs_replaces_only_its_own_grid(folder: Path) -> None:
    grid = folder / "grid.png"
    for _ in range(2):
        rc, _, err = run(folder, "--grid", grid, "-q")
        assert rc == 0 and "captioned 3 images, skipped 0" in err  # the grid is never an input


def test_output_folder_is_named_as_a_folder(folder: Path, tmp_path: Path) -> None:
    for output in (f"{tmp_path / 'new'}/", str(tmp_path)):
        rc, _, err = run(folder, "-o", output, "-q")
        assert rc == exit_codes.USAGE_ERROR and "--output" in err and "is a folder" in one_line(err)


def test_resume_is_keyed_on_the_resolved_path(folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(folder.parent)
    output = tmp_path / "captions.jsonl"
    assert run("photos", "-o", output, "-q")[0] == 0
    rc, _, err = run(folder.resolve(), "-o", output, "-q")
    assert rc == 0 and "captioned 0 images, skipped 0, resumed 3" in err
    assert len(output.read_text().splitlines()) == 3


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_an_undecodable_file_name_keeps_json_valid(folder: Path, tmp_path: Path, fmt: str) -> None:
    odd = folder / os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not UTF-8
    shutil.copy(folder / "a.jpg", odd)
    output = tmp_path / f"captions.{fmt}"
    assert run(folder, "-o", output, "-q")[0] == 0
    text = output.read_bytes().decode("utf-8")  # strict: the file is valid UTF-8
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert sorted(os.fsencode(r["image"]) for r in records) == sorted(os.fsencode(p) for p in folder.iterdir())
    rc, _, err = run(folder, "-o", output, "-q")  # and the name still resumes
    assert rc == 0 and "resumed 4" in err


class _FullDisk:
    """A text file whose writes fail as on a full disk, after the first `room` writes."""

    def __init__(self, path, *args, room: int = 0, **kwargs) -> None:
        self.file, self.room = open(path, *args, **kwargs), room  # noqa: SIM115

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self.file.write(text)

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_full_disk_while_streaming_exits_3_and_keeps_the_lines_written(folder, tmp_path, monkeypatch):
    output = tmp_path / "captions.jsonl"
    monkeypatch.setattr(outputs, "open", lambda *a, **k: _FullDisk(*a, room=1, **k), raising=False)
    rc, _, err = run(folder, "-o", output, "-q", batch=1)
    assert rc == exit_codes.SYSTEM_ERROR
    assert one_line(err).startswith(f"captioning: error: {output}: No space left on device")
    assert len(output.read_text().splitlines()) == 1  # the first batch is kept
    monkeypatch.undo()
    rc, _, err = run(folder, "-o", output, "-q", batch=1)  # space freed: the rerun resumes
    assert rc == 0 and "captioned 2 images, skipped 0, resumed 1" in err


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS])
def test_failed_final_write_keeps_the_old_file_and_the_records(folder, tmp_path, monkeypatch, number):
    output = tmp_path / "captions.json"
    output.write_text("[]\n")
    write_text = pathlib.Path.write_text

    def refuse(self, *args, **kwargs):
        if self.name.startswith(f".{output.name}.") and self.name.endswith(".tmp"):
            raise OSError(number, os.strerror(number))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", refuse)
    rc, _, err = run(folder, "-o", output, "-q")
    assert rc == exit_codes.SYSTEM_ERROR
    assert one_line(err) == f"captioning: error: {output}: {os.strerror(number)}" + (
        " (free some space and rerun: finished outputs are kept and the run resumes)" * (number == errno.ENOSPC))
    assert output.read_text() == "[]\n" and outputs.sidecar_path(output).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    rc, _, err = run(folder, "-o", output, "-q")
    assert rc == 0 and "resumed 3" in err and len(json.loads(output.read_text())) == 3
