"""`captioning --help` answers at once: the parser is built from torch-free config modules only."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from captioning.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "timm", "torchvision", "pycocotools", "matplotlib") if m in sys.modules)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize("argv", [["--help"], ["caption", "--help"], ["train", "--help"], ["--version"]])
def test_help_imports_neither_torch_nor_timm(argv):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: captioning" in done.stdout or "captioning " in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY"


def test_python_dash_m_captioning_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "captioning", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("captioning ")
