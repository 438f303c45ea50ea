"""Command-line flags built from config dataclasses, and typed configs read back from the parsed args.

Each field's default, help text and flag name live once, in its dataclass (core.config.option).
Flags are stored under "Class.field" and absent unless given, so what a user typed is exactly the
set of overrides applied on top of the defaults (or on a checkpoint's own settings). A number is
checked against its field as it is parsed (core.config.field_value), and `check_given` builds
each config from the flags before a command does any work."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..core.config import Config, ConfigError, base_type, field_types, field_value

C = TypeVar("C", bound=Config)
FLAGS: dict[str, str] = {}  # field name -> its flag, to turn "beam_size: ..." errors into "--beam: ..."
CONFIGS: dict[str, type[Config]] = {}  # class name -> class, for the "Class.field" keys of parsed args


def flag_of(field: dataclasses.Field) -> str:
    name = field.metadata.get("flag") or field.name
    return "--" + name.replace("_", "-")


def number_type(cls: type[Config], name: str) -> Callable[[str], Any]:
    """An argparse type for the number field `name` of cls: the text as its int or float, within
    the field's bounds, or an argparse error (exit 2) saying what the field takes."""
    base = base_type(field_types(cls)[name])

    def parse(text: str) -> Any:
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if base is int else 'a number'}, "
                                             f"got {text!r}") from None
        try:
            return field_value(cls, name, value)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    parse.__name__ = base.__name__  # argparse names the type in some messages
    return parse


def _kwargs(cls: type[Config], hint: Any, field: dataclasses.Field) -> dict[str, Any]:
    """argparse keyword arguments for one field: its type, choices, metavar and help."""
    meta, base = field.metadata, base_type(hint)
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    shown = ",".join(default) if isinstance(default, tuple) else default
    text = meta.get("help", "") + ("" if default is None or "default" in meta.get("help", "") else f" (default: {shown})")
    kwargs: dict[str, Any] = {"help": text.replace("%", "%%"), "default": argparse.SUPPRESS}
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
        return kwargs
    if base is tuple:
        kwargs["nargs"] = "+"
    else:
        kwargs["type"] = number_type(cls, field.name) if base in (int, float) else str
    if meta.get("choices"):
        kwargs["choices"] = meta["choices"]
    if not meta.get("choices"):
        kwargs["metavar"] = meta.get("metavar") or field.name.upper()
    return kwargs


def add_options(parser: argparse.ArgumentParser, cls: type[Config], title: str | None = None, *,
                only: Iterable[str] | None = None, skip: Iterable[str] = ()) -> None:
    """Add a flag for every command-line field of cls (or just `only`, minus `skip`) to a group."""
    group = parser.add_argument_group(title or (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip("."))
    hints, keep, skip = field_types(cls), set(only) if only is not None else None, set(skip)
    CONFIGS[cls.__name__] = cls
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if not meta.get("cli", True) or field.name in skip or (keep is not None and field.name not in keep):
            continue
        flag, dest = flag_of(field), f"{cls.__name__}.{field.name}"
        FLAGS.setdefault(field.name, flag)
        names = [flag] + ([f"-{meta['short']}"] if meta.get("short") else [])
        group.add_argument(*names, dest=dest, **_kwargs(cls, hints[field.name], field))
        for shortcut, value in meta.get("shortcuts", {}).items():
            group.add_argument(f"--{shortcut}", dest=dest, action="store_const", const=value,
                               default=argparse.SUPPRESS, help=f"same as {flag} {value}")
    for name, kwargs in getattr(cls, "EXTRA_FLAGS", {}).items():  # earlier spellings a config still reads
        if keep is None or name in keep:
            group.add_argument(f"--{name.replace('_', '-')}", dest=f"{cls.__name__}.{name}",
                               default=argparse.SUPPRESS, **kwargs)


def given(args: argparse.Namespace, cls: type[Config]) -> dict[str, Any]:
    """The fields of cls that were given on the command line, as {field: value}."""
    prefix = cls.__name__ + "."
    values = {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix)}
    hints = field_types(cls)
    return {k: tuple(v) if k in hints and base_type(hints[k]) is tuple else v for k, v in values.items()}


def build(args: argparse.Namespace, cls: type[C], **fixed: Any) -> C:
    """cls's defaults, overridden by the given flags, then by `fixed` (values the command sets)."""
    return cls.from_dict({**cls().to_dict(), **given(args, cls), **fixed})


def check_given(args: argparse.Namespace) -> None:
    """Build every config whose flags were given, so that a bad value or combination is refused
    (a ConfigError naming the flag) before a command does any work. A config whose flags override
    a checkpoint's (STANDALONE False) was checked value by value as it was parsed."""
    for name in sorted({key.split(".")[0] for key in vars(args) if "." in key}):
        cls = CONFIGS.get(name)
        if cls is not None and cls.STANDALONE:
            build(args, cls)
