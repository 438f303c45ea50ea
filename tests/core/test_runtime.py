"""Process-wide settings change only when an entry point asks: building an encoder does not tune
malloc; the CLI's main does."""

import os
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


def test_cpu_description_names_the_model_and_only_speed_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    from captioning.core.runtime import cpu_description

    described = cpu_description()
    assert described["model"] == "AMD EPYC 9B14"
    assert described["flags"] == ["avx2", "avx512f", "avx512_vnni"]
    assert described["cpus"] == os.cpu_count()
