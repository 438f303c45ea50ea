"""The comparison's report: mean ± std per cell, each chapter comparison judged by named tests
(lab.significance), the learning-speed finding and the discussion of the chapter's claims, written
from the measured numbers and the settings used."""

from __future__ import annotations

import json
import statistics
from collections import Counter

from ..decoder.config import DecoderConfig
from ..training.config import TrainConfig
from .findings import gates_text, learning_speed_text, tests_text
from .significance import METRICS, learning_speed, verdicts


def _cap(run: dict) -> float:
    """The run's epoch cap (train.epochs), or infinity where its settings do not say."""
    return run["settings"]["train"].get("epochs") or float("inf")


def caps_text(runs: list[dict]) -> str:
    """The epoch caps, the most common first: "30 epochs", or "30 epochs (40 for rnn)" where a cell
    was given a larger cap (its cosine schedule then spans that cap)."""
    cells = {r["cell"]: _cap(r) for r in runs}
    count = Counter(cells.values())
    main, *others = sorted(count, key=lambda cap: (-count[cap], cap))
    other = [f"{cap:g} for {', '.join(c for c, k in cells.items() if k == cap)}" for cap in others]
    return f"{main:g} epochs" + (f" ({'; '.join(other)})" if other else "")


def retrain_groups(runs: list[dict]) -> list[tuple[list[str], int, float]]:
    """(cells, seeds, epoch cap) per group of cells that share a cap and a seed count, in the
    comparison's order: one compare-cells run per group retrains every record from scratch."""
    groups: dict[tuple[float, int], list[str]] = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        rs = [r for r in runs if r["cell"] == cell]
        groups.setdefault((_cap(rs[0]), max(r["seed"] for r in rs) + 1), []).append(cell)
    return [(cells, seeds, cap) for (cap, seeds), cells in groups.items()]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Per cell: mean/std of test metrics, parameters, s/epoch, best and last epoch, seeds, and
    whether every run was early-stopped (best epoch before its last, last before the epoch cap)."""
    table: dict[str, dict] = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        rs = [r for r in runs if r["cell"] == cell]
        row = {m: _mean_std([r["test"][m] for r in rs]) for m in METRICS}
        row["parameters"] = rs[0]["parameters"]
        row["sec_per_epoch"] = _mean_std([r["train_seconds"] / r["epochs_run"] for r in rs])
        row["best_epoch"] = _mean_std([float(r["best_epoch"]) for r in rs])
        row["epochs_run"] = _mean_std([float(r["epochs_run"]) for r in rs])
        row["early_stopped"] = all(r["best_epoch"] < r["epochs_run"] < _cap(r) for r in rs)
        row["seeds"] = len(rs)
        table[cell] = row
    return table


def markdown_table(table: dict[str, dict]) -> str:
    """Mean ± std over seeds per cell, with its number of seeds, parameters and epochs."""
    head = ("| cell | seeds | " + " | ".join(METRICS) + " | parameters | s/epoch | best epoch | epochs run |")
    lines = [head, "|" + "---|" * (len(METRICS) + 6)]
    for cell, r in table.items():
        cells = [f"{r[m][0]:.1f} ± {r[m][1]:.1f}" for m in METRICS]
        lines.append(f"| {cell} | {r['seeds']} | " + " | ".join(cells) + f" | {r['parameters']:,} | {r['sec_per_epoch'][0]:.0f} | "
                     f"{r['best_epoch'][0]:.1f} ± {r['best_epoch'][1]:.1f} | "
                     f"{r['epochs_run'][0]:.1f} ± {r['epochs_run'][1]:.1f} |")
    return "\n".join(lines)


def _flow_text(flow: dict[str, list[float]], recurrence: dict[str, dict]) -> list[str]:
    """Gradient flow, fresh and trained, and the trained cells' decay rates and gate means, as
    measured; the RNN's gain is reported as the loose bound it is, not as a cause."""
    if not {"rnn", "lstm"} <= set(flow):
        return []
    t = len(flow["rnn"])
    text = (f"**Gradient flow.** After {t} words of real captions, the Frobenius norm ‖∂h_t/∂h_0‖ is "
            f"{flow['rnn'][-1]:.2e} for the freshly initialized tanh RNN and {flow['lstm'][-1]:.2e} for the LSTM: "
            "the vanishing gradient the chapter describes, measured.")
    if "lstm ∂c" in flow:
        text += f" Along the LSTM's conveyor belt, ‖∂c_t/∂c_0‖ is {flow['lstm ∂c'][-1]:.2e} after {t} words."
    trained = {k[: -len(" (trained)")]: v[-1] for k, v in flow.items() if k.endswith(" (trained)")}
    if trained:
        listed = ", ".join(f"{c} {v:.3g}" for c, v in sorted(trained.items(), key=lambda kv: -kv[1]))
        text += (f" Trained (seed 0), ‖∂h_t/∂h_0‖ after {t} words is, from most kept to least: {listed}. "
                 "Training changes the picture, so a fresh network's decay is not the whole story.")
    rates = [f"{c} {r['decay_rate']:.3f}" for c, r in recurrence.items() if "decay_rate" in r]
    if rates:
        text += (" Trained per-step decay rate of that norm ((n_T/n_1)^(1/(T−1)), below 1 it shrinks): "
                 + ", ".join(rates) + ".")
    keeps = [f"{c} {r.get('keep_gate', 'gate')} {r['keep']:.2f}" for c, r in recurrence.items() if "keep" in r]
    if keeps:
        text += " Mean keep gate on these captions: " + ", ".join(keeps) + "."
    rnn = recurrence.get("rnn", {})
    if "gain" in rnn:
        text += (f" The RNN's gain, mean tanh slope {rnn['tanh_slope']:.2f} times the spectral norm "
                 f"{rnn['weight_hh_norm']:.2f} of its recurrent matrix, is {rnn['gain']:.2f}: at best a loose upper "
                 "bound on its per-step factor (the spectral norm is the stretch of the single most-stretched "
                 "direction)")
        if "decay_rate" in rnn:
            text += f", so a gain above 1 does not contradict the measured decay rate of {rnn['decay_rate']:.3f}"
        text += ". These numbers describe the trained cells; they do not say what sets their decay."
    return [text]


