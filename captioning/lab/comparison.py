"""The controlled LSTM-family comparison: every cell, same split, features, vocabulary and budget.

`captioning compare-cells` trains each cell with several seeds, seed-major (every cell's seed 0
first), and writes one small JSON record per finished run to `records` (results/cell-runs/): its
settings, per-epoch curves, test scores (from format 2 also per-image test CIDEr, for the paired
bootstrap in lab.significance), gradient and recurrence statistics, a gate trace and its measured
minutes. The records are committed, so any clone resumes from them and trains only what is missing;
the report (results/cells.md, cells.json and the figures) is written from every record in the
folder alone, so it regenerates unchanged, and a run of a few cells with more seeds (cells
lstm, gru and rnn with 5 seeds) adds to it. Checkpoints stay in the git-ignored `work` folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..core.errors import InputError
from ..core.io import atomic_write_text, read_json, write_json
from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.model import CaptionDecoder
from ..decoder.search import trace_gates
from ..features.config import EncoderSpec
from ..render.layout import save_figure
from ..text.vocabulary import Vocabulary
from ..training.config import TrainConfig
from ..training.evaluation import evaluate_split
from ..training.loop import fit
from ..training.objectives import CrossEntropy
from ..training.state import read_metrics
from .config import ComparisonConfig
from .gradients import decoder_gradient_flow, recurrence_stats
from .plots import plot_comparison, plot_gradient_flow
from .report import markdown_table, render_markdown, settings_text, summarize
from .significance import learning_speed, verdicts

log = logging.getLogger(__name__)
# (records, the command that last trained) -> the commands that retrain every record; the CLI derives
# them from lab.report.retrain_groups, a caller without a CLI gets the command itself
Commands = Callable[[list[dict], str], list[str]]
RECORD_FORMAT = 2  # 2: adds test_images (per-image test CIDEr); format-1 records read the same otherwise
TRACE_UNITS = 16  # gate trace: the units that vary most along the probe caption


def record_path(records: str | Path, cell: str, seed: int) -> Path:
    return Path(records) / f"{cell}-seed{seed}.json"


def read_records(records: str | Path) -> list[dict]:
    """Every run record in a records folder, cell by cell in the comparison's order, then by seed:
    what the report was written from (cells.json names the folder rather than repeating them)."""
    order = {cell: i for i, cell in enumerate(ComparisonConfig().cells)}
    runs = [read_json(path) for path in Path(records).glob("*-seed*.json")]
    return sorted(runs, key=lambda r: (order.get(r["cell"], len(order)), r["cell"], r["seed"]))


def planned_runs(cmp: ComparisonConfig) -> list[tuple[str, int]]:
    """(cell, seed) in training order: seed-major, so a partial comparison has every cell's seed 0."""
    return [(cell, seed) for seed in range(cmp.seeds) for cell in cmp.cells]


def status(cmp: ComparisonConfig) -> str:
    """How many of the planned runs have a record, which are missing, and how many records in the
    folder store per-image test scores (reads no data)."""
    runs = planned_runs(cmp)
    missing = [f"{c}-seed{s}" for c, s in runs if not record_path(cmp.records, c, s).is_file()]
    text = f"{len(runs) - len(missing)} of {len(runs)} runs done (records in {cmp.records})"
    text += f"; missing: {', '.join(missing)}" if missing else "; all done"
    records = read_records(cmp.records) if Path(cmp.records).is_dir() else []
    paired = sum("test_images" in r for r in records)
    return text + (f"; {paired} of {len(records)} records in the folder store per-image test CIDEr "
                   "(the paired bootstrap needs them for every run of both cells)")


