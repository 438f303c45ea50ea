"""The controlled LSTM-family comparison: every cell, same split, features, vocabulary and budget.

`captioning compare-cells` trains each cell with several seeds (reusing the feature cache),
scores the best checkpoint on the test split, measures gradient flow, and writes
results/cells.md, cells.json, cells.png and gradient_flow.png."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from .checkpoint import Checkpoint
from .data import load_dataset
from .data.tensors import prepare_splits
from .decoder import CaptionDecoder, DecoderConfig
from .encoder import build_encoder
from .evaluation import evaluate_split
from .features import record_features
from .gradients import decoder_gradient_flow
from .io import atomic_write_text, read_json, write_json
from .runtime import resolve_device
from .training import TrainConfig, fit, read_metrics
from .visualize import plot_gradient_flow, save_figure

METRICS = ("CIDEr", "BLEU-4", "METEOR", "ROUGE-L")


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Per cell: mean/std of test metrics, parameters, s/epoch, epochs to best val CIDEr."""
    table: dict[str, dict] = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        rs = [r for r in runs if r["cell"] == cell]
        row = {m: _mean_std([r["test"][m] for r in rs]) for m in METRICS}
        row["parameters"] = rs[0]["parameters"]
        row["sec_per_epoch"] = _mean_std([r["train_seconds"] / r["epochs_run"] for r in rs])
        row["best_epoch"] = _mean_std([float(r["best_epoch"]) for r in rs])
        row["seeds"] = len(rs)
        table[cell] = row
    return table


def _markdown_table(table: dict[str, dict]) -> str:
    head = "| cell | " + " | ".join(METRICS) + " | parameters | s/epoch | epochs to best val CIDEr |"
    lines = [head, "|" + "---|" * (len(METRICS) + 4)]
    for cell, r in table.items():
        cells = [f"{r[m][0]:.1f} ± {r[m][1]:.1f}" for m in METRICS]
        lines.append(f"| {cell} | " + " | ".join(cells) + f" | {r['parameters']:,} | "
                     f"{r['sec_per_epoch'][0]:.0f} | {r['best_epoch'][0]:.1f} ± {r['best_epoch'][1]:.1f} |")
    return "\n".join(lines)


def _verdict(a: str, b: str, table: dict, metric: str = "CIDEr") -> str:
    """'a beats b', 'b beats a' or 'tie' judged against the seed noise."""
    (ma, sa), (mb, sb) = table[a][metric], table[b][metric]
    noise = max(sa, sb, 0.5)
    if abs(ma - mb) <= noise:
        return f"{a} and {b} are within seed noise on {metric} ({ma:.1f} vs {mb:.1f}, std up to {noise:.1f})"
    hi, lo = (a, b) if ma > mb else (b, a)
    return f"{hi} beats {lo} on {metric} ({table[hi][metric][0]:.1f} vs {table[lo][metric][0]:.1f})"


def discussion(table: dict[str, dict], flow: dict[str, list[float]], epochs: int | None = None) -> str:
    """The chapter's LSTM-vs-GRU points, checked against the measured numbers."""
    out = []
    if {"lstm", "gru"} <= set(table):
        ratio = table["gru"]["parameters"] / table["lstm"]["parameters"]
        out.append(
            "1. **Reset gate.** The GRU's reset gate decides how much of the previous state h(t−1) enters the candidate "
            "memory; the LSTM has no such gate but a separate cell state. On our captions: "
            + _verdict("gru", "lstm", table) + ".")
        out.append(
            "2. **One update gate instead of forget + input.** The GRU couples them (z and 1−z); so "
            "does our `cifg` LSTM (f = 1 − i). Coupling saves parameters: the GRU decoder has "
            f"{ratio:.2f}× the LSTM's parameters. "
            + (_verdict("cifg", "lstm", table) + "." if "cifg" in table else ""))
        out.append(
            "3. **No output gate.** The GRU exposes its whole state; the LSTM filters c_t through o_t. "
            f"The GRU trains at {table['gru']['sec_per_epoch'][0]:.0f} s/epoch vs the LSTM's "
            f"{table['lstm']['sec_per_epoch'][0]:.0f} s/epoch here, and reached its best val CIDEr after "
            f"{table['gru']['best_epoch'][0]:.1f} vs {table['lstm']['best_epoch'][0]:.1f} epochs.")
    if "rnn" in table and "lstm" in table:
        gap = table["lstm"]["CIDEr"][0] - table["rnn"]["CIDEr"][0]
        out.append("4. **Plain tanh RNN.** " + _verdict("lstm", "rnn", table) + ". "
                   + ("Even on captions of about 10 words the gates matter a great deal."
                      if gap > 5 else "On captions of about 10 words the gates buy little."))
    if "rnn" in flow and "lstm" in flow:
        t = len(flow["rnn"]) - 1
        text = (f"5. **Gradient flow.** After {t + 1} words of real captions, ‖∂h_t/∂h_0‖ is "
                f"{flow['rnn'][t]:.2e} for the freshly initialized tanh RNN and "
                f"{flow['lstm'][t]:.2e} for the LSTM (forget bias 1): the vanishing gradient the "
                "chapter describes, measured.")
        if "rnn (trained)" in flow:
            text += (f" Training changes the picture: the trained RNN keeps {flow['rnn (trained)'][t]:.2e} "
                     f"and the trained LSTM {flow.get('lstm (trained)', [float('nan')] * (t + 1))[t]:.2e}, "
                     "so a fresh network's decay is not the whole story.")
        out.append(text)
    if "peephole" in table:
        out.append("6. **Peepholes.** " + _verdict("peephole", "lstm", table) + "; the peephole "
                   "loop is not fused, so it is also slower per epoch.")
    late = [c for c, r in table.items() if epochs and r["best_epoch"][0] >= epochs - 0.5]
    if late:
        out.append(f"**Caveat: a short, fixed budget.** {', '.join(late)} reached their best val CIDEr "
                   f"in the last of {epochs} epochs, still improving, so this compares how fast the "
                   "cells learn under one budget, not where they end up after convergence.")
    return "\n\n".join(out)