def stopping_text(runs: list[dict]) -> str:
    """Whether every run was early-stopped before its epoch cap, at which epochs; names every run
    that was not (best epoch last, or the cap reached)."""
    cap = {_cap(r) for r in runs}
    patience = {r["settings"]["train"].get("patience") for r in runs}
    late = [f"{r['cell']} seed {r['seed']} (best {r['best_epoch']} of {r['epochs_run']})" for r in runs
            if not r["best_epoch"] < r["epochs_run"] < _cap(r)]
    if late:
        return ("**Caveat: not early-stopped.** These runs had their best val CIDEr in their last epoch or ran to "
                f"the epoch cap, so they may still have been improving: {', '.join(late)}.")
    best, ran = [r["best_epoch"] for r in runs], [r["epochs_run"] for r in runs]
    capped = (f" of the {cap.pop():g}-epoch cap" if len(cap) == 1 else f", before a cap of {caps_text(runs)}"
              ) if float("inf") not in cap else ""
    waited = f"{patience.pop()} epochs" if len(patience) == 1 and None not in patience else "epochs"
    text = (f"**Early-stopped.** Every run stopped at epochs {min(ran)}–{max(ran)}{capped}, after {waited} without a "
            f"better val CIDEr (best epochs {min(best)}–{max(best)}); its scores are from its best epoch. The "
            "cosine learning-rate schedule spans the whole cap, so every run stopped before its schedule ended: "
            "early-stopped, which is not the same as converged.")
    if len(cap) > 1:
        text += (" A cell given a larger cap has its schedule stretched over it, so its learning rate decays more "
                 "slowly than the other cells': compare its epochs with that in mind.")
    return text


def cell_differences(forget_bias: float, runs: list[dict] | None = None) -> str:
    """Every setting that differs between the cells (everything else is shared), the runs' epoch
    caps included where they differ by cell."""
    runs = runs or []
    mixed = len({_cap(r) for r in runs}) > 1
    lead = f"Besides the epoch cap, which is {caps_text(runs)}, the one setting" if mixed else "The one setting"
    return (f"{lead} that differs between cells is where the forget bias ({forget_bias:g}) goes: the "
            "LSTM's, the peephole LSTM's and the open-output LSTM's forget gate; the GRU's and the open-reset "
            "GRU's update gate z (z = 1 keeps the old state, so it plays the forget role); CIFG's input gate, "
            f"as {-forget_bias:g} (its forget gate is 1 − i). The tanh RNN has no gate and no bias of that kind. "
            "The GRU is PyTorch's reset-after variant. The two ablations fix one gate at exactly 1 and keep "
            "every other equation of their parent, so they also have fewer parameters (the fixed gate's "
            "weights are gone). LSTM, GRU, the RNN, both ablations and CIFG run PyTorch's fused kernels; the "
            "peephole LSTM runs a written-out loop.")


