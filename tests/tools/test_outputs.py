"""Caption files' building blocks (issue 29): resume keys, settings compared record by record,
long derived names."""

from __future__ import annotations

import os

from captioning.tools import outputs
from captioning.tools.settings import SettingsChanged, settings_changes


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
