"""Issue 29 on `captioning caption`'s outputs: resume from another folder, special files and
`-o -`, figures over a user's own PNG, long names, symlinked outputs, changed decoding settings
and too many workers. Each refusal is one line with exit code 2 and leaves the user's files
byte-identical; nothing may hang (an alarm turns a hang into a failure)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from captioning.cli import exit_codes
from captioning.cli.main import main
from captioning.features import config as features_config
from captioning.render.captions import show_caption
from captioning.render.layout import save_figure
from captioning.tools import outputs
from tests.cli.conftest import one_line, picture, run

REFUSED = exit_codes.USAGE_ERROR
pytestmark = pytest.mark.usefixtures("reuse_captioner")  # in-process runs share one captioner


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A run that blocks (on a FIFO, say) fails after 60 s instead of hanging the suite."""
    def hung(*_):
        raise TimeoutError("the run hung")

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- item 2: resume from another working directory ----

@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_resume_from_another_folder_skips_what_is_done(folder: Path, monkeypatch, fmt: str) -> None:
    monkeypatch.chdir(folder)
    assert run("a.jpg", "b.png", "-o", f"out.{fmt}", "-q")[0] == 0
    monkeypatch.chdir(folder.parent)
    rc, _, err = run("photos", "-o", f"photos/out.{fmt}", "-q")
    assert rc == 0 and "captioned 1 images, skipped 0, resumed 2" in err, err
    records = outputs.read_records(folder / f"out.{fmt}", fmt)
    assert sorted(r["image"] for r in records) == ["a.jpg", "b.png", "photos/c.jpg"]  # as typed


