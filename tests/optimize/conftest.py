"""Fixtures of the optimize tests: small OOF sets whose best weights are known."""

from __future__ import annotations

import numpy as np
import pytest

from oof_store import synthetic


@pytest.fixture(scope="module")
def oof():
    """5 models (logits), 1200 rows, 4 classes, 4 folds."""
    return synthetic.make_oof(n_models=5, n_rows=1200, n_classes=4, n_folds=4,
                              accuracy=(0.6, 0.9), seed=3)


@pytest.fixture(scope="module")
def balanced():
    """5 similar, weakly correlated models: the log-loss optimum is inside the simplex."""
    return synthetic.make_oof(n_models=5, n_rows=1200, n_classes=4, n_folds=4,
                              accuracy=(0.8, 0.85), correlation=0.3, seed=3)


@pytest.fixture(scope="module")
def perfect():
    """Probabilities of 4 models: model 2 is always right, the others are noisy guesses."""
    rng = np.random.default_rng(7)
    N, C = 800, 3
    y = rng.integers(0, C, N)
    P = rng.dirichlet(np.ones(C), size=(4, N))
    P[2] = 0.1
    P[2, np.arange(N), y] = 0.8
    folds = np.arange(N) % 4
    return P, y, folds
