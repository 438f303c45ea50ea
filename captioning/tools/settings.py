"""Each caption record names the decoding settings that made it, so a resumed output never mixes
captions made in different ways without saying so: a rerun with other settings is refused, naming
each setting that differs, unless forced (and then every record still names its own)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core.config import ConfigError

_MISSING = object()


def _shown(value: Any) -> str:
    """A setting's value as a person reads it: on/off, unset, not recorded, or the number."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return "unset" if value is None else "not recorded" if value is _MISSING else json.dumps(value)


def settings_changes(earlier: Iterable[Mapping[str, Any]], now: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{setting: (earlier value, value now)} for every setting an earlier record's decoding gives
    differently from `now` (a setting one side lacks counts as different), in `now`'s order."""
    changes: dict[str, tuple[Any, Any]] = {}
    for before in earlier:
        for name in [*now, *(k for k in before if k not in now)]:
            old, new = before.get(name, _MISSING), now.get(name, _MISSING)
            if old != new and name not in changes:
                changes[name] = (old, new)
    order = {name: i for i, name in enumerate(now)}
    return dict(sorted(changes.items(), key=lambda item: order.get(item[0], len(order))))


def distinct(settings: dict[str, Mapping[str, Any]], record: Mapping[str, Any]) -> None:
    """Add a record's decoding settings (when it has them) to `settings`, keyed by their JSON."""
    decoding = record.get("decoding")
    if isinstance(decoding, dict):
        settings.setdefault(json.dumps(decoding, sort_keys=True), decoding)


class SettingsChanged(ConfigError):
    """An output holds captions made with other decoding settings than this run's."""

    def __init__(self, path: str | Path, changes: dict[str, tuple[Any, Any]]) -> None:
        self.path, self.changes = path, changes
        super().__init__("output", self.describe())

    def describe(self, name: Callable[[str], str] = str, output: str = "output file",
                 force: str = "force=True") -> str:
        """The problem in one line; `name` spells each setting (the CLI gives its flag)."""
        what = ", ".join(f"{name(k)} {_shown(old)} (now {_shown(new)})" for k, (old, new) in self.changes.items())
        return (f"{self.path} holds captions made with other decoding settings: {what}; "
                f"give another {output}, or {force} to add to it")
