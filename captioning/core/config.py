"""Configs are dataclasses that serialize to JSON; their fields carry the defaults and the help text.

`option(default, "help")` declares a field with its command-line metadata, so the CLI can build
its flags from the dataclass instead of declaring them again. Every config rejects unknown keys,
and every validation error is a `ConfigError` that names the field (the CLI maps it to a flag)."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import InputError
from .io import read_json, write_json

T = TypeVar("T", bound="Config")


class ConfigError(InputError):
    """A bad value for one field: `field` names it, str() is "field: problem" on one line."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           short: str | None = None, choices: typing.Sequence[str] | None = None,
           metavar: str | None = None, cli: bool = True, shortcuts: dict[str, Any] | None = None,
           factory: Any = None) -> Any:
    """A dataclass field with its help text and command-line metadata.

    flag: the flag name when it is not the field name with dashes; short: a one-letter alias;
    cli=False keeps the field off the command line; shortcuts {"sample": "sample"} add flags
    (named by the keys) that store a fixed value in this field."""
    meta = {"help": help, "flag": flag, "short": short, "choices": tuple(choices) if choices else None,
            "metavar": metavar, "cli": cli, "shortcuts": dict(shortcuts or {})}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's fields (annotations may be strings)."""
    return typing.get_type_hints(cls)


def base_type(hint: Any) -> Any:
    """int for `int | None`, tuple for `tuple[str, ...]`, the hint itself otherwise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return base_type(args[0]) if len(args) == 1 else hint
    return origin or hint


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """A JSON value as the field's type: lists become tuples, nested dicts nested configs."""
    base = base_type(hint)
    if value is None:
        return None
    if isinstance(base, type) and issubclass(base, Config) and isinstance(value, dict):
        return base.from_dict(value)
    if base is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class Config:
    """Base for config dataclasses (frozen or not): strict from_dict, to_dict, JSON files and a
    checked replace(). Subclasses validate in __post_init__ with check()."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Build from a dict; unknown keys raise a ConfigError naming them."""
        if not isinstance(data, dict):
            raise ConfigError(cls.__name__, f"expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(unknown[0], f"unknown {cls.__name__} field (known: {', '.join(sorted(names))})")
        hints = field_types(cls)
        try:
            return cls(**{k: _coerce(k, hints[k], v) for k, v in data.items()})
        except TypeError as exc:  # a required field is missing
            raise ConfigError(cls.__name__, str(exc).split(".__init__() ")[-1]) from None

    def replace(self: T, **changes: Any) -> T:
        """A copy with some fields changed (validated again); unknown names are ConfigErrors."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        try:
            return cls.from_dict(read_json(path, f"{cls.__name__} file"))
        except ConfigError as exc:
            raise InputError(f"{path}: {exc}") from None


def check(condition: bool, field: str, problem: str) -> None:
    """Raise ConfigError(field, problem) unless condition holds (for __post_init__ checks)."""
    if not condition:
        raise ConfigError(field, problem)
