"""Notebook 04 tells one story from the comparison's committed records: it trains no cell and
never reads or writes a run folder under runs/, in its source or its stored outputs (issue 28)."""

import json
import re
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_lstm_family.ipynb"
RUNS_PATH = re.compile(r"(?<![\w-])runs/")  # ../runs/x, runs/x; not results/cell-runs/
TRAINS = re.compile(r"\b(fit|train_model|train_cell|run_comparison)\(|compare-cells\W+--|import subprocess")


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text())["cells"]


def _text(cell: dict) -> str:
    source = "".join(cell["source"])
    outputs = "".join("".join(o.get("text", [])) + "".join(o.get("data", {}).get("text/plain", []))
                      + "".join(o.get("data", {}).get("text/markdown", []))
                      for o in cell.get("outputs", []))
    return source + "\n" + outputs


def test_the_patterns_catch_what_they_should():
    assert RUNS_PATH.search('Path("../runs/notebook04")') and RUNS_PATH.search("runs/compare-cells/lstm")
    assert not RUNS_PATH.search("results/cell-runs/lstm-seed0.json")
    for call in ("fit(train, val, vocab)", "summary = fit(CrossEntropy(...))", "run_comparison(prepared",
                 '["captioning", "compare-cells", "--epochs"', "import subprocess"):
        assert TRAINS.search(call), call
    assert not TRAINS.search("`captioning compare-cells` trains every cell") and not TRAINS.search("profit(x)")


def test_no_runs_path_in_source_or_outputs():
    hits = [i for i, cell in enumerate(_cells()) if RUNS_PATH.search(_text(cell))]
    assert hits == [], f"cells {hits} name a path under runs/"


def test_no_cell_trains():
    code = [(i, "".join(c["source"])) for i, c in enumerate(_cells()) if c["cell_type"] == "code"]
    hits = [i for i, src in code if TRAINS.search(src)]
    assert hits == [], f"code cells {hits} train (fit, run_comparison, compare-cells ...)"
    assert any("read_records(" in src for _, src in code), "the trained cells must come from the records"
