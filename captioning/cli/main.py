"""`captioning` entry point: Ctrl-C at any moment ends a command as "interrupted", exit 130.

The command's work (parse, set up the process, dispatch, map errors to exit codes) is in
dispatch.py. This module imports nothing of the project's but the exit codes, so that an
interrupt that lands while modules are still importing, torch among them, is caught by main()
like any other: dispatch.py and a subcommand's module are imported inside its guard."""

from __future__ import annotations

import importlib
import signal
import sys
import threading

from . import exit_codes

COMMANDS = {"split": ("data_commands", "split"), "extract-features": ("data_commands", "extract_features"),
            "train": ("train_commands", "train"), "scst": ("train_commands", "scst"),
            "export": ("train_commands", "export"), "compare-cells": ("train_commands", "compare_cells"),
            "evaluate": ("eval_commands", "evaluate"), "caption": ("caption_commands", "caption"),
            "recipe": ("recipe_commands", "recipe")}


def tune() -> dict[str, bool]:
    """The process-wide speed settings (core.runtime.tune), imported once main guards."""
    return importlib.import_module("..core.runtime", __package__).tune()


class _Interrupts:
    """Ctrl-C within the block ends the command as "interrupted", whenever it comes.

    During start-up (imports, parsing) the first one is held until release(): landing inside
    torch's import it can leave torch half-imported, abort the process from C++, or be swallowed
    (torch's C code clears an error raised while it imports numpy). A second one is not held. After
    release, Ctrl-C raises KeyboardInterrupt at once, and `caught` remembers it, so one that a
    library turns into another error still reads as an interrupt. At the end the previous handler
    comes back; with keep_ignoring (the process is about to exit), a caught interrupt leaves SIGINT
    ignored instead, so a second Ctrl-C cannot cut the way out short."""

    def __init__(self, keep_ignoring: bool) -> None:
        self.caught, self.holding, self.keep_ignoring, self.previous = False, True, keep_ignoring, None

    def _handle(self, signum: int, frame: object) -> None:
        held = self.holding and not self.caught
        self.caught = True
        if not held:
            raise KeyboardInterrupt

    def release(self) -> None:
        """End start-up: raise the interrupt that was held, if one came."""
        self.holding = False
        if self.caught:
            raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGINT)
            if self.previous is signal.default_int_handler:  # not where SIGINT is ignored (nohup, `&`)
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.caught and self.keep_ignoring else self.previous)


def _peer_loss(exc_type: type[BaseException], thread: threading.Thread | None) -> bool:
    """A lost connection in multiprocessing's descriptor-sharing thread (its peer died, as under a
    Ctrl-C to the process group): not a second error to print."""
    return issubclass(exc_type, (ConnectionError, EOFError)) and "_serve" in getattr(thread, "name", "")


def _quiet_peer_loss(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: an exception that escapes the sharing thread."""
    if not _peer_loss(args.exc_type, args.thread):
        _DEFAULT_HOOK(args)


def _quiet_peer_loss_sys(exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
    """sys.excepthook: the sharing thread (resource_sharer._serve, in a DataLoader worker forked from
    this process) catches its own errors and reports them here, not through threading.excepthook."""
    if not _peer_loss(exc_type, threading.current_thread()):
        _DEFAULT_SYS_HOOK(exc_type, exc, tb)


_DEFAULT_HOOK = threading.excepthook
_DEFAULT_SYS_HOOK = sys.excepthook


def _quiet_after_interrupt(interrupts: _Interrupts):
    """sys.unraisablehook: once Ctrl-C came, an object it left half-built failing in its __del__ (a
    DataLoader iterator interrupted in its constructor) is part of the interrupt, not an error to print."""
    def hook(args: object) -> None:
        if not interrupts.caught:
            _DEFAULT_UNRAISABLE(args)
    return hook


_DEFAULT_UNRAISABLE = sys.unraisablehook


def main(argv: list[str] | None = None) -> int:
    """Run one `captioning` command (argv, default sys.argv[1:]) and return its exit code (a bad
    flag exits 2 from the parser); Ctrl-C at any moment is one line and exit 130."""
    threading.excepthook, sys.excepthook = _quiet_peer_loss, _quiet_peer_loss_sys
    interrupts = _Interrupts(keep_ignoring=argv is None)
    sys.unraisablehook = _quiet_after_interrupt(interrupts)
    try:
        with interrupts:
            tune()  # process-wide CPU speed settings belong to the entry point, not the library
            dispatch = importlib.import_module(".dispatch", __package__)
            return dispatch.run(list(sys.argv[1:] if argv is None else argv), COMMANDS, interrupts)
    except KeyboardInterrupt:
        pass
    except Exception:
        if not interrupts.caught:
            raise
    print("captioning: error: interrupted", file=sys.stderr)
    return exit_codes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
