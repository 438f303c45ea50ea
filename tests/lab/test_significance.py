"""The named tests that judge the cell comparison, on tiny arrays with answers known by hand."""

import json
import math

import numpy as np
import pytest

from captioning.core.errors import InputError
from captioning.lab import significance as sig


def run(cell, seed, cider, images=None, curve=(10.0, 20.0)):
    r = {"cell": cell, "seed": seed, "test": {"CIDEr": cider, "METEOR": cider / 3}, "val_curve": list(curve)}
    if images is not None:
        r["test_images"] = {"image_ids": list(range(len(images))), "CIDEr": list(images)}
    return r


# ----------------------------------------------------------------------------- permutation test
def test_three_against_three_fully_separated_gives_the_smallest_p():
    # 20 ways to choose 3 of 6; only the observed split and its mirror are as extreme: 2/20.
    assert sig.permutation_test([1, 2, 3], [4, 5, 6]) == pytest.approx(0.10)
    assert sig.permutation_test([4, 5, 6], [1, 2, 3]) == pytest.approx(0.10)
    assert sig.smallest_p(3, 3) == pytest.approx(0.10)


def test_identical_groups_give_p_one():
    assert sig.permutation_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert sig.permutation_test([5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0


def test_permutation_p_counts_every_split_at_least_as_extreme():
    # 2 vs 2: the six splits of {0, 1, 2, 10} have |mean difference| 5.5 ({0,1}, {2,10}),
    # 4.5 ({0,2}, {1,10}) and 3.5 ({0,10}, {1,2}).
    assert sig.permutation_test([0, 2], [1, 10]) == pytest.approx(4 / 6)
    assert sig.permutation_test([0, 1], [2, 10]) == pytest.approx(2 / 6)
    assert sig.permutation_test([0, 10], [1, 2]) == 1.0
    assert sig.smallest_p(5, 5) == pytest.approx(2 / 252) and sig.smallest_p(5, 3) == pytest.approx(1 / 56)


def test_unequal_groups_and_empty_groups():
    # 1 vs 2: {0} vs {5, 6} is the only split with a gap of 5.5 (the others: 2 and 3.5).
    assert sig.permutation_test([0], [5, 6]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        sig.permutation_test([], [1.0])


# ----------------------------------------------------------------------------- intervals
def test_t_quantiles_match_the_tables():
    for df, q in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (1e6, 1.9600)):
        assert sig.t_quantile(0.975, df) == pytest.approx(q, abs=1e-4)
    assert sig.t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)


def test_welch_interval_by_hand():
    # means 2 and 5, variances 1 and 1, n 3 and 3: se = sqrt(2/3), df = 4, t = 2.7764.
    lo, hi = sig.welch_interval([1, 2, 3], [4, 5, 6])
    half = 2.776445 * math.sqrt(2 / 3)
    assert (lo, hi) == pytest.approx((-3 - half, -3 + half), abs=1e-4)
    assert sig.welch_interval([1.0], [2.0, 3.0]) is None  # one seed: no spread to build it from
    assert sig.welch_interval([2.0, 2.0], [1.0, 1.0]) == (1.0, 1.0)


# ----------------------------------------------------------------------------- paired bootstrap
def test_paired_bootstrap_of_a_constant_difference_is_that_difference():
    out = sig.paired_bootstrap([3.0, 5.0, 9.0, 1.0], [2.0, 4.0, 8.0, 0.0])
    assert out["effect"] == 1.0 and out["interval"] == [1.0, 1.0] and out["images"] == 4
    assert out["p"] == pytest.approx(2 / 10_001)  # never on the other side of 0: the smallest p


def test_paired_bootstrap_of_identical_scores_gives_p_one_and_is_deterministic():
    a = [1.0, 4.0, 2.0, 8.0]
    assert sig.paired_bootstrap(a, a)["p"] == 1.0 and sig.paired_bootstrap(a, a)["interval"] == [0.0, 0.0]
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    first, again = sig.paired_bootstrap(x, y, seed=3), sig.paired_bootstrap(x, y, seed=3)
    assert first == again
    assert first["interval"][0] < first["effect"] < first["interval"][1] and 0 < first["p"] <= 1


def test_paired_bootstrap_pairs_images_rather_than_pooling_them():
    # Large spread between images, a small constant shift: pairing sees the shift clearly.
    base = np.linspace(0, 200, 40)
    out = sig.paired_bootstrap(base + 1.0, base, resamples=2000)
    assert out["effect"] == pytest.approx(1.0) and out["p"] < 0.01


# ----------------------------------------------------------------------------- verdicts
def test_direction_only_when_every_value_agrees():
    assert sig.direction([1, 2], [3, 4]) == "below" and sig.direction([5, 6], [3, 4]) == "above"
    assert sig.direction([1, 5], [3, 4]) == "mixed"


def test_verdicts_follow_the_chapter_order_and_use_the_permutation_test_without_per_image_scores():
    runs = [run("lstm", s, c) for s, c in enumerate((63.3, 65.1, 66.8))]
    runs += [run("rnn", s, c) for s, c in enumerate((52.7, 62.6, 51.4))]
    runs += [run("gru", s, c) for s, c in enumerate((67.6, 64.4, 62.8))]
    vs = sig.verdicts(runs)
    assert [(v["cell"], v["against"]) for v in vs] == [("gru", "lstm"), ("rnn", "lstm")]
    rnn = vs[1]
    assert rnn["title"] == "Gates against the plain tanh RNN" and rnn["n_seeds"] == [3, 3]
    assert rnn["effect"] == pytest.approx((52.7 + 62.6 + 51.4 - 63.3 - 65.1 - 66.8) / 3)
    assert rnn["p"] == rnn["p_permutation"] == pytest.approx(0.10) and rnn["min_p"] == pytest.approx(0.10)
    assert rnn["test"] == sig.PERMUTATION and rnn["bootstrap"] is None
    assert rnn["every_seed_agrees"] and rnn["direction"] == "below" and not rnn["established"]
    assert rnn["interval"][0] < rnn["effect"] < rnn["interval"][1] < 10
    assert vs[0]["direction"] == "mixed" and not vs[0]["every_seed_agrees"]
    assert sig.verdicts(runs, metric="METEOR")[1]["effect"] == pytest.approx(rnn["effect"] / 3)


def test_verdicts_add_the_paired_bootstrap_where_every_run_stores_per_image_scores():
    lstm = [run("lstm", s, 60.0 + s, images=[50.0 + s, 70.0 + s, 60.0 + s]) for s in range(3)]
    rnn = [run("rnn", s, 50.0 + s, images=[40.0 + s, 60.0 + s, 50.0 + s]) for s in range(3)]
    v = sig.verdicts([*lstm, *rnn])[0]
    assert v["bootstrap"]["effect"] == pytest.approx(-10.0) and v["bootstrap"]["images"] == 3
    assert v["p"] == max(v["p_permutation"], v["bootstrap"]["p"]) and "paired bootstrap over 3" in v["test"]
    assert v["bootstrap"]["seeds"] == [[0, 1, 2], [0, 1, 2]]
    mixed = [*lstm[:2], run("lstm", 2, 62.0), *rnn]  # one run without per-image scores: the others pair
    assert sig.verdicts(mixed)[0]["bootstrap"]["seeds"] == [[0, 1, 2], [0, 1]]
    assert sig.verdicts(mixed)[0]["bootstrap"]["effect"] == pytest.approx(51.0 - 60.5)
    old = [run("lstm", 0, 60.0), *rnn]  # no lstm run stores them: seeds only
    assert sig.verdicts(old)[0]["bootstrap"] is None and sig.verdicts(old)[0]["test"] == sig.PERMUTATION
    other = [run("rnn", 0, 50.0, images=[1.0, 2.0])]
    with pytest.raises(ValueError, match="different test images"):
        sig.verdicts([*lstm, *other])


def test_learning_speed_reads_each_seed_at_each_epoch():
    runs = [run("gru", 1, 60.0, curve=(24.9, 45.1)), run("gru", 0, 60.0, curve=(25.0, 41.7)),
            run("lstm", 0, 60.0, curve=(7.6,))]
    rows = sig.learning_speed(runs)
    assert rows[0] == {"cell": "gru", "epoch": 1, "seeds": [0, 1], "val_cider": [25.0, 24.9], "min": 24.9,
                       "max": 25.0, "mean": pytest.approx(24.95)}
    assert [(r["cell"], r["epoch"]) for r in rows] == [("gru", 1), ("gru", 2), ("lstm", 1)]  # lstm ran 1 epoch


def test_compare_models_reads_two_evaluate_outputs_and_refuses_bad_ones(tmp_path):
    from tests.shared import benchmark_script
    script = benchmark_script("compare_models")

    def out(name, scores, decodings=("beam-2",)):
        path = tmp_path / name
        rows = [{"image_id": i, "scores": {"CIDEr": c}} for i, c in enumerate(scores)]
        path.write_text(json.dumps({d: {"images": rows} for d in decodings}))
        return path

    assert script.per_image_cider(out("a.json", [1.0, 2.5])) == ("beam-2", {"0": 1.0, "1": 2.5})
    with pytest.raises(InputError, match=r"b\.json: expected the output of one decoding"):
        script.per_image_cider(out("b.json", [1.0], decodings=("greedy", "beam-3")))
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"greedy": {"images": [{"image_id": 1, "scores": {}}]}}))
    with pytest.raises(InputError, match=r"c\.json: images\[\]\.scores\.CIDEr missing"):
        script.per_image_cider(bad)