def discussion(table: dict[str, dict], flow: dict[str, list[float]], runs: list[dict],
               recurrence: dict[str, dict] | None = None, forget_bias: float = 1.0) -> str:
    """The chapter's claims checked against the measured numbers; nothing the numbers do not show."""
    vs = verdicts(runs)
    items = gates_text(table, runs, vs)
    if learning_speed(runs):
        items.append(learning_speed_text(runs))
    items += _flow_text(flow, recurrence or {})
    speeds = ", ".join(f"{c} {r['sec_per_epoch'][0]:.0f} ± {r['sec_per_epoch'][1]:.0f}" for c, r in table.items())
    items.append(f"**Speed.** Seconds per epoch (validation included, mean ± std over seeds): {speeds}. The runs "
                 "shared this 2-core machine with other work, so these times are not a speed comparison.")
    out = [tests_text(vs, runs)] if vs else []
    out += [f"{i}. {text}" for i, text in enumerate(items, 1)]
    out.append(cell_differences(forget_bias, runs))
    differ = settings_differences(runs)
    if differ:
        out.append(f"**Warning: the records differ in {', '.join(differ)}**, so this is not one regime.")
    out.append(stopping_text(runs))
    return "\n\n".join(out)


def settings_differences(runs: list[dict]) -> list[str]:
    """Settings that differ between records beyond the cell, the seed and a cell's epoch cap (should be
    none; the caps are stated per cell, and may not differ within one). Each is compared in its JSON
    form: a run just trained holds tuples where a record read back holds lists. A field missing from
    an older record (added since, e.g. train.views) counts as its default."""
    defaults = json.loads(json.dumps({"model": DecoderConfig().to_dict(), "train": TrainConfig().to_dict()}))

    def shared(r: dict) -> dict:
        s = json.loads(json.dumps(r["settings"]))
        model, train = {**defaults["model"], **s["model"]}, {**defaults["train"], **s["train"]}
        return {**{f"model.{k}": v for k, v in model.items() if k != "cell"},
                **{f"train.{k}": v for k, v in train.items() if k not in ("seed", "epochs")},
                **{f"encoder.{k}": v for k, v in s["encoder"].items()}}
    first = shared(runs[0]) if runs else {}
    differ = {k for r in runs[1:] for k, v in shared(r).items() if first.get(k) != v}
    cells = {r["cell"] for r in runs}
    mixed = [c for c in cells if len({_cap(r) for r in runs if r["cell"] == c}) > 1]
    return sorted(differ | {f"train.epochs within {c}" for c in mixed})


def seeds_text(runs: list[dict]) -> str:
    """How many seeds each cell has: "3 seeds each", or "5 seeds for lstm, gru, rnn and 3 for ..."."""
    counts = {c: sum(r["cell"] == c for r in runs) for c in dict.fromkeys(r["cell"] for r in runs)}
    groups = {n: [c for c, k in counts.items() if k == n] for n in sorted(set(counts.values()), reverse=True)}
    if len(groups) == 1:
        return f"{next(iter(groups))} seeds each"
    return " and ".join(f"{n} seeds for {', '.join(cells)}" for n, cells in groups.items())


def settings_text(runs: list[dict]) -> str:
    """One sentence with the settings every cell shared, read from the first record (the others
    are checked against it by settings_differences), and the seeds each cell has."""
    s = runs[0]["settings"]
    enc, model, train = s["encoder"], s["model"], s["train"]
    val = f"the first {train['val_images']} val images" if train.get("val_images") else "all val images"
    return (f"Every cell trained on the same split, cached {enc['name']}{' (flip-averaged)' if enc.get('flip') else ''} "
            f"features and vocabulary, with {seeds_text(runs)}: embed {model['embed_dim']}, hidden "
            f"{model['hidden_dim']}, {model['num_layers']} layer(s), dropout {model['dropout']}, forget bias "
            f"{model['forget_bias']}, batch {train['batch_size']}, lr {train['lr']:g}, label smoothing "
            f"{train['label_smoothing']}, fp32, validation on {val} every epoch with greedy decoding, at most "
            f"{caps_text(runs)} with early stopping after {train['patience']} epochs without a better val "
            "CIDEr (the rule `captioning train` uses). Scores are on the test split with greedy decoding, x100, from "
            "the checkpoint with the best validation CIDEr. No speed-up applies to one cell and not the others.")


def render_markdown(table: dict[str, dict], flow: dict[str, list[float]], settings: str, commands: list[str],
                    minutes: float, runs: list[dict], recurrence: dict[str, dict] | None = None) -> str:
    """results/cells.md: the commands that retrain its records, the table, the figures and the discussion."""
    forget_bias = runs[0]["settings"]["model"]["forget_bias"] if runs else 1.0
    return "\n\n".join([
        "# LSTM family on real captions",
        "\n".join(["```", *commands, "```"]),
        settings,
        markdown_table(table),
        f"Run time of all {len(runs)} runs: {minutes:.0f} minutes, measured (training, validation and test "
        "scoring, summed over the runs' records).",
        "![comparison](cells.png)\n\n![gradient flow](gradient_flow.png)",
        "## What the numbers say about the chapter",
        discussion(table, flow, runs, recurrence, forget_bias),
    ]) + "\n"
