"""Atomic writes: all or nothing, normal permissions, and the process umask never touched."""

import os
import stat
import threading

import pytest

from captioning.core import io


def test_atomic_write_gives_the_umask_permissions_without_reading_the_umask(tmp_path, monkeypatch):
    before = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("atomic_write changed the umask"))
        path = io.atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    finally:
        monkeypatch.undo()
        os.umask(before)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 & ~0o027


def test_a_failed_write_leaves_nothing_behind_and_keeps_the_old_file(tmp_path):
    path = io.atomic_write_text(tmp_path / "x.txt", "old")

    def broken(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(path, broken)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_concurrent_writers_never_share_a_temp_file(tmp_path):
    target = tmp_path / "x.json"
    threads = [threading.Thread(target=io.write_json, args=(target, {"n": i})) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert io.read_json(target)["n"] in range(16)
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_read_json_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.json: no such thing"):
        io.read_json(tmp_path / "nope.json", "thing")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match=r"bad\.json: cannot read JSON file"):
        io.read_json(tmp_path / "bad.json")
