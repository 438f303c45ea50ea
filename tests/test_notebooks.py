"""The notebooks follow the project's rules: package code only, kernelspec, a start and an end."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _code(nb: dict) -> str:
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return "\n".join(line for cell in cells for line in cell.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def test_there_are_five_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_model_code(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    tree = ast.parse(_code(nb))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        assert fn.end_lineno - fn.lineno + 1 <= 10, f"{path.name}: {fn.name} is longer than 10 lines"
    assert "import captioning" in _code(nb) or "from captioning" in _code(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_goals_and_ends_with_exercises(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    assert "learn" in "".join(cells[0]["source"]).lower()
    tail = "".join("".join(c["source"]) for c in cells[-2:]).lower()
    assert "exercise" in tail or "next step" in tail
