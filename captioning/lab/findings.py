"""The comparison's findings in words, for results/cells.md: each chapter comparison as its effect,
interval, p and named test (lab.significance), what every seed agrees on, and the learning speed in
the first epochs. Causes are named only where an ablation isolates them."""

from __future__ import annotations

import statistics

from .significance import (
    ALPHA,
    COMPARISONS,
    METRICS,
    PERMUTATION,
    direction,
    learning_speed,
    permutation_test,
)


def format_p(p: float) -> str:
    """A p value as the report prints it: two decimals, three below 0.01, "< 0.001" below that."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def p_text(p: float) -> str:
    """"p = 0.10", or "p < 0.001"."""
    return f"p {format_p(p)}" if p < 0.001 else f"p = {format_p(p)}"


def _signed(x: float, digits: int = 1) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def _span(values: list[float], digits: int = 1) -> str:
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _list(values: list[int]) -> str:
    return ", ".join(map(str, values[:-1])) + f" and {values[-1]}" if len(values) > 1 else str(values[0])


def _seeds(n: list[int]) -> str:
    return f"{n[0]} seeds" if n[0] == n[1] else f"{n[0]} and {n[1]} seeds"


def _effect_text(v: dict) -> str:
    """The effect, its Welch interval, the permutation p and, where it ran, the paired bootstrap."""
    text = (f"{v['cell']} − {v['against']}: {_signed(v['effect'])} test {v['metric']} ({v['means'][0]:.1f} vs "
            f"{v['means'][1]:.1f}, {_seeds(v['n_seeds'])})")
    if v["interval"]:
        text += f", 95% interval {_signed(v['interval'][0])} to {_signed(v['interval'][1])} (Welch t over seeds)"
    text += f", {p_text(v['p_permutation'])} ({PERMUTATION})"
    if b := v["bootstrap"]:
        used = "" if [len(x) for x in b["seeds"]] == v["n_seeds"] else (
            f" (the runs that store per-image scores: {v['cell']} seeds {_list(b['seeds'][0])}, {v['against']} "
            f"seeds {_list(b['seeds'][1])})")
        text += (f"; paired bootstrap over {b['images']} test images{used}: {_signed(b['effect'])}, 95% interval "
                 f"{_signed(b['interval'][0])} to {_signed(b['interval'][1])}, {p_text(b['p'])}")
    return text


def verdict_text(v: dict, runs: list[dict], table: dict) -> str:
    """One comparison (significance.compare) in words: the effect, its interval, p and the test,
    whether it is established at p < 0.05, and what every seed agrees on."""
    c, a, m, effect = v["cell"], v["against"], v["metric"], v["effect"]
    vals = {x: [r["test"][m] for r in runs if r["cell"] == x] for x in (c, a)}
    text = _effect_text(v)
    if v["established"]:
        text += f". Established ({p_text(v['p'])}, below {ALPHA}): {c} scores {'below' if effect < 0 else 'above'} {a}"
    else:
        text += f". Not established with {_seeds(v['n_seeds'])}"
        if v["p_permutation"] <= v["min_p"]:
            text += f" (p is already the smallest this test can give with {_seeds(v['n_seeds'])})"
    if not v["every_seed_agrees"]:
        return text + f"; the seeds overlap ({c} {_span(vals[c])}, {a} {_span(vals[a])})."
    text += (f"{'; ' if v['established'] else ', '}same direction in every seed: every {c} seed {v['direction']} "
             f"every {a} seed ({_span(vals[c])} vs {_span(vals[a])})")
    if all((table[c][k][0] - table[a][k][0]) * effect > 0 for k in METRICS):
        text += f", and {c}'s mean is {'lower' if effect < 0 else 'higher'} on all {len(METRICS)} metrics"
    return text + "."


_NOTES = {
    "gru": "The GRU has {ratio:.2f}× the LSTM's parameters and differs from it in three ways at once (a reset "
           "gate, one update gate for forget and input, no output gate), so this comparison names no cause; "
           "the two ablations and CIFG below each change one of those in the parent cell.",
    "lstm-open-output": "With o = 1 the LSTM exposes tanh(c) whole, as the GRU exposes its state; the ablation "
                        "also drops the output gate's weights ({ratio:.2f}× the LSTM's parameters).",
    "gru-open-reset": "With r = 1 the GRU's candidate always sees the whole previous state; the ablation also "
                      "drops the reset gate's weights ({ratio:.2f}× the GRU's parameters).",
    "cifg": "CIFG has {ratio:.2f}× the LSTM's parameters (its forget gate is 1 − i).",
    "peephole": "",
    "rnn": "The tanh RNN has {ratio:.2f}× the LSTM's parameters, so gates and size differ at once.",
}


def tests_text(vs: list[dict], runs: list[dict]) -> str:
    """How the verdicts are judged: the tests by name, what their p covers, and its floor."""
    stored = sum("test_images" in r for r in runs)
    text = ("**How the verdicts are tested.** Each comparison gives the effect (difference in mean test CIDEr, "
            "first cell minus second), a 95% Welch t interval over seeds, and p from an exact two-sided "
            "permutation test over seeds (every relabelling of the runs enumerated, the observed one included). ")
    if any(v["bootstrap"] for v in vs):
        text += (f"{stored} of {len(runs)} records store per-image test CIDEr; where both cells have such runs, a "
                 "paired bootstrap over the test images (10,000 resamples, seeded; per-image scores averaged over "
                 "those runs) adds the test-set sampling error, and the verdict's p is the larger of the two; "
                 "elsewhere the report uses the seed-level permutation test only. ")
    else:
        why = (f"only {stored} of {len(runs)} records store per-image test scores, no comparison on both sides"
               if stored else "the records store no per-image test scores (runs from before record format 2)")
        text += (f"Here {why}, so this report uses the seed-level permutation test only: its p covers training "
                 "randomness, not which test images were drawn. ")
    floors = sorted({(tuple(v["n_seeds"]), v["min_p"]) for v in vs})
    text += "Smallest p the permutation test can give: " + ", ".join(
        f"{format_p(p)} with {_seeds(list(n))}" for n, p in floors) + ". "
    agree = [f"{v['cell']} {v['direction']} {v['against']}" for v in vs if v["every_seed_agrees"]]
    text += f"{len(vs)} comparison{'s' * (len(vs) != 1)}, each at its own p (no correction for multiple comparisons). "
    return text + ("Every seed agrees in direction (every seed of one cell beyond every seed of the other) on: "
                   + (", ".join(agree) if agree else "none of them") + ".")


def gates_text(table: dict, runs: list[dict], vs: list[dict]) -> list[str]:
    """The chapter's comparisons (verdicts), each in words with what the two cells differ in."""
    out = []
    for v in vs:
        ratio = table[v["cell"]]["parameters"] / table[v["against"]]["parameters"]
        note = _NOTES.get(v["cell"], "").format(ratio=ratio)
        out.append(f"**{v['title']}.** " + verdict_text(v, runs, table) + (f" {note}" if note else ""))
    return out


