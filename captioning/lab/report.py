"""The comparison's report: mean ± std per cell, verdicts judged against seed noise, and the
discussion of the chapter's claims, written from the measured numbers and the settings used."""

from __future__ import annotations

import json
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
            "LSTM's, the peephole LSTM's and the open-output LSTM's forget gate; the GRU's and the open-reset "
            "GRU's update gate z (z = 1 keeps the old state, so it plays the forget role); CIFG's input gate, "
            f"as {-forget_bias:g} (its forget gate is 1 − i). The tanh RNN has no gate and no bias of that kind. "
            "The GRU is PyTorch's reset-after variant. The two ablations fix one gate at exactly 1 and keep "
            "every other equation of their parent, so they also have fewer parameters (the fixed gate's "
            "weights are gone). LSTM, GRU, both ablations and CIFG run PyTorch's fused kernels, peephole a "
            "written-out loop, which is why its epochs take longer.")


def _row(table: dict, cell: str) -> str:
    r = table[cell]["CIDEr"]
    return f"{r[0]:.1f} ± {r[1]:.1f}"


def _gates_text(table: dict) -> list[str]:
    """The chapter's comparisons, each judged against seed noise; causes named only where an
    ablation isolates them."""
    out = []
    if {"lstm", "gru"} <= set(table):
        ratio = table["gru"]["parameters"] / table["lstm"]["parameters"]
        out.append("1. **LSTM against GRU.** " + verdict("gru", "lstm", table) + f". The GRU has {ratio:.2f}× the "
                   "LSTM's parameters, and differs in three ways at once (a reset gate, one update gate for forget "
                   "and input, no output gate); the ablations below test two of them one at a time.")
    if {"lstm", "lstm-open-output"} <= set(table):
        out.append("2. **Ablation: the LSTM's output gate.** " + verdict("lstm", "lstm-open-output", table)
                   + ". With o = 1 the LSTM exposes tanh(c) whole, as the GRU exposes its state.")
    if {"gru", "gru-open-reset"} <= set(table):
        out.append("3. **Ablation: the GRU's reset gate.** " + verdict("gru", "gru-open-reset", table)
                   + ". With r = 1 the GRU's candidate always sees the whole previous state.")
    if {"lstm", "cifg"} <= set(table):
        out.append("4. **Coupled input and forget gates.** " + verdict("cifg", "lstm", table) + ", with "
                   f"{table['cifg']['parameters'] / table['lstm']['parameters']:.2f}× the LSTM's parameters.")
    if {"lstm", "peephole"} <= set(table):
        out.append("5. **Peepholes.** " + verdict("peephole", "lstm", table) + ".")
    if {"lstm", "rnn"} <= set(table):
        out.append("6. **Gates against the plain tanh RNN.** " + verdict("lstm", "rnn", table) + ".")
    return out


def _flow_text(flow: dict[str, list[float]], recurrence: dict[str, dict]) -> list[str]:
    """Gradient flow, fresh and trained, with what sets the trained decay; every cell named."""
    if not {"rnn", "lstm"} <= set(flow):
        return []
    t = len(flow["rnn"])
    text = (f"7. **Gradient flow.** After {t} words of real captions, the Frobenius norm ‖∂h_t/∂h_0‖ is "
            f"{flow['rnn'][-1]:.2e} for the freshly initialized tanh RNN and {flow['lstm'][-1]:.2e} for the LSTM: "
            "the vanishing gradient the chapter describes, measured.")
    if "lstm ∂c" in flow:
        text += f" Along the LSTM's conveyor belt, ‖∂c_t/∂c_0‖ is {flow['lstm ∂c'][-1]:.2e} after {t} words."
    trained = {k[: -len(" (trained)")]: v[-1] for k, v in flow.items() if k.endswith(" (trained)")}
    if trained:
        listed = ", ".join(f"{c} {v:.3g}" for c, v in sorted(trained.items(), key=lambda kv: -kv[1]))
        text += (f" Trained (seed 0), ‖∂h_t/∂h_0‖ after {t} words is, from most kept to least: {listed}. "
                 "Training changes the picture, so a fresh network's decay is not the whole story.")
    lstm, rnn = recurrence.get("lstm", {}), recurrence.get("rnn", {})
    if "keep" in lstm and "gain" in rnn:
        text += (f" What sets the trained decay: the LSTM's forget gates average {lstm['keep']:.2f} on these "
                 f"captions, while the RNN's per-step gain (mean tanh slope {rnn['tanh_slope']:.2f} times the "
                 f"spectral norm {rnn['weight_hh_norm']:.2f} of its recurrent matrix) is {rnn['gain']:.2f}.")
    return [text]


