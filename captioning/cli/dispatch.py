"""The `captioning` command's work, inside main's guard against Ctrl-C: parse, set up the process
(logging), build the configs, dispatch to the subcommand, map a failure to its exit code.

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
from typing import Protocol

from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.world import world
from . import exit_codes
from .options import FLAGS, check_given
from .parser import build_parser

DEBUG_ENV = "CAPTIONING_DEBUG"


class Interrupts(Protocol):
    """main's guard: `caught` once Ctrl-C came; release() ends start-up (raising one that was held)."""

    caught: bool

    def release(self) -> None: ...


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


def run(argv: list[str], commands: dict[str, tuple[str, str]], interrupts: Interrupts) -> int:
    """Parse argv, check every config its flags make, and run the subcommand (commands: name ->
    (module, function)); its exit code, or the one of the failure that ended it."""
    args = build_parser().parse_args(argv)
    args.argv = argv  # compare-cells records the command that made its results
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("captioning")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if world().main else logging.WARNING)
    try:
        check_given(args)  # every config the flags make, before any work
        module, command = commands[args.command]
        command_fn = getattr(importlib.import_module(f".{module}", __package__), command)  # torch imports here
        interrupts.release()
        return command_fn(args)
    except Exception as exc:  # every failure ends in one line and a documented code
        if interrupts.caught:
            raise  # main reports the interrupt
        if debug:
            traceback.print_exc()
        code, message = failure(exc, debug)
        print(f"captioning: {message}", file=sys.stderr)
        return code
    finally:
        logger.removeHandler(handler)
        _leave_process_group()


def _leave_process_group() -> None:
    """Leave a torchrun process group cleanly, if this command joined one: only when the module
    that joins it was imported (importing it now would import torch, maybe one cut short by Ctrl-C)."""
    distributed = sys.modules.get(f"{__package__.rpartition('.')[0]}.core.distributed")
    if distributed is not None:
        distributed.shutdown()
