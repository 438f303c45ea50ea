"""Every numeric flag of every subcommand, fed extreme values (issue 29, item 7): the command refuses
a value with exit 2 and one line naming the flag, or takes it and works; never an internal error
(exit 70) or a traceback. The flags are found in the parser, so a new one is covered as it comes."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from captioning.cli import dispatch
from captioning.cli import main as cli
from captioning.cli import parser as cli_parser
from captioning.cli.options import given
from captioning.core.config import ConfigError
from captioning.decoder.checkpoint import Checkpoint
from captioning.decoder.decode_config import DecodeConfig, resolve_decoding
from captioning.decoder.search import decode

EXTREMES = ("0", "-1", "1e23", "1e308", str(10**30), "nan", "inf", "-inf", "2.5")
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "samples" / "000000574520.jpg"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli_parser.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _numeric_flags(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sub._actions if a.option_strings and getattr(a.type, "__name__", None) in ("int", "float")]


def _required(sub: argparse.ArgumentParser, stub: str) -> list[str]:
    """Stand-ins for what the subcommand requires (positionals, --out, --init)."""
    return [part for a in sub._actions if a.required
            for part in ([a.option_strings[0], stub] if a.option_strings else [stub])]


CASES = [(name, action.option_strings[0], value) for name, sub in _subcommands().items()
         for action in _numeric_flags(sub) for value in EXTREMES]


def test_the_flags_are_found_in_the_parser():
    found = {(name, flag) for name, flag, _ in CASES}
    assert len(found) > 60 and {("caption", "--seed"), ("caption", "--length-penalty"), ("caption", "--beam"),
                                ("caption", "--min-len"), ("export", "--beam"), ("train", "--seed"),
                                ("scst", "--temperature"), ("train", "--lr")} <= found


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return Checkpoint.load(tiny_checkpoint)


@pytest.fixture
def stubbed(monkeypatch):
    """main() up to the command: parse and build the configs, then a stand-in command that only
    keeps the parsed args (the parser is built once, to keep 800 calls quick)."""
    seen: list[argparse.Namespace] = []
    stub = types.ModuleType("captioning.cli.stub_command")
    stub.run = lambda args: seen.append(args) or 0
    monkeypatch.setitem(sys.modules, stub.__name__, stub)
    for name in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, name, ("stub_command", "run"))
    monkeypatch.setattr(dispatch, "build_parser", functools.cache(cli_parser.build_parser))
    return seen


def _main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def _works(args: argparse.Namespace, dest: str, tiny: Checkpoint) -> None:
    """What the command does next with an accepted value, where that is cheap: decode with it."""
    if dest.startswith("DecodeConfig."):
        try:
            cfg = resolve_decoding(tiny.decoding, **given(args, DecodeConfig))
        except ConfigError:  # the command's own one-line exit 2, once the checkpoint is known
            return
        hyps = decode(tiny.decoder, torch.randn(2, tiny.decoder.cfg.feature_dim), cfg)
        assert all(h and all(math.isfinite(x.score) for x in h) for h in hyps)
    elif dest == "beam":  # export's beam to compare with greedy
        DecodeConfig("beam", beam_size=args.beam)


def test_no_extreme_value_of_any_numeric_flag_is_an_internal_error(stubbed, tiny, tmp_path):
    subs, outcomes = _subcommands(), {0: 0, 2: 0}
    for name, flag, value in CASES:
        action = next(a for a in _numeric_flags(subs[name]) if a.option_strings[0] == flag)
        code, err = _main([name, *_required(subs[name], str(tmp_path / "x")), f"{flag}={value}"])
        case = f"{name} {flag}={value}: exit {code}, stderr {err!r}"
        assert code in (0, 2) and "Traceback" not in err, case
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("captioning") and flag in lines[0], case
        else:
            assert err == "", case
            _works(stubbed[-1], action.dest, tiny)
        outcomes[code] += 1
    assert outcomes[0] and outcomes[2] > outcomes[0]  # most extremes are refused; some are fine values


@pytest.mark.parametrize(("argv", "flag"), [
    (["caption", SAMPLE, "--sample", "--seed", str(10**23)], "--seed"),
    (["caption", SAMPLE, "--length-penalty", "1e308"], "--length-penalty"),
    (["caption", SAMPLE, "--length-penalty", "nan"], "--length-penalty"),
    (["caption", SAMPLE, "--runtime", "torch", "--min-len", "50", "--max-len", "5"], "--min-len"),
    (["train", "--out", "{tmp}/run", "--epochs", "0"], "--epochs"),
])
def test_the_issues_reproductions_end_in_one_line_and_exit_2(tmp_path, argv, flag):
    exe = Path(sys.executable).parent / "captioning"
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run([str(exe), *argv, "-o", str(tmp_path / "out.jsonl")] if argv[0] == "caption"
                          else [str(exe), *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and flag in lines[0], done.stderr
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "run").exists()
