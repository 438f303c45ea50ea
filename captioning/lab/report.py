"""The comparison's report: mean ± std per cell, verdicts judged against seed noise, and the
discussion of the chapter's claims, written from the measured numbers and the settings used."""

from __future__ import annotations

import statistics

from ..decoder.config import DecoderConfig
from ..features.config import EncoderSpec
from ..training.config import TrainConfig
from .config import ComparisonConfig

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


def markdown_table(table: dict[str, dict]) -> str:
    head = "| cell | " + " | ".join(METRICS) + " | parameters | s/epoch | epochs to best val CIDEr |"
    lines = [head, "|" + "---|" * (len(METRICS) + 4)]
    for cell, r in table.items():
        cells = [f"{r[m][0]:.1f} ± {r[m][1]:.1f}" for m in METRICS]
        lines.append(f"| {cell} | " + " | ".join(cells) + f" | {r['parameters']:,} | "
                     f"{r['sec_per_epoch'][0]:.0f} | {r['best_epoch'][0]:.1f} ± {r['best_epoch'][1]:.1f} |")
    return "\n".join(lines)


def verdict(a: str, b: str, table: dict, metric: str = "CIDEr") -> str:
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
            + verdict("gru", "lstm", table) + ".")
        out.append(
            "2. **One update gate instead of forget + input.** The GRU couples them (z and 1−z); so "
            "does our `cifg` LSTM (f = 1 − i). Coupling saves parameters: the GRU decoder has "
            f"{ratio:.2f}× the LSTM's parameters. "
            + (verdict("cifg", "lstm", table) + "." if "cifg" in table else ""))
        out.append(
            "3. **No output gate.** The GRU exposes its whole state; the LSTM filters c_t through o_t. "
            f"The GRU trains at {table['gru']['sec_per_epoch'][0]:.0f} s/epoch vs the LSTM's "
            f"{table['lstm']['sec_per_epoch'][0]:.0f} s/epoch here, and reached its best val CIDEr after "
            f"{table['gru']['best_epoch'][0]:.1f} vs {table['lstm']['best_epoch'][0]:.1f} epochs.")
    if "rnn" in table and "lstm" in table:
        gap = table["lstm"]["CIDEr"][0] - table["rnn"]["CIDEr"][0]
        out.append("4. **Plain tanh RNN.** " + verdict("lstm", "rnn", table) + ". "
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
        out.append("6. **Peepholes.** " + verdict("peephole", "lstm", table) + "; the peephole "
                   "loop is not fused, so it is also slower per epoch.")
    late = [c for c, r in table.items() if epochs and r["best_epoch"][0] >= epochs - 0.5]
    if late:
        out.append(f"**Caveat: a short, fixed budget.** {', '.join(late)} reached their best val CIDEr "
                   f"in the last of {epochs} epochs, still improving, so this compares how fast the "
                   "cells learn under one budget, not where they end up after convergence.")
    return "\n\n".join(out)


def settings_text(encoder: EncoderSpec, model: DecoderConfig, train: TrainConfig, cmp: ComparisonConfig) -> str:
    """One sentence with the settings every cell shared, read from the configs actually used."""
    return (f"Every cell trained on the same split, cached {encoder.name}{' (flip-averaged)' if encoder.flip else ''} "
            f"features and vocabulary, with {cmp.seeds} seeds each: embed {model.embed_dim}, hidden "
            f"{model.hidden_dim}, {model.num_layers} layer(s), dropout {model.dropout}, forget bias "
            f"{model.forget_bias}, lr {train.lr:g}, label smoothing {train.label_smoothing}, at most "
            f"{train.epochs} epochs with early stopping after {train.patience} epochs without a better "
            "val CIDEr. Scores are on the test split with greedy decoding, x100, from the checkpoint "
            "with the best validation CIDEr.")


def render_markdown(table: dict[str, dict], flow: dict[str, list[float]], settings: str, command: str,
                    minutes: float, epochs: int) -> str:
    """results/cells.md: the command that made it, the table, the figures and the discussion."""
    return "\n\n".join([
        "# LSTM family on real captions",
        settings + " Reproduce with:",
        f"```\n{command}\n```",
        markdown_table(table),
        f"Training time, all {sum(r['seeds'] for r in table.values())} runs: {minutes:.0f} minutes "
        "(measured; seconds per epoch include validation).",
        "![comparison](cells.png)\n\n![gradient flow](gradient_flow.png)",
        "## What the numbers say about the chapter",
        discussion(table, flow, epochs),
    ]) + "\n"
