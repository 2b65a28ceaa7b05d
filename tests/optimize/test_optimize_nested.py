"""The nested CV never lets the held-out fold into the fit."""

from __future__ import annotations

import numpy as np

from blend.optimize import optimize

# The leakage test of every registered optimiser (a held-out fold the fit must not see, and
# the same check failing with a planted leak) is tests/honesty/test_leakage.py.


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
