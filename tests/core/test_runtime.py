"""Process-wide settings change only when an entry point asks: building an encoder does not tune
malloc; the CLI's main does."""

import subprocess
import sys

PROBE = """
from captioning.core import runtime
from captioning.features.encoder import build_encoder
build_encoder()
print("after build", runtime.tune_malloc.cache_info().currsize)
runtime.tune()
print("after tune", runtime.tune_malloc.cache_info().currsize)
"""


def test_library_calls_do_not_tune_malloc():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["after build 0", "after tune 1"]


def test_the_cli_entry_point_tunes_the_process(monkeypatch):
    import pytest

    from captioning.cli import main as cli

    calls = []
    monkeypatch.setattr(cli, "tune", lambda: calls.append(1))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert calls == [1]
