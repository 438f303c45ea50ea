"""The notebooks follow the project's rules: package code only, kernelspec, a start and an end,
and lean, clean stored outputs (from full runs): no progress bars, tracebacks or stderr."""

import ast
import base64
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _code(nb: dict) -> str:
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return "\n".join(line for cell in cells for line in cell.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


TOTAL_BUDGET = 4_000_000  # bytes, all notebooks together
NOTEBOOK_BUDGET = 1_200_000
PNG_BUDGET = 200_000  # a plot; photos are stored as JPEG
PROGRESS = re.compile(r"\r|\d+%\|[^|]*\||\bit/s\]|img/s\]")


def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


def test_the_notebooks_stay_small_together():
    assert sum(p.stat().st_size for p in NOTEBOOKS) < TOTAL_BUDGET


def _outputs(nb: dict):
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            yield i, out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_clean_and_within_budget(path):
    nb = json.loads(path.read_text())
    assert path.stat().st_size < NOTEBOOK_BUDGET, f"{path.name} is {path.stat().st_size:,} bytes"
    for i, out in _outputs(nb):
        where = f"{path.name} cell {i}"
        assert out["output_type"] != "error", f"{where}: a traceback is stored"
        if out["output_type"] == "stream":
            assert out["name"] == "stdout", f"{where}: stderr output is stored"
        text = "".join(out.get("text", [])) + "".join(out.get("data", {}).get("text/plain", []))
        assert not PROGRESS.search(text), f"{where}: a progress bar is stored"
        assert "Traceback" not in text, f"{where}: a traceback is stored"
        png = out.get("data", {}).get("image/png")
        if png:
            assert len(base64.b64decode("".join(png))) < PNG_BUDGET, f"{where}: a big PNG (store photos as JPEG)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_were_run_top_to_bottom(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in cells]
    assert all(counts) and counts == sorted(counts), f"{path.name}: not one clean run ({counts})"


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