def test_records_without_absolute_paths_still_resume_from_their_folder(folder: Path, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    (folder / "out.jsonl").write_text(json.dumps({"image": "a.jpg", "caption": "x", "logprob": -1.0}) + "\n")
    rc, _, err = run(".", "-o", "out.jsonl", "-q")
    assert rc == 0 and "captioned 2 images, skipped 0, resumed 1" in err, err


# ---- item 5: special files and standard output ----

def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


def _char_device(path: Path) -> Path:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's numbers
    except PermissionError:
        pytest.skip("mknod needs root")
    return path


@pytest.mark.parametrize(("make", "kind"), [(_fifo, "a FIFO (named pipe)"), (_socket, "a socket"),
                                            (_char_device, "a character device")])
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_output_that_is_a_special_file_is_refused(folder: Path, tmp_path: Path, make, kind: str,
                                                   fmt: str) -> None:
    target = make(tmp_path / f"special.{fmt}")
    rc, out, err = run(folder, "-o", target, "-q")
    assert rc == REFUSED and out == ""
    assert one_line(err) == (f"captioning: error: --output: {target}: the captions file is {kind}, not a "
                              "regular file (for standard output, give - as the output)")
    assert not outputs.sidecar_path(target).exists()


def test_link_to_a_special_file_is_refused_too(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.jsonl"
    link.symlink_to(_fifo(tmp_path / "fifo"))
    rc, _, err = run(folder, "-o", link, "-q")
    assert rc == REFUSED and "is a FIFO (named pipe), not a regular file" in one_line(err)
    assert link.is_symlink()


def test_dev_stdout_is_refused_whatever_stdout_is(folder: Path) -> None:
    rc, out, err = run(folder, "-o", "/dev/stdout", "--format", "jsonl", "-q")  # here a file: pytest's capture
    assert rc == REFUSED and out == ""
    assert one_line(err).startswith("captioning: error: --output: /dev/stdout: the captions file is ")
    assert "for standard output, give - as the output" in err


class _Stdout(io.TextIOWrapper):
    """A text stdout over bytes, as the console's (with .buffer), whose bytes the test reads."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def text(self) -> str:
        return self.buffer.getvalue().decode("utf-8")


def _run_to_stdout(*args: str | Path) -> tuple[int, str, str]:
    out, err = _Stdout(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["caption", *map(str, args), "--checkpoint", "unused", "--device", "cpu"])
    return rc, out.text(), err.getvalue()


def test_dash_writes_jsonl_to_stdout_and_nothing_else(folder: Path, tmp_path: Path) -> None:
    odd = folder / os.fsdecode(b"caf\xe9.jpg")  # not UTF-8: still valid JSON on stdout
    picture(5).save(odd, format="JPEG")
    for _ in range(2):  # no resume: each run writes every record
        rc, out, err = _run_to_stdout(folder, "-o", "-")
        assert rc == 0, err
        records = [json.loads(line) for line in out.splitlines()]
        assert sorted(os.fsencode(r["image"]) for r in records) == sorted(os.fsencode(p) for p in folder.iterdir())
        assert "captioned 4 images, skipped 0" in err and "resumed" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_dash_takes_jsonl_only(folder: Path) -> None:
    rc, out, err = _run_to_stdout(folder, "-o", "-", "--format", "json")
    assert rc == REFUSED and out == ""
    assert one_line(err) == "captioning: error: --format: the output - (standard output) takes JSONL only, not json"


# ---- item 8: figures never replace a user's own PNG ----

def test_grid_over_a_users_png_is_refused_unless_forced(folder: Path, tmp_path: Path) -> None:
    photo = tmp_path / "myphoto.png"
    picture(9).save(photo)
    before = photo.read_bytes()
    rc, _, err = run(folder, "--grid", photo, "-o", tmp_path / "out.jsonl", "-q")
    assert rc == REFUSED
    assert one_line(err).startswith(f"captioning: error: --grid: {photo} was not made by captioning")
    assert photo.read_bytes() == before and not (tmp_path / "out.jsonl").exists()
    rc, _, err = run(folder, "--grid", photo, "--force", "-q")
    assert rc == 0, err
    assert photo.read_bytes() != before


def test_overlay_over_a_users_png_is_refused_before_any_work(folder: Path, tmp_path: Path) -> None:
    overlays = tmp_path / "ov"
    overlays.mkdir()
    picture(9).save(overlays / "a.png")
    before = (overlays / "a.png").read_bytes()
    rc, out, err = run(folder, "--overlay", overlays, "-o", tmp_path / "out.jsonl")
    assert rc == REFUSED and out == ""
    assert one_line(err).startswith(f"captioning: error: --overlay: {overlays / 'a.png'} was not made by captioning")
    assert sorted(p.name for p in overlays.iterdir()) == ["a.png"] and (overlays / "a.png").read_bytes() == before
    assert not (tmp_path / "out.jsonl").exists()


def test_our_own_figure_is_still_replaced(folder: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    save_figure(show_caption(picture(1), "an earlier grid"), grid)
    before = grid.read_bytes()
    assert run(folder, "--grid", grid, "-q")[0] == 0 and grid.read_bytes() != before


# ---- item 9: long names ----

@pytest.mark.parametrize("suffix", [".json", ".csv", ".jsonl"])
def test_a_250_byte_output_name_works_and_resumes(folder: Path, tmp_path: Path, suffix: str) -> None:
    output = tmp_path / ("n" * (250 - len(suffix)) + suffix)
    assert len(output.name.encode()) == 250
    rc, _, err = run(folder, "-o", output, "-q")
    assert rc == 0, err
    assert len(outputs.read_records(output, suffix[1:])) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["photos", output.name])
    rc, _, err = run(folder, "-o", output, "-q")
    assert rc == 0 and "resumed 3" in err


def test_a_long_sidecar_name_is_short_unique_and_stable(tmp_path: Path) -> None:
    a, b = tmp_path / ("x" * 245 + "a.json"), tmp_path / ("x" * 245 + "b.json")
    names = [outputs.sidecar_path(p).name for p in (a, b)]
    assert all(len(n.encode()) <= 255 and n.startswith(".xxx") for n in names)
    assert names[0] != names[1] and outputs.sidecar_path(a).name == names[0]
    short = tmp_path / "captions.json"
    assert outputs.sidecar_path(short).name == ".captions.json.partial.jsonl"  # unchanged where it fits


def test_an_image_with_a_251_character_name_gets_its_overlay(folder: Path, tmp_path: Path) -> None:
    long = [folder / ("p" * 247 + ".jpg"), folder / ("é" * 125 + ".jpg"),
            folder / ("q" * 251 + ".jpg"), folder / ("q" * 251 + ".gif")]  # these two: q...q.jpg.png
    for i, path in enumerate(long):
        picture(10 + i).save(path, format="GIF" if path.suffix == ".gif" else "JPEG")
    overlays = tmp_path / "ov"
    for _ in range(2):  # and a rerun replaces its own overlays
        rc, _, err = run(folder, "--overlay", overlays, "-q")
        assert rc == 0, err
        names = sorted(p.name for p in overlays.iterdir())
        assert len(names) == 7 and all(len(n.encode()) <= 255 and n.endswith(".png") for n in names)
        assert not [n for n in names if n.startswith(".")]


# ---- item 10: symlinked outputs and changed decoding settings ----

@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_a_dangling_output_link_is_replaced_not_written_through(folder: Path, tmp_path: Path, fmt: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / f"out.{fmt}"
    link.symlink_to(elsewhere / f"target.{fmt}")
    assert run(folder, "-o", link, "-q")[0] == 0
    assert not link.is_symlink() and len(outputs.read_records(link, fmt)) == 3
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_link_to_earlier_captions_resumes_and_leaves_them_alone(folder: Path, tmp_path: Path, fmt: str) -> None:
    earlier = tmp_path / f"earlier.{fmt}"
    assert run(folder / "a.jpg", "-o", earlier, "-q")[0] == 0
    before = earlier.read_bytes()
    link = tmp_path / f"out.{fmt}"
    link.symlink_to(earlier)
    rc, _, err = run(folder, "-o", link, "-q")
    assert rc == 0 and "resumed 1" in err
    assert earlier.read_bytes() == before
    assert not link.is_symlink() and len(outputs.read_records(link, fmt)) == 3


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_resume_with_other_decoding_settings_is_refused(folder: Path, tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"out.{fmt}"
    assert run(folder / "a.jpg", "-o", output, "-q")[0] == 0
    before = output.read_bytes()
    rc, out, err = run(folder, "-o", output, "--max-len", "5", "--block-trigrams", "-q")
    assert rc == REFUSED and out == ""
    line = one_line(err)
    assert line.startswith(f"captioning: error: --output: {output} holds captions made with other decoding settings")
    assert "--max-len 8 (now 5)" in line and "--block-trigrams off (now on)" in line and "--force" in line
    assert "--beam" not in line
    assert output.read_bytes() == before and not outputs.sidecar_path(output).exists()
    rc, _, err = run(folder, "-o", output, "-q")  # the same settings resume
    assert rc == 0 and "resumed 1" in err


def test_forced_resume_with_other_settings_keeps_each_records_settings(folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    assert run(folder / "a.jpg", "-o", output, "-q")[0] == 0
    rc, _, err = run(folder, "-o", output, "--max-len", "5", "--force", "-q")
    assert rc == 0 and "resumed 1" in err
    assert sorted(r["decoding"]["max_len"] for r in _lines(output)) == [5, 5, 8]


# ---- item 10 (workers): too many workers ----

def test_too_many_workers_are_capped_at_the_cpu_count(folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(features_config, "_CAPPED", set())  # said once per process
    rc, _, err = run(folder, "--workers", "1000", "-q")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    notice = f"workers: 1000 is more than the {cores} CPU cores here; using {cores}"
    assert rc == 0 and err.splitlines().count(notice) == 1, err

