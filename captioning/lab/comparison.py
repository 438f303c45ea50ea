"""The controlled LSTM-family comparison: every cell, same split, features, vocabulary and budget.

`captioning compare-cells` trains each cell with several seeds (finished runs are reused), scores
the best checkpoint on the test split, measures gradient flow, and writes results/cells.md,
cells.json, cells.png and gradient_flow.png (see report.py for the text)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from ..core.io import atomic_write_text, read_json, write_json
from ..data.tensors import SplitTensors
from ..decoder.checkpoint import Checkpoint
from ..decoder.config import DecoderConfig
from ..decoder.model import CaptionDecoder
from ..features.config import EncoderSpec
from ..render.layout import save_figure
from ..text.vocabulary import Vocabulary
from ..training.config import TrainConfig
from ..training.evaluation import evaluate_split
from ..training.loop import fit
from ..training.state import read_metrics
from .config import ComparisonConfig
from .gradients import decoder_gradient_flow, recurrence_stats
from .plots import plot_comparison, plot_gradient_flow
from .report import markdown_table, render_markdown, settings_text, summarize

log = logging.getLogger(__name__)


def train_cell(cell: str, seed: int, prepared: tuple, encoder: EncoderSpec, model: DecoderConfig,
               train: TrainConfig, work: Path, device: torch.device, progress: bool) -> dict:
    """One cell and seed: train (reuse a finished run, continue an interrupted one), score its best
    checkpoint on test."""
    vocab, split, recs = prepared
    run_dir = work / f"{cell}-seed{seed}"
    done = run_dir / "result.json"
    if done.is_file():
        return read_json(done)
    log.info("== %s, seed %d", cell, seed)
    summary = fit(split["train"], split["val"], vocab, model.replace(cell=cell), train.replace(seed=seed),
                  encoder, run_dir, resume=True, device=device, progress=progress)  # an interrupted run continues
    start = time.time()
    best = Checkpoint.load(run_dir / "best", device)
    test = evaluate_split(best.decoder, split["test"].features, recs["test"], vocab)["scores"]
    wall = summary["train_seconds"] + time.time() - start  # every epoch's time (kept across a resume) + scoring
    result = {"cell": cell, "seed": seed, **summary, "wall_seconds": wall, "test": test,
              "val_curve": [r["val_cider"] for r in read_metrics(run_dir)]}
    write_json(done, result)
    return result


def run_comparison(prepared: tuple[Vocabulary, dict[str, SplitTensors], dict], encoder: EncoderSpec,
                   model: DecoderConfig, train: TrainConfig, cmp: ComparisonConfig,
                   device: torch.device | str = "cpu", command: str = "", progress: bool = False) -> dict:
    """Train cells x seeds on prepared splits (vocab, tensors, records), then write cmp.out."""
    out, work = Path(cmp.out), Path(cmp.work)
    model = model.replace(vocab_size=len(prepared[0]), feature_dim=encoder.feature_dim)
    runs = [train_cell(cell, seed, prepared, encoder, model, train, work, torch.device(device), progress)
            for cell in cmp.cells for seed in range(cmp.seeds)]
    table = summarize(runs)
    split = prepared[1]
    flow, recurrence = measure_flow(list(cmp.cells), split["test"], model, work)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "cells.json", {"command": command, "runs": runs, "summary": table, "gradient_flow": flow,
                                    "recurrence": recurrence})
    save_figure(plot_comparison(runs, table), out / "cells.png")
    save_figure(plot_gradient_flow(flow, title="Gradient flow on real captions"), out / "gradient_flow.png")
    minutes = sum(r.get("wall_seconds", r["train_seconds"]) for r in runs) / 60
    text = render_markdown(table, flow, settings_text(encoder, model, train, cmp), command, minutes, train.epochs,
                           recurrence, model.forget_bias)
    atomic_write_text(out / "cells.md", text)
    log.info("%s", markdown_table(table))
    return table


def _probe_captions(test: SplitTensors, n: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, tokens) of up to n test captions with at least `length` tokens, cut there."""
    long = (test.tokens != 0).sum(1) >= length
    return test.batch_features(long.nonzero().view(-1)[:n]), test.tokens[long][:n, :length]


def measure_flow(cells: list[str], test: SplitTensors, model: DecoderConfig, work: Path,
                 n: int = 64, length: int = 16) -> tuple[dict[str, list[float]], dict[str, dict]]:
    """Gradient flow of freshly initialized decoders and of the trained seed-0 ones on test captions:
    ‖∂h_t/∂h_0‖ per cell, ‖∂c_t/∂c_0‖ ("cell ∂c") where there is a cell state; and the trained
    decoders' recurrence_stats (what sets their decay)."""
    feats, tokens = _probe_captions(test, n, length)
    flow, recurrence = {}, {}
    for cell in cells:
        torch.manual_seed(0)
        decoders = {cell: CaptionDecoder(model.replace(cell=cell))}
        trained = work / f"{cell}-seed0" / "best"
        if trained.is_dir():
            decoders[f"{cell} (trained)"] = Checkpoint.load(trained).decoder
            recurrence[cell] = recurrence_stats(decoders[f"{cell} (trained)"], feats, tokens)
        for name, decoder in decoders.items():
            flow[name] = decoder_gradient_flow(decoder, feats, tokens).tolist()
            if decoder.rnn.has_cell_state:
                flow[f"{name} ∂c"] = decoder_gradient_flow(decoder, feats, tokens, source="c", target="c").tolist()
    return flow, recurrence
