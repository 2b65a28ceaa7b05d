"""Fixtures for the stacking tests: tiny synthetic problems whose answer is known."""

from __future__ import annotations

import pytest

from oof_store import softmax, synthetic

# Keep the neural stackers fast in tests: few epochs, one thread.
FAST = {
    "lgbm": {"num_threads": 1, "num_boost_round": 200},
    "linear": {},
    "mlp": {"num_threads": 1, "max_epochs": 4, "patience": 2},
    "cnn1d": {"num_threads": 1, "max_epochs": 4, "patience": 2},
    "cnn2d": {"num_threads": 1, "max_epochs": 4, "patience": 2},
}


def _fast_params(name: str) -> dict:
    return dict(FAST.get(name, {}))


def _make_problem(task: str = "multiclass", n_rows: int = 360, n_models: int = 4, n_classes: int = 3,
                 n_folds: int = 3, n_test: int = 20, seed: int = 0):
    """Base-model probabilities (M, T, N, C), targets, folds and test probabilities (M, T, Nt, C)."""
    d = synthetic.make_oof(n_models=n_models, n_rows=n_rows, n_classes=n_classes, n_folds=n_folds,
                           n_test=n_test, accuracy=(0.7, 0.85), task=task, seed=seed)
    if task == "regression":
        P, Pt = d.logits, d.test_logits.mean(axis=1)
    else:
        P, Pt = softmax(d.logits), softmax(d.test_logits).mean(axis=1)
    return P, d.y, d.folds, Pt


@pytest.fixture
def tiny_store(tmp_path):
    """4 models, 300 rows, 3 classes, 3 folds, 30 test rows, stored as probabilities."""
    return synthetic.make_store(
        tmp_path / "store", n_models=4, n_rows=300, n_classes=3, n_folds=3, n_test=30,
        accuracy=(0.7, 0.85), seed=3, kind="probs",
    )


@pytest.fixture
def fast_params():
    """``fast_params(name)``: hyper-parameters that keep a stacker quick in tests."""
    return _fast_params


@pytest.fixture
def make_problem():
    """``make_problem(task, ...)``: (P (M, T, N, C), y, folds, P_test (M, T, Nt, C))."""
    return _make_problem
