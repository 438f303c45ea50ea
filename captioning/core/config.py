"""Configs are dataclasses that serialize to JSON; their fields carry the defaults and the help text.

`option(default, "help")` declares a field with its command-line metadata, so the CLI can build
its flags from the dataclass instead of declaring them again. Every config rejects unknown keys,
and every validation error is a `ConfigError` that names the field (the CLI maps it to a flag).
Before a config's own checks run, each number is checked against its field's type and bounds
(`field_value`): an int field takes an integer (not 3.5, not True) that fits in int64, a float
field a finite number."""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import InputError
from .io import read_json, write_json

T = TypeVar("T", bound="Config")
Bounds = tuple[float | None, float | None]
INT_RANGE = (-(2**63), 2**63 - 1)  # what an int64 holds (torch, numpy); a larger int overflows there
SEED_RANGE = (0, 2**32 - 1)  # seeds every generator takes (torch, numpy, random), with room to derive more


class ConfigError(InputError):
    """A bad value for one field: `field` names it, str() is "field: problem" on one line."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           short: str | None = None, choices: typing.Sequence[str] | None = None,
           metavar: str | None = None, cli: bool = True, shortcuts: dict[str, Any] | None = None,
           factory: Any = None, bounds: Bounds | None = None) -> Any:
    """A dataclass field with its help text and command-line metadata.

    flag: the flag name when it is not the field name with dashes; short: a one-letter alias;
    cli=False keeps the field off the command line; shortcuts {"sample": "sample"} add flags
    (named by the keys) that store a fixed value in this field; bounds (low, high), inclusive,
    None for no bound, limit a number (checked by field_value, also as the flag is parsed)."""
    meta = {"help": help, "flag": flag, "short": short, "choices": tuple(choices) if choices else None,
            "metavar": metavar, "cli": cli, "shortcuts": dict(shortcuts or {}), "bounds": bounds}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@functools.cache
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
    return value


def _show(x: float) -> str:
    """A number for a message: 1,000,000 or 1e+308; an int past int64 by its size (str() of a huge
    int is slow, and refused beyond 4,300 digits)."""
    if isinstance(x, int) and x.bit_length() > 64:
        return f"{'a negative' if x < 0 else 'an'} integer of about {int(x.bit_length() * math.log10(2)) + 1} digits"
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _number(field: dataclasses.Field, hint: Any, value: Any, label: str) -> Any:
    """value as the int or float field's type, within its bounds (ConfigError(label) if not);
    any other field's value as it is."""
    base = base_type(hint)
    if base not in (int, float):
        return value
    kind = "an integer" if base is int else "a number"
    if value is None:
        check(type(None) in typing.get_args(hint), label, f"must be {kind}, got None")
        return None
    check(isinstance(value, numbers.Integral if base is int else numbers.Real) and not isinstance(value, bool),
          label, f"must be {kind}, got {value!r}")
    try:
        value = base(value)
    except OverflowError:  # an int too large for a float
        raise ConfigError(label, f"must be a finite number, got {_show(value)}") from None
    low, high = field.metadata.get("bounds") or (None, None)
    if base is float:
        check(math.isfinite(value), label, f"must be a finite number, got {value}")
    else:  # and fit in an int64
        low = INT_RANGE[0] if low is None else max(low, INT_RANGE[0])
        high = INT_RANGE[1] if high is None else min(high, INT_RANGE[1])
    if low is not None and value < low:
        raise ConfigError(label, f"must be >= {_show(low)}, got {_show(value)}")
    if high is not None and value > high:
        raise ConfigError(label, f"must be at most {_show(high)}, got {_show(value)}")
    return value


def field_value(cls: type, name: str, value: Any, label: str | None = None) -> Any:
    """value checked against the field `name` of config class cls: an int field takes an integer
    (int or numpy's, not a bool or 3.5), a float field a finite real number, each within the field's
    bounds and an int64. Returns it as a plain int or float; raises ConfigError(label or name)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return _number(field, field_types(cls)[name], value, label or name)


def check_fields(config: Any) -> None:
    """Check every number of a config (field_value), storing it as a plain int or float."""
    hints = field_types(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        checked = _number(field, hints[field.name], value, field.name)
        if checked is not value:
            object.__setattr__(config, field.name, checked)  # frozen configs too


class Config:
    """Base for config dataclasses (frozen or not): strict from_dict, to_dict, JSON files and a
    checked replace(). Subclasses validate in __post_init__ with check(); every field's number is
    checked first (check_fields), whether or not a subclass defines __post_init__.

    STANDALONE False says the command line's flags for this config override another one (a
    checkpoint's decoding), so the CLI checks them one by one until that one is known."""

    STANDALONE: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")
        if own is not None:  # run the field checks before the subclass's own checks
            @functools.wraps(own)
            def __post_init__(self: Config) -> None:
                check_fields(self)
                own(self)

            cls.__post_init__ = __post_init__

    def __post_init__(self) -> None:
        check_fields(self)

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
