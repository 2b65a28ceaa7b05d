"""The nested-CV engine: fit never sees the held-out fold; the score is pooled, computed once."""

from __future__ import annotations

import numpy as np
import pytest

from blend import BlendError
from blend.metrics import get_metric
from blend.nested import nested_cv


def test_fit_sees_only_other_folds_and_is_told_which_fold_is_held_out():
    folds = np.array([0, 0, 0, 1, 1, 2])
    y = np.array([0.0, 1, 2, 3, 4, 5])
    seen = []

    def fit(train_idx, k):
        seen.append((k, set(folds[train_idx])))
        return float(len(train_idx))

    res = nested_cv(fit, lambda n, idx: np.full(len(idx), n), folds, y, get_metric("rmse"))
    assert seen == [(0, {1, 2}), (1, {0, 2}), (2, {0, 1})]
    np.testing.assert_array_equal(res.predictions, [3, 3, 3, 4, 4, 5])
    assert res.to_dict()["fold_ids"] == [0, 1, 2]
    assert res.fold_sizes == (3, 2, 1)


def test_the_nested_score_is_the_metric_of_the_pooled_predictions_not_a_mean_of_folds():
    # each fold is ranked perfectly, but the two folds' scores live on different scales: a
    # mean of per-fold AUCs says 1.0, the pooled AUC (what a leaderboard computes on these
    # rows) is far lower.
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p1 = np.array([0.60, 0.70, 0.61, 0.71, 0.10, 0.20, 0.11, 0.21])
    P = np.stack([1 - p1, p1], axis=1)
    auc = get_metric("auc")
    res = nested_cv(lambda tr, k: None, lambda _, idx: P[idx], folds, y, auc)
    assert res.fold_scores == (1.0, 1.0)
    assert res.nested_score == pytest.approx(auc(y, P))
    assert res.nested_score <= 0.75


def test_selecting_on_noise_is_optimistic_in_sample_but_not_nested(rng):
    # 200 useless "models" (random guesses); picking the best in-sample looks good,
    # the nested score shows chance level.
    y = rng.integers(0, 2, 400)
    guesses = rng.integers(0, 2, (200, 400))
    folds = np.arange(400) % 5
    acc = lambda g, idx: float(np.mean(guesses[g, idx] == y[idx]))  # noqa: E731
    fit = lambda idx, k=None: int(np.argmax([acc(g, idx) for g in range(200)]))  # noqa: E731
    in_sample = acc(fit(np.arange(400)), np.arange(400))
    predict = lambda g, idx: np.eye(2)[guesses[g, idx]]  # noqa: E731
    res = nested_cv(fit, predict, folds, y, get_metric("accuracy"))
    assert in_sample > 0.55
    assert abs(res.nested_score - 0.5) < 0.06
    # the pooled accuracy is the mean of the held-out fold accuracies weighted by size
    assert res.nested_score == pytest.approx(np.average(res.fold_scores, weights=res.fold_sizes))


@pytest.mark.parametrize(("folds", "message"), [
    (np.zeros(5), "at least 2 folds, got 1"),
    (np.zeros((5, 2)), "one fold id per row"),
])
def test_bad_folds(folds, message):
    with pytest.raises(BlendError, match=message):
        nested_cv(lambda i, k: None, lambda f, i: np.zeros(len(i)), folds, np.zeros(5),
                  get_metric("rmse"))


def test_a_metric_that_fails_on_one_fold_raises_instead_of_giving_a_nan_fold_score():
    """A ValueError inside the metric (a bug, or a metric that cannot score one fold) is not
    turned into a NaN fold score that nobody sees: it propagates."""
    from blend.metrics import Metric

    y = np.array([0, 1, 0, 1, 0, 1])
    folds = np.array([0, 0, 0, 1, 1, 1])
    P = np.tile([[0.4, 0.6]], (6, 1))

    def broken(yy, pp):
        if len(yy) < 6:  # fine on the pooled rows, a broadcasting bug on one fold
            return float(np.mean(np.ones(3) + np.ones(len(yy) + 1)))
        return 0.5

    metric = Metric("broken", True, ("binary",), "probs", broken)
    with pytest.raises(ValueError, match="operands could not be broadcast"):
        nested_cv(lambda tr, k: None, lambda _, idx: P[idx], folds, y, metric)
    # a metric undefined on one fold returns NaN, and that is kept as the fold's score
    y1 = np.array([0, 0, 0, 0, 1, 1])
    res = nested_cv(lambda tr, k: None, lambda _, idx: P[idx], folds, y1, get_metric("auc"))
    assert np.isnan(res.fold_scores[0])
    assert not np.isnan(res.nested_score)
