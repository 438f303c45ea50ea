"""`captioning --help` answers at once: the parser is built from torch-free config modules only."""

import subprocess
import sys

import pytest

from captioning.core import __version__

PROBE = """
import sys
from captioning.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "timm", "torchvision", "pycocotools", "matplotlib") if m in sys.modules)
print("EXIT", code)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize(("argv", "first_line"), [
    (["--help"], "usage: captioning [-h] [--version]"),
    (["caption", "--help"], "usage: captioning caption [-h] "),
    (["train", "--help"], "usage: captioning train [-h] --out RUN_DIR "),
    (["--version"], f"captioning {__version__}"),
])
def test_help_imports_neither_torch_nor_timm(argv, first_line):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and done.stderr == ""
    assert lines[0].startswith(first_line) and lines[-2:] == ["EXIT 0", "HEAVY "]
    if argv == ["--version"]:
        assert lines == [first_line, "EXIT 0", "HEAVY "]
    else:  # the whole help: every option, ending with the last one's help text
        assert "options:" in lines and ("--quiet" in done.stdout) == (argv != ["--help"])


def test_python_dash_m_captioning_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "captioning", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"captioning {__version__}\n", "")