def _probe_captions(test: SplitTensors, n: int = 64, length: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, tokens) of up to n test captions with at least `length` tokens, cut there."""
    long = (test.tokens != 0).sum(1) >= length
    return test.batch_features(long.nonzero().view(-1)[:n]), test.tokens[long][:n, :length]


def flow_of(decoder: CaptionDecoder, feats: torch.Tensor, tokens: torch.Tensor) -> dict[str, list[float]]:
    """‖∂h_t/∂h_0‖ for t = 1..T on the probe captions, and ‖∂c_t/∂c_0‖ where there is a cell state."""
    flow = {"h": decoder_gradient_flow(decoder, feats, tokens).tolist()}
    if decoder.rnn.has_cell_state:
        flow["c"] = decoder_gradient_flow(decoder, feats, tokens, source="c", target="c").tolist()
    return flow


def gate_trace(decoder: CaptionDecoder, test: SplitTensors, vocab: Vocabulary) -> dict:
    """The gates along the first long test caption (teacher-forced), for the TRACE_UNITS units whose
    activation varies most, rounded: enough for the notebook to draw them without the checkpoint."""
    feats, tokens = _probe_captions(test, n=1, length=10)
    ids = [int(t) for t in tokens[0, 1:] if int(t) not in (0, Vocabulary.end_id)]
    gates = trace_gates(decoder, feats[0], ids)
    out = {}
    for name in decoder.rnn.gate_names:
        g = gates[name]  # [T, H]
        units = torch.argsort(-g.var(dim=0), stable=True)[:TRACE_UNITS]
        out[name] = {"units": units.tolist(), "values": [[round(float(v), 4) for v in row] for row in g[:, units]]}
    return {"words": ["<start>", *vocab.decode(ids).split()], "gates": out}


def per_image_scores(rows: list[dict]) -> dict[str, list]:
    """The record's test_images: image ids and each image's test CIDEr (x100), in split order; their
    mean is the test CIDEr (pycocoevalcap's corpus CIDEr-D is the mean of the per-image scores)."""
    return {"image_ids": [row["image_id"] for row in rows], "CIDEr": [row["scores"]["CIDEr"] for row in rows]}


def _curves(run_dir: Path) -> dict[str, list[float]]:
    rows = read_metrics(run_dir)
    return {key: [r[key] for r in rows] for key in ("train_loss", "val_loss", "val_cider", "seconds")}


def train_cell(cell: str, seed: int, prepared: tuple, encoder: EncoderSpec, model: DecoderConfig,
               train: TrainConfig, cmp: ComparisonConfig, device: torch.device, progress: bool) -> dict:
    """One cell and seed: its committed record, or train it (continuing an interrupted run in the
    work folder), score the best checkpoint on test, measure it, and write the record."""
    path = record_path(cmp.records, cell, seed)
    if path.is_file():
        return read_json(path)
    vocab, split, recs = prepared
    run_dir = Path(cmp.work) / f"{cell}-seed{seed}"
    log.info("== %s, seed %d", cell, seed)
    model, train = model.replace(cell=cell), train.replace(seed=seed)
    summary = fit(CrossEntropy(train, vocab, model, encoder), split["train"], split["val"], run_dir,
                  resume=True, device=device, progress=progress)
    start = time.time()
    best = Checkpoint.load(run_dir / "best", device).decoder
    scored = evaluate_split(best, split["test"].features, recs["test"], vocab)
    test = scored["scores"]
    feats, tokens = _probe_captions(split["test"])
    curves = _curves(run_dir)
    record = {"format": RECORD_FORMAT, "cell": cell, "seed": seed,
              "settings": {"model": model.to_dict(), "train": train.to_dict(), "encoder": encoder.to_dict()},
              **summary, "test": test, "test_images": per_image_scores(scored["images"]), "val_curve": curves["val_cider"], "curves": curves,
              "gradient_flow": flow_of(best, feats, tokens), "recurrence": recurrence_stats(best, feats, tokens),
              "gate_trace": gate_trace(best, split["test"], vocab)}
    record["wall_seconds"] = summary["train_seconds"] + time.time() - start  # epochs (kept across resumes) + scoring
    write_json(path, record)
    log.info("wrote %s", path)
    return read_json(path)  # as a clone reads it (lists, not tuples), so the report is the same either way


def fresh_flow(cells: list[str], test: SplitTensors, model: DecoderConfig) -> dict[str, dict[str, list[float]]]:
    """The same gradient-flow probe on freshly initialized decoders (seed 0), per cell."""
    feats, tokens = _probe_captions(test)
    out = {}
    for cell in cells:
        torch.manual_seed(0)
        out[cell] = flow_of(CaptionDecoder(model.replace(cell=cell)), feats, tokens)
    return out


def _flow_curves(fresh: dict[str, dict], runs: list[dict]) -> dict[str, list[float]]:
    """Named curves for the report and figure: fresh and trained (seed 0), h and cell state c."""
    curves: dict[str, list[float]] = {}
    trained = {r["cell"]: r["gradient_flow"] for r in runs if r["seed"] == 0}
    for cell, flow in fresh.items():
        for name, f in ((cell, flow), (f"{cell} (trained)", trained.get(cell))):
            if f is not None:
                curves[name] = f["h"]
                if "c" in f:
                    curves[f"{name} ∂c"] = f["c"]
    return curves


def _as_given(runs: list[dict], command: str) -> list[str]:
    return [command]


def write_report(runs: list[dict], fresh: dict[str, dict], settings: str, cmp: ComparisonConfig,
                 command: str, commands: Commands = _as_given) -> dict:
    """cells.json, cells.md and the figures in cmp.out, from the run records alone."""
    out = Path(cmp.out)
    table = summarize(runs)
    flow = _flow_curves(fresh, runs)
    recurrence = {r["cell"]: r["recurrence"] for r in runs if r["seed"] == 0}
    out.mkdir(parents=True, exist_ok=True)
    retrain = commands(runs, command)
    write_json(out / "cells.json", {"command": command, "commands": retrain,
                                    "summary": table, "verdicts": verdicts(runs),
                                    "learning_speed": learning_speed(runs), "gradient_flow": flow,
                                    "recurrence": recurrence, "records": str(cmp.records)})
    save_figure(plot_comparison(runs, table), out / "cells.png")
    h_only = {k: v for k, v in flow.items() if "∂c" not in k}
    save_figure(plot_gradient_flow(h_only, title="Gradient flow on real captions"), out / "gradient_flow.png")
    minutes = sum(r["wall_seconds"] for r in runs) / 60
    text = render_markdown(table, flow, settings, retrain, minutes, runs, recurrence)
    atomic_write_text(out / "cells.md", text)
    log.info("%s", markdown_table(table))
    return table


def rewrite_report(cmp: ComparisonConfig, commands: Commands = _as_given) -> dict:
    """The report rewritten from the records alone (compare-cells' report option): reads no data and
    trains nothing; the fresh networks' curves and the command come from the existing cells.json."""
    before = read_json(Path(cmp.out) / "cells.json", "comparison report")
    runs, curves = read_records(cmp.records), before["gradient_flow"]
    if not runs:
        raise InputError(f"no run records in {cmp.records}")
    cells = list(dict.fromkeys(r["cell"] for r in runs))
    lacking = [c for c in cells if c not in curves]
    if lacking:
        raise InputError(f"{Path(cmp.out) / 'cells.json'} has no fresh-network curves for {', '.join(lacking)}; "
                         "run compare-cells without its report option to compute them")
    fresh = {c: {"h": curves[c], **({"c": curves[f"{c} ∂c"]} if f"{c} ∂c" in curves else {})} for c in cells}
    return write_report(runs, fresh, settings_text(runs), cmp, before["command"], commands)


def run_comparison(prepared: tuple[Vocabulary, dict[str, SplitTensors], dict], encoder: EncoderSpec,
                   model: DecoderConfig, train: TrainConfig, cmp: ComparisonConfig,
                   device: torch.device | str = "cpu", command: str = "", progress: bool = False,
                   commands: Commands = _as_given) -> dict:
    """Train what has no record yet (cells x seeds, seed-major), then write the report from every
    record in the folder, so a run of some cells with more seeds keeps the others in the report."""
    model = model.replace(vocab_size=len(prepared[0]), feature_dim=encoder.feature_dim)
    for cell, seed in planned_runs(cmp):
        train_cell(cell, seed, prepared, encoder, model, train, cmp, torch.device(device), progress)
    runs = read_records(cmp.records)
    fresh = fresh_flow(list(dict.fromkeys(r["cell"] for r in runs)), prepared[1]["test"], model)
    return write_report(runs, fresh, settings_text(runs), cmp, command, commands)
