"""ComparisonConfig: which cells the LSTM-family comparison trains, with how many seeds, and where
it writes. No torch here (the CLI reads it to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config, check, option
from ..decoder.config import ALL_CELLS


@dataclass
class ComparisonConfig(Config):
    """The controlled comparison: every cell, same data, features, vocabulary and training settings."""

    cells: tuple[str, ...] = option(ALL_CELLS, "cells to compare (the chapter's five and two gate ablations)",
                                    choices=ALL_CELLS)
    seeds: int = option(3, "training runs per cell (seeds 0..N-1)")
    out: str = option("results", "folder for cells.md, cells.json and the figures", metavar="DIR")
    records: str = option("results/cell-runs", "one committed JSON record per finished run; runs with a "
                          "record are not trained again", metavar="DIR")
    work: str = option("runs/compare-cells", "where the runs' checkpoints go (interrupted runs continue)",
                       metavar="DIR")

    def __post_init__(self) -> None:
        check(len(self.cells) >= 1, "cells", "name at least one cell")
        bad = [c for c in self.cells if c not in ALL_CELLS]
        check(not bad, "cells", f"unknown {', '.join(bad)} (choose from {', '.join(ALL_CELLS)})")
        check(self.seeds >= 1, "seeds", f"must be >= 1, got {self.seeds}")