def learning_speed_text(runs: list[dict], epochs: tuple[int, ...] = (1, 2)) -> str:
    """Validation CIDEr in the first epochs per cell and seed, the comparisons every seed agrees on
    there, and the best epochs of GRU and LSTM with their permutation p."""
    rows = learning_speed(runs, epochs)
    by = {(r["cell"], r["epoch"]): r["val_cider"] for r in rows}
    parts = [f"after epoch {e}: " + ", ".join(f"{r['cell']} {_span(r['val_cider'])}" for r in rows if r["epoch"] == e)
             for e in epochs]
    text = "**Learning speed.** Validation CIDEr (greedy), range over seeds, " + "; ".join(parts) + "."
    agree, ps = [], set()
    for e in epochs:
        pairs = [(c, a, d) for c, a, _ in COMPARISONS if (c, e) in by and (a, e) in by
                 and (d := direction(by[c, e], by[a, e])) != "mixed"]
        ps |= {permutation_test(by[c, e], by[a, e]) for c, a, _ in pairs}
        if pairs:
            agree.append(f"at epoch {e}: " + ", ".join(f"{c} {d} {a}" for c, a, d in pairs))
    if agree:
        text += (" Every seed of one cell beyond every seed of the other, " + "; ".join(agree)
                 + f" ({', '.join(p_text(p) for p in sorted(ps))}, {PERMUTATION}).")
    if {"gru", "lstm"} <= {r["cell"] for r in runs}:
        best = {c: [float(r["best_epoch"]) for r in runs if r["cell"] == c] for c in ("gru", "lstm")}
        p = permutation_test(best["gru"], best["lstm"])
        n = _seeds([len(best["gru"]), len(best["lstm"])])
        text += (f" The best val epoch is gru {_span(best['gru'], 0)} (mean {statistics.fmean(best['gru']):.1f}) and "
                 f"lstm {_span(best['lstm'], 0)} (mean {statistics.fmean(best['lstm']):.1f}), {p_text(p)}: "
                 f"that the GRU peaks sooner is {'established' if p < ALPHA else f'not established with {n}'}.")
    return text + (" These curves say how fast validation CIDEr rises in each cell, not why, nor which cell ends "
                   "higher.")
