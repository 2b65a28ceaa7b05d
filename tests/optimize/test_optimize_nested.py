"""The nested CV never lets the held-out fold into the fit."""

from __future__ import annotations

import numpy as np
import pytest

from blend.optimize import optimize

FAST = {"de": {"maxiter": 8, "popsize": 6}, "optuna": {"trials": 30},
        "nelder-mead": {"maxiter": 200}, "lbfgs": {}, "hill-climb": {"n_bags": 1, "bag_fraction": 1.0}}


@pytest.mark.parametrize("method", ["de", "optuna", "nelder-mead", "hill-climb"])
def test_a_fold_with_shuffled_labels_scores_at_chance(method, rng):
    # model 0 is right on folds 0-2 and wrong (shifted class) on fold 3; model 1 is the
    # reverse. Fitting on folds 0-2 picks model 0, which scores 0 on fold 3 -- unless the
    # held-out rows leaked into the fit. The shuffled labels of fold 3 make it chance level.
    N, C = 800, 4
    y = rng.integers(0, C, N)
    folds = np.arange(N) % 4
    y_shuffled = y.copy()
    held = folds == 3
    y_shuffled[held] = rng.permutation(y[held])
    P = np.full((3, N, C), 0.1)
    P[0, np.arange(N), y_shuffled] = 0.7       # right on the other folds (labels as given)
    P[1, np.arange(N), (y_shuffled + 1) % C] = 0.7  # always wrong
    P[2] = rng.dirichlet(np.ones(C), size=N)  # noise
    res = optimize(P, y_shuffled, folds, method=method, metric="accuracy", rng=0,
                   params=FAST[method])
    # on the folds it was fitted on, model 0 wins outright
    assert res.fold_scores[3] == pytest.approx(1.0)  # fold 3 is predicted from model 0 too
    assert res.fold_weights[3]["m0"] > 0.5
    # now shuffle fold 3's labels *after* the predictions were made: a fit that never saw
    # fold 3 cannot adapt, so fold 3 scores at chance (1/C), the other folds stay perfect
    y_test = y_shuffled.copy()
    y_test[held] = rng.permutation(y_test[held])
    res = optimize(P, y_test, folds, method=method, metric="accuracy", rng=0,
                   params=FAST[method])
    assert res.fold_scores[3] == pytest.approx(1 / C, abs=0.08)
    assert res.fold_scores[:3] == pytest.approx([1.0, 1.0, 1.0])


def test_fold_weights_are_fitted_without_their_fold(rng):
    # model 1 is perfect on fold 0 only, model 0 on the other folds: the weights fitted
    # without fold 0 must prefer model 0, and those fitted on everything model 0 as well
    N, C = 600, 3
    y = rng.integers(0, C, N)
    folds = np.arange(N) % 3
    P = np.full((2, N, C), 0.2)
    f0 = folds == 0
    P[0, np.arange(N), y] = 0.6
    P[0, f0] = 1 / C
    P[1, np.arange(N), (y + 1) % C] = 0.6
    P[1, f0, :] = 0.2
    P[1, np.flatnonzero(f0), y[f0]] = 0.6
    res = optimize(P, y, folds, method="nelder-mead", metric="logloss", rng=0)
    assert res.fold_weights[0]["m0"] > 0.95
    assert res.fold_weights[1]["m1"] > res.fold_weights[0]["m1"]