def run_comparison(args: argparse.Namespace) -> dict:
    """Train cells x seeds (resuming finished runs), then write the results folder."""
    device = resolve_device(args.device)
    out, work = Path(args.out), Path(getattr(args, "work", None) or "runs/compare-cells")
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    records = load_dataset(args.dataset, args.images)
    encoder = build_encoder(args.encoder, args.encoder_weights, device)
    features, kept, _ = record_features(records, encoder, args.cache, progress=not args.quiet)
    vocab, split, recs = prepare_splits(kept, features)
    runs = []
    for cell in cells:
        for seed in range(args.seeds):
            run_dir = work / f"{cell}-seed{seed}"
            done = run_dir / "result.json"
            if done.is_file():
                runs.append(read_json(done))
                continue
            print(f"== {cell}, seed {seed}", file=sys.stderr)
            model_cfg = DecoderConfig(vocab_size=len(vocab), feature_dim=encoder.spec.feature_dim, cell=cell)
            cfg = TrainConfig(epochs=args.epochs, seed=seed, patience=args.epochs, lr=args.lr)
            summary = fit(split["train"], split["val"], vocab, model_cfg, cfg, encoder.spec, run_dir,
                          device=device, progress=not args.quiet)
            best = Checkpoint.load(run_dir / "best", device)
            test = evaluate_split(best.decoder, split["test"].features, recs["test"], vocab)["scores"]
            result = {"cell": cell, "seed": seed, **summary, "test": test,
                      "val_curve": [r["val_cider"] for r in read_metrics(run_dir)]}
            write_json(done, result)
            runs.append(result)
    table = summarize(runs)
    flow = measure_flow(cells, split["test"], len(vocab), encoder.spec.feature_dim, work)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "cells.json", {"runs": runs, "summary": table, "gradient_flow": flow})
    save_figure(plot_comparison(runs, table), out / "cells.png")
    save_figure(plot_gradient_flow(flow, title="‖∂h_t/∂h_0‖ on real captions"), out / "gradient_flow.png")
    atomic_write_text(out / "cells.md", render_markdown(table, flow, args))
    print(_markdown_table(table))
    return table


def measure_flow(cells: list[str], test, vocab_size: int, feature_dim: int, work: Path,
                 n: int = 64, length: int = 16) -> dict[str, list[float]]:
    """Gradient flow of freshly initialized decoders (and trained seed-0 ones) on test captions."""
    long = (test.tokens != 0).sum(1) >= length
    tokens = test.tokens[long][:n, :length]
    feats = test.features[test.owner[long][:n]]
    flow = {}
    for cell in cells:
        torch.manual_seed(0)
        fresh = CaptionDecoder(DecoderConfig(vocab_size=vocab_size, feature_dim=feature_dim, cell=cell))
        flow[cell] = decoder_gradient_flow(fresh, feats, tokens).tolist()
        trained = work / f"{cell}-seed0" / "best"
        if trained.is_dir():
            flow[f"{cell} (trained)"] = decoder_gradient_flow(Checkpoint.load(trained).decoder, feats, tokens).tolist()
    return flow


def plot_comparison(runs: list[dict], table: dict[str, dict]):
    """Left: test CIDEr mean ± std per cell; right: validation CIDEr per epoch (mean over seeds)."""
    from .visualize import _figure

    fig = _figure(11, 4)
    ax1, ax2 = fig.subplots(1, 2)
    names = list(table)
    ax1.bar(names, [table[c]["CIDEr"][0] for c in names], yerr=[table[c]["CIDEr"][1] for c in names],
            capsize=4, color="tab:blue")
    ax1.set_ylabel("test CIDEr (greedy)")
    ax1.set_title("Test CIDEr, mean ± std over seeds")
    for cell in names:
        curves = [r["val_curve"] for r in runs if r["cell"] == cell]
        n = min(len(c) for c in curves)
        ax2.plot(range(1, n + 1), [statistics.fmean(c[i] for c in curves) for i in range(n)], marker="o", label=cell)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation CIDEr (greedy)")
    ax2.set_title("Learning curves")
    ax2.legend()
    fig.tight_layout()
    return fig


def render_markdown(table: dict[str, dict], flow: dict[str, list[float]], args: argparse.Namespace) -> str:
    cmd = (f"captioning compare-cells --cells {args.cells} --seeds {args.seeds} --epochs {args.epochs}"
           f" --lr {args.lr} --out {args.out}")
    return "\n\n".join([
        "# LSTM family on real captions",
        f"Every cell trained on the same split, cached EfficientNet-Lite0 features and vocabulary, for "
        f"{args.epochs} epochs each with {args.seeds} seeds (embed 512, hidden 512, dropout 0.5, "
        "forget bias 1). Scores are on the 250-image test split with greedy decoding, x100, "
        "from the checkpoint with the best validation CIDEr. Reproduce with:",
        f"```\n{cmd}\n```",
        _markdown_table(table),
        f"Training time, all {sum(r['seeds'] for r in table.values())} runs: "
        f"{sum(r['sec_per_epoch'][0] * r['seeds'] for r in table.values()) * args.epochs / 60:.0f} minutes "
        "(seconds per epoch include validation).",
        "![comparison](cells.png)\n\n![gradient flow](gradient_flow.png)",
        "## What the numbers say about the chapter",
        discussion(table, flow, args.epochs),
    ]) + "\n"
