"""The paired statistics of the recommendation rule (``blend._paired``), on constructed data.

The constructed store: folds that differ a lot in difficulty, a "weights" candidate better
than the mean by a small, steady margin on every row, a "stacker" that is the mean plus
noise. The paired rule must choose the steady gain on a large store and never the noise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blend.compare._recommend import (
    Boot,
    bootstrap_gains,
    fold_paired_gain,
    paired_choice,
    paired_gain,
)
from blend.metrics import get_metric

COMPLEXITY = {"mean": 0, "weights": 2, "stacker": 3}


def _store(n_rows: int, margin: float, noise: float, seed: int):
    """Binary labels, 5 folds of very different difficulty, three candidates' probabilities."""
    rng = np.random.default_rng(seed)
    folds = np.resize(np.arange(5), n_rows)
    rng.shuffle(folds)
    y = rng.integers(0, 2, n_rows)
    ease = np.array([0.3, 0.8, 1.4, 2.0, 2.8])[folds]  # logit of the true class per fold
    z = ease + rng.normal(0, 1.0, n_rows)
    sign = np.where(y == 1, 1.0, -1.0)

    def probs(logit_true):
        p1 = 1 / (1 + np.exp(-sign * logit_true))
        return np.stack([1 - p1, p1], axis=1)

    preds = {
        "mean": probs(z),
        "weights": probs(z + margin),  # better on every row by the same small margin
        "stacker": probs(z + rng.normal(0, noise, n_rows)),  # noise only
    }
    return y, folds, preds


def _fold_scores(met, y, folds, p):
    return [met(y[folds == k], p[folds == k]) for k in range(5)]


