"""`captioning` entry point: parse, set up the process (malloc tuning, logging), dispatch, map errors.

Errors are one line on stderr with exit code 2; a ConfigError names a field, which is shown as
its flag. A subcommand's module is imported only when that subcommand runs."""

from __future__ import annotations

import importlib
import logging
import sys

from ..core.config import ConfigError
from ..core.runtime import tune
from ..core.world import world
from .options import FLAGS
from .parser import build_parser

USAGE_ERROR = 2
COMMANDS = {"split": "data_commands", "extract-features": "data_commands", "train": "train_commands",
            "scst": "train_commands", "export": "train_commands", "compare-cells": "train_commands",
            "evaluate": "eval_commands", "caption": "caption_commands"}


class _StderrHandler(logging.Handler):
    """Log lines to the current sys.stderr, through tqdm so progress bars stay intact."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _error(exc: Exception) -> str:
    if isinstance(exc, ConfigError):
        return f"{FLAGS.get(exc.field, exc.field)}: {exc.problem}"
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def main(argv: list[str] | None = None) -> int:
    tune()  # process-wide CPU speed settings belong to the entry point, not the library
    args = build_parser().parse_args(argv)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("captioning")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if world().main else logging.WARNING)
    try:
        module = importlib.import_module(f".{COMMANDS[args.command]}", __package__)
        return module.run(args, argv if argv is not None else sys.argv[1:])
    except ValueError as exc:  # ConfigError included
        print(f"captioning: error: {_error(exc)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("captioning: error: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)
        if "torch.distributed" in sys.modules:  # leave a torchrun process group cleanly
            importlib.import_module("..core.distributed", __package__).shutdown()


if __name__ == "__main__":
    sys.exit(main())
