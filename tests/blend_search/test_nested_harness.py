"""The nested-CV harness: fit never sees the held-out fold."""

from __future__ import annotations

import numpy as np
import pytest

from blend import BlendError
from blend.nested import nested_cv


def test_fit_sees_only_other_folds_and_scores_are_weighted_by_fold_size():
    folds = np.array([0, 0, 0, 1, 1, 2])
    seen = []

    def fit(train_idx):
        seen.append(set(folds[train_idx]))
        return len(train_idx)

    res = nested_cv(fit, lambda n_train, idx: float(n_train), folds)
    assert seen == [{1, 2}, {0, 2}, {0, 1}]
    assert res.fold_scores == (3.0, 4.0, 5.0)
    assert res.nested_score == pytest.approx((3 * 3 + 4 * 2 + 5 * 1) / 6)
    assert res.to_dict()["fold_ids"] == [0, 1, 2]


def test_selecting_on_noise_is_optimistic_in_sample_but_not_nested(rng):
    # 200 useless "models" (random guesses); picking the best in-sample looks good,
    # the nested score shows chance level.
    y = rng.integers(0, 2, 400)
    guesses = rng.integers(0, 2, (200, 400))
    folds = np.arange(400) % 5
    acc = lambda g, idx: float(np.mean(guesses[g, idx] == y[idx]))  # noqa: E731
    fit = lambda idx: int(np.argmax([acc(g, idx) for g in range(200)]))  # noqa: E731
    in_sample = acc(fit(np.arange(400)), np.arange(400))
    res = nested_cv(fit, acc, folds)
    assert in_sample > 0.55
    assert abs(res.nested_score - 0.5) < 0.06


@pytest.mark.parametrize(("folds", "message"), [
    (np.zeros(5), "at least 2 folds, got 1"),
    (np.zeros((5, 2)), "one fold id per row"),
])
def test_bad_folds(folds, message):
    with pytest.raises(BlendError, match=message):
        nested_cv(lambda i: None, lambda f, i: 0.0, folds)
