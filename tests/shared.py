"""Where the shared data sets are for the tests: beside the repository (../shared/data), or
$CAPTIONING_SHARED_COCO for the COCO subset. Integration tests skip when they are missing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def shared_coco() -> Path | None:
    """The shared COCO val2017 folder, or None when it is not here."""
    root = Path(os.environ.get("CAPTIONING_SHARED_COCO") or SHARED_DATA / "coco-val2017")
    ok = (root / "captions_val2017.json").is_file() and (root / "images").is_dir()
    return root.resolve() if ok else None


def benchmark_script(name: str) -> ModuleType:
    """benchmarks/<name>.py imported as a module (the scripts are not a package), for testing its functions."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
