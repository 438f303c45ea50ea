"""Caption files' building blocks (issue 29): resume keys, settings compared record by record,
long derived names, and standard output as a log that a closed pipe ends in one system error."""

from __future__ import annotations

import errno
import io
import os
import sys

import pytest

from captioning.tools import outputs
from captioning.tools.settings import SettingsChanged, settings_changes
from captioning.tools.stdout import StdoutLog


def test_a_record_is_found_by_its_absolute_path_from_any_folder(tmp_path, monkeypatch):
    (tmp_path / "a.jpg").touch()
    record = {"image": "a.jpg", "path": str(tmp_path / "a.jpg")}
    monkeypatch.chdir("/")
    assert outputs.record_key(record) == os.path.realpath(tmp_path / "a.jpg")
    old = {"image": "a.jpg"}  # written before records held "path": read against the current folder
    monkeypatch.chdir(tmp_path)
    assert outputs.record_key(old) == os.path.realpath(tmp_path / "a.jpg")


def test_settings_that_differ_are_named_once_each():
    now = {"num_beams": 3, "max_len": 20, "seed": None}
    earlier = [{"num_beams": 3, "max_len": 16, "seed": None}, {"num_beams": 5, "max_len": 16},
               {"num_beams": 3, "max_len": 20, "seed": None}]
    changes = settings_changes(earlier, now)
    assert list(changes) == ["num_beams", "max_len", "seed"]
    assert changes["max_len"] == (16, 20) and changes["num_beams"] == (5, 3)
    assert settings_changes(earlier[2:], now) == {} and settings_changes([], now) == {}
    line = SettingsChanged("out.jsonl", changes).describe()
    assert "num_beams 5 (now 3), max_len 16 (now 20), seed not recorded (now unset)" in line
    assert "\n" not in line and "force=True" in line


def test_long_sidecar_names_keep_whole_characters(tmp_path):
    output = tmp_path / ("é" * 120 + ".json")  # 245 bytes: its sidecar would need 261
    name = outputs.sidecar_path(output).name
    assert len(name.encode()) <= 255 and name.endswith(".partial.jsonl")
    assert name.encode().decode("utf-8").startswith(".ééé")  # cut between characters, not inside one


def test_a_closed_pipe_on_standard_output_is_one_system_error(monkeypatch):
    read, write = os.pipe()
    os.close(read)  # the reader (`| head`) went away
    pipe = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write, "w")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", pipe)
    log = StdoutLog()
    with pytest.raises(OSError) as caught:
        log.write('{"image": "a.jpg"}\n')
        log.flush()
    assert caught.value.errno == errno.EPIPE and caught.value.filename == "standard output"
    pipe.write("more")
    pipe.close()  # quiet: the descriptor now points at /dev/null


def test_standard_output_gets_utf8_with_undecodable_names_escaped(monkeypatch):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # a console that cannot print é
    monkeypatch.setattr(sys, "stdout", out)
    StdoutLog().write('{"image": "caf\udce9 \u00e9.jpg"}\n')
    out.flush()
    assert out.buffer.getvalue() == '{"image": "caf\\udce9 é.jpg"}\n'.encode()
