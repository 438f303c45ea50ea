"""Named tests for the cell comparison, replacing the "gap larger than twice the seeds' spread" rule.

Two sources of noise: training randomness (the seed) and which test images were drawn. The exact
permutation test over seeds asks whether the seed-level difference in mean test CIDEr could come
from relabelling runs; the paired bootstrap over test images (where the records store per-image
CIDEr) asks whether the difference would hold on other images. A verdict takes the larger p."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

import numpy as np

COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("gru", "lstm", "LSTM against GRU"),
    ("lstm-open-output", "lstm", "Ablation: the LSTM's output gate"),
    ("gru-open-reset", "gru", "Ablation: the GRU's reset gate"),
    ("cifg", "lstm", "Coupled input and forget gates"),
    ("peephole", "lstm", "Peepholes"),
    ("rnn", "lstm", "Gates against the plain tanh RNN"),
)
METRICS = ("CIDEr", "BLEU-4", "METEOR", "ROUGE-L")  # the test scores the report compares
PERMUTATION = "exact two-sided permutation test over seeds"
ALPHA = 0.05


def permutation_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided p for the difference in means: the share of all ways to split the pooled
    values into groups of len(a) and len(b) whose |difference| is at least the observed one."""
    pooled = [float(v) for v in (*a, *b)]
    n, total = len(a), sum(pooled)
    if n == 0 or len(b) == 0:
        raise ValueError("both groups need at least one value")

    def gap(group: Sequence[float]) -> float:
        return abs(sum(group) / n - (total - sum(group)) / len(b))

    observed = gap(pooled[:n])
    tol = 1e-9 * max(1.0, abs(observed))
    splits = [gap([pooled[i] for i in idx]) for idx in itertools.combinations(range(len(pooled)), n)]
    return sum(g >= observed - tol for g in splits) / len(splits)


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest p the exact permutation test can give with these group sizes (3 vs 3: 0.10; with
    equal sizes a split and its mirror image are equally extreme)."""
    return min(1.0, (2 if n_a == n_b else 1) / math.comb(n_a + n_b, n_a))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), by Lentz's continued fraction (Numerical Recipes)."""
    if x <= 0.0 or x >= 1.0:
        return max(0.0, min(1.0, x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    f, c, d, tiny = 1.0, 1.0, 0.0, 1e-300
    for i in range(1000):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / (1.0 + num * d if abs(1.0 + num * d) > tiny else tiny)
        c = 1.0 + num / c if abs(1.0 + num / c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-15:
            break
    return front * (f - 1.0)


def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t with df (real) degrees of freedom, by bisection on its CDF."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while 1.0 - 0.5 * _betainc(df / 2, 0.5, df / (df + hi * hi)) < q:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1.0 - 0.5 * _betainc(df / 2, 0.5, df / (df + mid * mid)) < q else (lo, mid)
    return (lo + hi) / 2


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Welch's t interval for mean(a) - mean(b) (unequal variances); None with fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return None
    effect = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return effect, effect
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return effect - half, effect + half


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Difference in mean per-image score, a - b, on the same images: percentile interval and a
    two-sided p (twice the smaller share of resampled differences on either side of 0)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("a and b must be equally long, non-empty 1-d score lists")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    below, above = int((means <= 0).sum()), int((means >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    return {"effect": float(d.mean()), "interval": [float(lo), float(hi)], "p": p, "images": len(d),
            "resamples": resamples}


def direction(a: Sequence[float], b: Sequence[float]) -> str:
    """"above" when every value of a is above every value of b, "below" for the reverse, else "mixed"."""
    if min(a) > max(b):
        return "above"
    if max(a) < min(b):
        return "below"
    return "mixed"


def per_image(runs: Sequence[dict], metric: str = "CIDEr") -> tuple[list, list[int], np.ndarray] | None:
    """(image ids, the seeds used, per-image test score averaged over them) from the runs whose
    records store per-image scores (records from format 2 on), or None when none does."""
    have = [r for r in runs if metric in (r.get("test_images") or {})]
    if not have:
        return None
    ids = have[0]["test_images"]["image_ids"]
    if any(r["test_images"]["image_ids"] != ids for r in have):
        raise ValueError("the runs' per-image scores are on different test images")
    return ids, [r["seed"] for r in have], np.mean([r["test_images"][metric] for r in have], axis=0)


def compare(cell_runs: Sequence[dict], against_runs: Sequence[dict], metric: str = "CIDEr",
            resamples: int = 10_000, seed: int = 0) -> dict:
    """One verdict: effect (mean cell - mean against), Welch interval over seeds, the permutation
    p, the paired bootstrap over the runs that store per-image scores (bootstrap["seeds"] says
    which), and whether every seed agrees."""
    a, b = [r["test"][metric] for r in cell_runs], [r["test"][metric] for r in against_runs]
    interval = welch_interval(a, b)
    p_perm = permutation_test(a, b)
    pa, pb = per_image(cell_runs, metric), per_image(against_runs, metric)
    boot = None
    if pa is not None and pb is not None:
        if pa[0] != pb[0]:
            raise ValueError("the two cells' per-image scores are on different test images")
        boot = {**paired_bootstrap(pa[2], pb[2], resamples, seed), "seeds": [pa[1], pb[1]]}
    test = PERMUTATION if boot is None else (
        f"{PERMUTATION} and paired bootstrap over {boot['images']} test images (p is the larger of the two)")
    p = p_perm if boot is None else max(p_perm, boot["p"])
    side = direction(a, b)
    return {"metric": metric, "n_seeds": [len(a), len(b)],
            "means": [statistics.fmean(a), statistics.fmean(b)],
            "effect": statistics.fmean(a) - statistics.fmean(b),
            "interval": list(interval) if interval else None, "p": p, "test": test, "p_permutation": p_perm,
            "min_p": smallest_p(len(a), len(b)), "bootstrap": boot, "every_seed_agrees": side != "mixed",
            "direction": side, "established": p < ALPHA}


def verdicts(records: Sequence[dict], metric: str = "CIDEr", resamples: int = 10_000, seed: int = 0) -> list[dict]:
    """The chapter's comparisons (COMPARISONS) whose two cells both have records, each judged by
    compare(); deterministic (the bootstrap's generator is seeded)."""
    by_cell: dict[str, list[dict]] = {}
    for r in records:
        by_cell.setdefault(r["cell"], []).append(r)
    return [{"cell": cell, "against": against, "title": title,
             **compare(by_cell[cell], by_cell[against], metric, resamples, seed)}
            for cell, against, title in COMPARISONS if cell in by_cell and against in by_cell]


def learning_speed(records: Sequence[dict], epochs: Sequence[int] = (1, 2)) -> list[dict]:
    """Validation CIDEr at the given epochs (1 = the first), per cell in records order and seed."""
    rows = []
    for cell in dict.fromkeys(r["cell"] for r in records):
        runs = sorted((r for r in records if r["cell"] == cell), key=lambda r: r["seed"])
        for epoch in epochs:
            have = [r for r in runs if len(r.get("val_curve") or ()) >= epoch]
            values = [float(r["val_curve"][epoch - 1]) for r in have]
            if values:
                rows.append({"cell": cell, "epoch": epoch, "seeds": [r["seed"] for r in have], "val_cider": values,
                             "min": min(values), "max": max(values), "mean": statistics.fmean(values)})
    return rows
