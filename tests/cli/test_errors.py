"""Errors that tell the truth: a user's mistake is one line with exit 2, a full disk one line with
exit 3, and a bug is an internal error (exit 70) whose traceback --debug shows."""

import errno
import importlib

import pytest

from captioning.cli import caption_commands, exit_codes
from captioning.cli.main import COMMANDS
from captioning.core.config import ConfigError
from captioning.core.errors import InputError
from tests.cli.test_cli import run_main


def _failing(monkeypatch, exc: BaseException) -> None:
    def boom(args):
        raise exc

    monkeypatch.setattr(caption_commands, "caption", boom)


@pytest.mark.parametrize("exc", [RuntimeError("tensor sizes differ"), ValueError("operands could not be "
                                 "broadcast"), IndexError("list index out of range")])
def test_an_unexpected_exception_is_an_internal_error_not_a_usage_error(monkeypatch, exc):
    _failing(monkeypatch, exc)
    code, _, err = run_main(["caption", "x.jpg"])
    assert code == exit_codes.INTERNAL_ERROR != exit_codes.USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"captioning: internal error: {type(exc).__name__}: ")
    assert "--debug" in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(monkeypatch, how):
    _failing(monkeypatch, RuntimeError("tensor sizes differ"))
    if how == "env":
        monkeypatch.setenv("CAPTIONING_DEBUG", "1")
    code, _, err = run_main(["caption", "x.jpg"] + (["--debug"] if how == "flag" else []))
    assert code == exit_codes.INTERNAL_ERROR
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert err.strip().splitlines()[-1] == "captioning: internal error: RuntimeError: tensor sizes differ"


def test_user_errors_stay_one_line_with_exit_2(monkeypatch):
    _failing(monkeypatch, InputError("splits.json: no such dataset file"))
    code, _, err = run_main(["caption", "x.jpg"])
    assert (code, err) == (2, "captioning: error: splits.json: no such dataset file\n")
    _failing(monkeypatch, ConfigError("num_beams", "must be >= 1, got 0"))
    code, _, err = run_main(["caption", "x.jpg"])
    assert (code, err) == (2, "captioning: error: --beam: must be >= 1, got 0\n")


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_os_errors_name_the_path_with_their_own_exit_code(monkeypatch, number):
    _failing(monkeypatch, OSError(number, "refused", "out/captions.jsonl"))
    code, _, err = run_main(["caption", "x.jpg"])
    assert code == exit_codes.SYSTEM_ERROR not in (exit_codes.SOME_SKIPPED, exit_codes.USAGE_ERROR)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("captioning: error: out/captions.jsonl: refused")


def test_each_command_is_dispatched_once_to_its_function():
    for command, (module, name) in COMMANDS.items():
        function = getattr(importlib.import_module(f"captioning.cli.{module}"), name)
        assert callable(function), command
        assert not hasattr(importlib.import_module(f"captioning.cli.{module}"), "run"), module


def test_exit_codes_are_defined_once():
    for module in {m for m, _ in COMMANDS.values()} | {"main"}:
        assert "SOME_SKIPPED = " not in importlib.import_module(f"captioning.cli.{module}").__loader__.get_source(
            f"captioning.cli.{module}")