def test_steady_small_gain_is_chosen_on_a_large_store_where_the_unpaired_rule_misses_it():
    met = get_metric("logloss", "binary")
    y, folds, preds = _store(20_000, margin=0.04, noise=0.3, seed=0)
    boot = bootstrap_gains(met, y, preds, n_boot=200, rng=0, gain=met.gain)
    # the folds differ in difficulty far more than the candidates differ
    fs = {n: _fold_scores(met, y, folds, p) for n, p in preds.items()}
    unpaired_se = np.std(fs["weights"], ddof=1) / math.sqrt(5)
    diff = boot.full["weights"] - boot.full["mean"]
    assert 0 < diff < unpaired_se  # the old rule: the mean is "within one SE" of the best
    choice = paired_choice(boot, COMPLEXITY)
    assert choice.chosen == "weights"
    assert choice.vs_reference["weights"].z > 5
    # the per-fold differences tell the same story: better in every fold
    fp = fold_paired_gain(fs["weights"], fs["mean"], met.gain)
    assert fp.gain > 0
    assert fp.z > 2
    assert all(met.gain(a) > met.gain(b) for a, b in zip(fs["weights"], fs["mean"], strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_noise_is_not_chosen(seed):
    met = get_metric("logloss", "binary")
    y, _, preds = _store(3_000, margin=0.0, noise=0.5, seed=seed)
    preds = {"mean": preds["mean"], "stacker": preds["stacker"]}
    boot = bootstrap_gains(met, y, preds, n_boot=200, rng=seed, gain=met.gain)
    assert paired_choice(boot, COMPLEXITY).chosen == "mean"


def test_simplicity_uses_the_paired_deficit():
    # two candidates past the gate: "stacker" a hair better than "weights" but not
    # significantly (paired), so the simpler "weights" is chosen
    full = {"mean": 0.0, "weights": 1.0, "stacker": 1.01}
    rng = np.random.default_rng(0)
    w = 1.0 + rng.normal(0, 0.1, 300)
    reps = {"mean": np.zeros(300), "weights": w, "stacker": w + 0.01 + rng.normal(0, 0.05, 300)}
    choice = paired_choice(Boot(full, reps), COMPLEXITY)
    assert choice.best == "stacker"
    assert choice.chosen == "weights"
    # the same gain, steady in every draw: the stacker is significantly better
    reps["stacker"] = w + 0.01
    assert paired_choice(Boot(full, reps), COMPLEXITY).chosen == "stacker"


def test_gate_keeps_the_reference_when_no_gain_is_significant():
    full = {"mean": 0.0, "weights": 0.5}
    reps = {"mean": np.zeros(200), "weights": np.random.default_rng(0).normal(0.5, 1.0, 200)}
    c = paired_choice(Boot(full, reps), COMPLEXITY)
    assert c.chosen == "mean"
    assert c.top == "weights"
    assert c.running == ("mean",)


def test_nan_scores_are_never_chosen_and_all_nan_is_an_error():
    full = {"mean": 0.0, "weights": float("nan")}
    reps = {"mean": np.zeros(10), "weights": np.full(10, np.nan)}
    assert paired_choice(Boot(full, reps), COMPLEXITY).chosen == "mean"
    with pytest.raises(ValueError, match="NaN"):
        paired_choice(Boot({"mean": float("nan")}, {"mean": np.zeros(3)}), COMPLEXITY)


def test_mismatched_rows_and_folds_are_refused_by_name():
    met = get_metric("logloss", "binary")
    with pytest.raises(ValueError, match="'weights' predicts 3 rows"):
        bootstrap_gains(met, np.array([0, 1]), {"weights": np.ones((3, 2)) / 2})
    with pytest.raises(ValueError, match="same folds"):
        fold_paired_gain([1.0, 2.0], [1.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_paired_gain_is_antisymmetric_and_the_choice_is_never_more_complex_than_the_best(seed, m):
    rng = np.random.default_rng(seed)
    names = ["mean", "weights", "stacker", "level3", "other"][:m]
    cx = {"mean": 0, "weights": 2, "stacker": 3, "level3": 4, "other": 2}
    reps = {n: rng.normal(rng.normal(0, 1), rng.uniform(0.01, 1), 50) for n in names}
    full = {n: float(r.mean()) for n, r in reps.items()}
    boot = Boot(full, reps)
    ab, ba = paired_gain(boot, names[0], names[-1]), paired_gain(boot, names[-1], names[0])
    assert ab.gain == pytest.approx(-ba.gain)
    assert ab.se == pytest.approx(ba.se)
    c = paired_choice(boot, {n: cx[n] for n in names})
    assert c.chosen in c.running
    assert "mean" in c.running
    assert cx[c.chosen] <= cx[c.best]
    assert full[c.best] == max(full[n] for n in c.running)


def test_recommend_uses_the_paired_se_when_the_rows_carry_bootstrap_replicates():
    from blend.compare import CandidateScore, recommend

    met = get_metric("logloss", "binary")
    y, folds, preds = _store(20_000, margin=0.04, noise=0.3, seed=0)
    preds = {"mean": preds["mean"], "weights": preds["weights"]}
    boot = bootstrap_gains(met, y, preds, n_boot=200, rng=0, gain=met.gain)
    kinds = {"mean": "mean", "weights": "weights"}

    def rows(paired):
        out = []
        for n, p in preds.items():
            fs = _fold_scores(met, y, folds, p)
            sd = float(np.std(fs, ddof=1))
            z = float("nan") if n == "mean" else paired_gain(boot, n, "mean").z
            out.append(CandidateScore(n, kinds[n], n == "mean", "", met(y, p), tuple(fs), sd,
                                      sd / math.sqrt(5), met(y, p), 0.0, z,
                                      boot.reps[n] if paired else None))
        return out

    chosen, reason = recommend(rows(paired=True), met)
    assert chosen.name == "weights"
    assert "paired SE" in reason
    # the unpaired fold SE (folds of very different difficulty) would keep the mean
    chosen, _ = recommend(rows(paired=False), met)
    assert chosen.name == "mean"