def convergence_text(runs: list[dict]) -> str:
    """Which runs stopped early (best epoch before the last); names every run that did not."""
    late = [f"{r['cell']} seed {r['seed']} (best {r['best_epoch']} of {r['epochs_run']})" for r in runs
            if r["best_epoch"] >= r["epochs_run"]]
    if late:
        return ("**Caveat: not converged.** These runs had their best val CIDEr in their last epoch, so they "
                f"were still improving: {', '.join(late)}.")
    first, last = min(r["best_epoch"] for r in runs), max(r["best_epoch"] for r in runs)
    return (f"**Converged.** Every run's best val CIDEr came before its last epoch (best epochs {first}–{last}): "
            "early stopping ended each one.")


def discussion(table: dict[str, dict], flow: dict[str, list[float]], runs: list[dict],
               recurrence: dict[str, dict] | None = None, forget_bias: float = 1.0) -> str:
    """The chapter's claims checked against the measured numbers; nothing the numbers do not show."""
    out = [*_gates_text(table), *_flow_text(flow, recurrence or {})]
    speeds = ", ".join(f"{c} {r['sec_per_epoch'][0]:.0f} ± {r['sec_per_epoch'][1]:.0f}" for c, r in table.items())
    out.append(f"8. **Speed.** Seconds per epoch (validation included, mean ± std over seeds): {speeds}. The runs "
               "shared this 2-core machine with other work, so these times are not a speed comparison.")
    out.append(cell_differences(forget_bias))
    differ = settings_differences(runs)
    if differ:
        out.append(f"**Warning: the records differ in {', '.join(differ)}**, so this is not one regime.")
    out.append(convergence_text(runs))
    return "\n\n".join(out)


def _val_images(train: TrainConfig) -> str:
    return "all val images" if not train.val_images else f"the first {train.val_images} val images"


def settings_differences(runs: list[dict]) -> list[str]:
    """Settings that differ between records beyond the cell and the seed (should be none). Each is
    compared in its JSON form: a run just trained holds tuples where a record read back holds lists."""
    def shared(r: dict) -> dict:
        s = json.loads(json.dumps(r["settings"]))
        return {**{f"model.{k}": v for k, v in s["model"].items() if k != "cell"},
                **{f"train.{k}": v for k, v in s["train"].items() if k != "seed"},
                **{f"encoder.{k}": v for k, v in s["encoder"].items()}}
    first = shared(runs[0]) if runs else {}
    return sorted({k for r in runs[1:] for k, v in shared(r).items() if first.get(k) != v})


def settings_text(encoder: EncoderSpec, model: DecoderConfig, train: TrainConfig, cmp: ComparisonConfig) -> str:
    """One sentence with the settings every cell shared, read from the configs actually used."""
    return (f"Every cell trained on the same split, cached {encoder.name}{' (flip-averaged)' if encoder.flip else ''} "
            f"features and vocabulary, with {cmp.seeds} seeds each: embed {model.embed_dim}, hidden "
            f"{model.hidden_dim}, {model.num_layers} layer(s), dropout {model.dropout}, forget bias "
            f"{model.forget_bias}, batch {train.batch_size}, lr {train.lr:g}, label smoothing "
            f"{train.label_smoothing}, fp32, validation on {_val_images(train)} every epoch with greedy decoding, at most {train.epochs} epochs with early stopping "
            f"after {train.patience} epochs without a better val CIDEr (the rule `captioning train` uses). "
            "Scores are on the test split with greedy decoding, x100, from the checkpoint with the best "
            "validation CIDEr. No speed-up applies to one cell and not the others.")


def render_markdown(table: dict[str, dict], flow: dict[str, list[float]], settings: str, command: str,
                    minutes: float, runs: list[dict], recurrence: dict[str, dict] | None = None) -> str:
    """results/cells.md: the command that made it, the table, the figures and the discussion."""
    forget_bias = runs[0]["settings"]["model"]["forget_bias"] if runs else 1.0
    return "\n\n".join([
        "# LSTM family on real captions",
        f"```\n{command}\n```",
        settings,
        markdown_table(table),
        f"Run time of all {len(runs)} runs: {minutes:.0f} minutes, measured (training, validation and test "
        "scoring, summed over the runs' records).",
        "![comparison](cells.png)\n\n![gradient flow](gradient_flow.png)",
        "## What the numbers say about the chapter",
        discussion(table, flow, runs, recurrence, forget_bias),
    ]) + "\n"
