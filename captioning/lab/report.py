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
    """Per cell: mean/std of test metrics, parameters, s/epoch, best and last epoch, convergence."""
    table: dict[str, dict] = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        rs = [r for r in runs if r["cell"] == cell]
        row = {m: _mean_std([r["test"][m] for r in rs]) for m in METRICS}
        row["parameters"] = rs[0]["parameters"]
        row["sec_per_epoch"] = _mean_std([r["train_seconds"] / r["epochs_run"] for r in rs])
        row["best_epoch"] = _mean_std([float(r["best_epoch"]) for r in rs])
        row["epochs_run"] = _mean_std([float(r["epochs_run"]) for r in rs])
        row["converged"] = all(r["best_epoch"] < r["epochs_run"] for r in rs)
        row["seeds"] = len(rs)
        table[cell] = row
    return table


def markdown_table(table: dict[str, dict]) -> str:
    head = ("| cell | " + " | ".join(METRICS) + " | parameters | s/epoch | best epoch | epochs run |")
    lines = [head, "|" + "---|" * (len(METRICS) + 5)]
    for cell, r in table.items():
        cells = [f"{r[m][0]:.1f} ± {r[m][1]:.1f}" for m in METRICS]
        lines.append(f"| {cell} | " + " | ".join(cells) + f" | {r['parameters']:,} | {r['sec_per_epoch'][0]:.0f} | "
                     f"{r['best_epoch'][0]:.1f} ± {r['best_epoch'][1]:.1f} | "
                     f"{r['epochs_run'][0]:.1f} ± {r['epochs_run'][1]:.1f} |")
    return "\n".join(lines)


def verdict(a: str, b: str, table: dict, metric: str = "CIDEr") -> str:
    """'a beats b' only when the gap exceeds the seed noise (twice the larger std, at least 1 point)."""
    (ma, sa), (mb, sb) = table[a][metric], table[b][metric]
    noise = max(2 * max(sa, sb), 1.0)
    if abs(ma - mb) <= noise:
        return (f"{a} and {b} are within seed noise on {metric} ({ma:.1f} ± {sa:.1f} vs {mb:.1f} ± {sb:.1f}; "
                "the gap is not larger than twice the seeds' spread)")
    hi, lo = (a, b) if ma > mb else (b, a)
    return (f"{hi} beats {lo} on {metric} ({table[hi][metric][0]:.1f} ± {table[hi][metric][1]:.1f} vs "
            f"{table[lo][metric][0]:.1f} ± {table[lo][metric][1]:.1f})")


def cell_differences(forget_bias: float) -> str:
    """Every setting that differs between the cells (everything else is shared)."""
    return (f"The one setting that differs between cells is where the forget bias ({forget_bias:g}) goes: the "
            "LSTM's and the peephole LSTM's forget gate; the GRU's update gate z (z = 1 keeps the old state, "
            f"so it plays the forget role); CIFG's input gate, as {-forget_bias:g} (its forget gate is 1 − i). "
            "The tanh RNN has no gate and no bias of that kind. The GRU is PyTorch's reset-after variant; "
            "LSTM, GRU and RNN run PyTorch's fused kernels, peephole and CIFG a written-out loop.")


def _gates_text(table: dict) -> list[str]:
    out = []
    if {"lstm", "rnn"} <= set(table):
        out.append("1. **Gates against the plain tanh RNN.** " + verdict("lstm", "rnn", table) + ".")
    if {"lstm", "gru"} <= set(table):
        ratio = table["gru"]["parameters"] / table["lstm"]["parameters"]
        out.append("2. **LSTM against GRU.** " + verdict("gru", "lstm", table) + f". The GRU has {ratio:.2f}× the "
                   "LSTM's parameters. The GRU differs in three ways at once (a reset gate, one update gate for "
                   "forget and input, no output gate), so this comparison cannot say which one matters.")
    if {"lstm", "cifg"} <= set(table):
        out.append("3. **Coupled input and forget gates.** " + verdict("cifg", "lstm", table) + ", with "
                   f"{table['cifg']['parameters'] / table['lstm']['parameters']:.2f}× the LSTM's parameters.")
    if {"lstm", "peephole"} <= set(table):
        out.append("4. **Peepholes.** " + verdict("peephole", "lstm", table) + ".")
    return out


def _flow_text(flow: dict[str, list[float]], recurrence: dict[str, dict]) -> list[str]:
    if not {"rnn", "lstm"} <= set(flow):
        return []
    t = len(flow["rnn"])
    text = (f"5. **Gradient flow.** After {t} words of real captions, the Frobenius norm ‖∂h_t/∂h_0‖ is "
            f"{flow['rnn'][-1]:.2e} for the freshly initialized tanh RNN and {flow['lstm'][-1]:.2e} for the LSTM: "
            "the vanishing gradient the chapter describes, measured.")
    if "lstm ∂c" in flow:
        text += f" Along the LSTM's conveyor belt, ‖∂c_t/∂c_0‖ is {flow['lstm ∂c'][-1]:.2e} after {t} words."
    if {"rnn (trained)", "lstm (trained)"} <= set(flow):
        text += (f" Trained, the RNN keeps {flow['rnn (trained)'][-1]:.2e} and the LSTM {flow['lstm (trained)'][-1]:.2e}.")
        lstm, rnn = recurrence.get("lstm", {}), recurrence.get("rnn", {})
        if "keep" in lstm and "gain" in rnn:
            text += (f" What sets the decay: the trained LSTM's forget gates average {lstm['keep']:.2f} on these "
                     f"captions (it learned to forget), while the trained RNN's per-step gain, its mean tanh slope "
                     f"{rnn['tanh_slope']:.2f} times the spectral norm {rnn['weight_hh_norm']:.2f} of its recurrent "
                     f"matrix, is {rnn['gain']:.2f}.")
    return [text]


def discussion(table: dict[str, dict], flow: dict[str, list[float]], epochs: int | None = None,
               recurrence: dict[str, dict] | None = None, forget_bias: float = 1.0) -> str:
    """The chapter's claims checked against the measured numbers; nothing the numbers do not show."""
    out = [*_gates_text(table), *_flow_text(flow, recurrence or {})]
    speeds = ", ".join(f"{c} {r['sec_per_epoch'][0]:.0f}" for c, r in table.items())
    out.append(f"6. **Speed.** Seconds per epoch (validation included): {speeds}. On this shared 2-core "
               "machine, differences of about 10% are noise.")
    out.append(cell_differences(forget_bias))
    late = [c for c, r in table.items() if not r.get("converged", True)]
    if late:
        out.append(f"**Caveat: not converged.** Some runs of {', '.join(late)} had their best val CIDEr in their "
                   f"last epoch (of at most {epochs}): they were still improving.")
    else:
        out.append("**Converged.** Every run's best val CIDEr came before its last epoch: early stopping ended it.")
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
                    minutes: float, epochs: int, recurrence: dict[str, dict] | None = None,
                    forget_bias: float = 1.0) -> str:
    """results/cells.md: the command that made it, the table, the figures and the discussion."""
    return "\n\n".join([
        "# LSTM family on real captions",
        settings + " Reproduce with:",
        f"```\n{command}\n```",
        markdown_table(table),
        f"Run time of this command, all {sum(r['seeds'] for r in table.values())} runs: {minutes:.0f} minutes, "
        "measured (training, validation and test scoring).",
        "![comparison](cells.png)\n\n![gradient flow](gradient_flow.png)",
        "## What the numbers say about the chapter",
        discussion(table, flow, epochs, recurrence, forget_bias),
    ]) + "\n"
