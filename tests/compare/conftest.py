"""Fixtures for the compare tests: tiny synthetic stores and arrays."""

from __future__ import annotations

import numpy as np
import pytest

from blend.compare import CompareData
from oof_store import synthetic


@pytest.fixture
def few() -> list[str]:
    """A few cheap candidates of every kind."""
    return ["lbfgs/prob", "lbfgs/logit", "stack:linear", "stack:lgbm", "level3"]


@pytest.fixture
def tiny_store(tmp_path):
    """5 models, 300 rows, 3 classes, 5 folds, 40 test rows (logits)."""
    return synthetic.make_store(
        tmp_path / "store", n_models=5, n_rows=300, n_classes=3, n_folds=5, n_test=40,
        accuracy=(0.55, 0.75), correlation=0.5, seed=3,
    )


@pytest.fixture
def noise_data():
    """``noise_data(seed=...)``: pure-noise binary models (see :func:`_noise_data`)."""
    return _noise_data


def _noise_data(n_rows: int = 400, n_models: int = 6, seed: int = 0) -> CompareData:
    """Binary labels and models whose predictions have nothing to do with them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_rows)
    p1 = rng.uniform(0.05, 0.95, (n_models, n_rows))
    probs = np.stack([1 - p1, p1], axis=-1)[:, None]
    folds = np.resize(np.arange(5), n_rows)
    rng.shuffle(folds)
    return CompareData(probs=probs, y=y, folds=folds, task="binary",
                       models=[f"noise{i}" for i in range(n_models)])
