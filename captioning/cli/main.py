"""`captioning` entry point: parse, set up the process (malloc tuning, logging), dispatch, map errors.

Each failure is one line on stderr with its exit code (exit_codes.py): a user's bad file, field
or flag (an InputError; a ConfigError's field is shown as its flag) is a usage error, an OSError
(disk full, read-only) a system error naming the path, anything else an internal error whose
traceback --debug (or CAPTIONING_DEBUG=1) prints. A subcommand's module is imported only when
that subcommand runs."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
import traceback

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.runtime import tune
from ..core.world import world
from . import exit_codes
from .options import FLAGS
from .parser import build_parser

DEBUG_ENV = "CAPTIONING_DEBUG"
COMMANDS = {"split": ("data_commands", "split"), "extract-features": ("data_commands", "extract_features"),
            "train": ("train_commands", "train"), "scst": ("train_commands", "scst"),
            "export": ("train_commands", "export"), "compare-cells": ("train_commands", "compare_cells"),
            "evaluate": ("eval_commands", "evaluate"), "caption": ("caption_commands", "caption"),
            "recipe": ("recipe_commands", "recipe")}


class _StderrHandler(logging.Handler):
    """Log lines to the current sys.stderr, through tqdm so progress bars stay intact."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _os_message(exc: OSError) -> str:
    """"PATH: reason" for an OSError (ENOSPC, EROFS, EACCES, ...), one line."""
    reason = exc.strerror or _first_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (free some space and rerun: finished outputs are kept and the run resumes)"
    return f"{exc.filename}: {reason}" if exc.filename else reason


def failure(exc: Exception, debug: bool) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that ended a command."""
    if isinstance(exc, ConfigError):
        return exit_codes.USAGE_ERROR, f"error: {FLAGS.get(exc.field, exc.field)}: {exc.problem}"
    if isinstance(exc, InputError):
        return exit_codes.USAGE_ERROR, f"error: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return exit_codes.SYSTEM_ERROR, f"error: {_os_message(exc)}"
    hint = "" if debug else f" (rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
    return exit_codes.INTERNAL_ERROR, f"internal error: {exc.__class__.__name__}: {_first_line(exc)}{hint}"


def main(argv: list[str] | None = None) -> int:
    tune()  # process-wide CPU speed settings belong to the entry point, not the library
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # compare-cells records the command that made its results
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("captioning")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if world().main else logging.WARNING)
    try:
        module, command = COMMANDS[args.command]
        return getattr(importlib.import_module(f".{module}", __package__), command)(args)
    except KeyboardInterrupt:
        print("captioning: error: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except Exception as exc:  # every failure ends in one line and a documented code
        if debug:
            traceback.print_exc()
        code, message = failure(exc, debug)
        print(f"captioning: {message}", file=sys.stderr)
        return code
    finally:
        logger.removeHandler(handler)
        if "torch.distributed" in sys.modules:  # leave a torchrun process group cleanly
            importlib.import_module("..core.distributed", __package__).shutdown()


if __name__ == "__main__":
    sys.exit(main())
