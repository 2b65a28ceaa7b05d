"""Small ordinal stores built in code: grades 1..5, a few correlated regressors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oof_store import Store


def make_ordinal_store(path, *, n_rows=500, n_test=60, n_folds=4, classes=False, seed=0):
    """Grades 1..5; models = a shrunk, shifted truth plus noise (rounding is poor on them).

    With ``classes=True`` the store is multiclass with classes "1".."5" and the models give
    probabilities peaked around their noisy score.
    """
    rng = np.random.default_rng(seed)
    latent = rng.normal(0, 1, n_rows + n_test)
    y_all = np.clip(np.rint(3 + 1.2 * latent), 1, 5)
    y = y_all[:n_rows]
    ids = np.array([f"r{i:04d}" for i in range(n_rows)])
    test_ids = np.array([f"t{i:04d}" for i in range(n_test)])
    folds = rng.permutation(np.arange(n_rows) % n_folds)
    targets = pd.DataFrame({"id": ids, "fold": folds})
    if classes:
        targets["target"] = y.astype(int).astype(str)
        store = Store.create(path, targets, task="multiclass",
                             class_names=["1", "2", "3", "4", "5"], test_ids=test_ids)
    else:
        targets["target"] = y
        store = Store.create(path, targets, task="regression", test_ids=test_ids)
    for m, noise in enumerate((0.5, 0.7, 0.9)):
        score = 3 + 0.8 * (y_all - 3) + 0.3 + rng.normal(0, noise, len(y_all))
        if classes:
            logits = -((score[:, None] - np.arange(1, 6)[None, :]) ** 2)
            pred = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        else:
            pred = score[:, None]
        pred = pred.astype(np.float32)
        for k in store.fold_ids:
            rows = np.flatnonzero(folds == k)
            store.write_block("oof", f"m{m}", k, 0, ids[rows], pred[rows])
            store.write_block("test", f"m{m}", k, 0, test_ids, pred[n_rows:])
        store.finish_model(f"m{m}", kind="probs" if classes else "raw", source="test")
    return Store(path)


@pytest.fixture(scope="module")
def ordinal_store(tmp_path_factory):
    return make_ordinal_store(tmp_path_factory.mktemp("ord") / "store")


@pytest.fixture(scope="module")
def ordinal_class_store(tmp_path_factory):
    return make_ordinal_store(tmp_path_factory.mktemp("ordc") / "store", classes=True)


@pytest.fixture
def fresh_ordinal_store(tmp_path):
    """A store of this test's own (for commands that write models into it)."""
    return make_ordinal_store(tmp_path / "fresh", n_rows=300, n_folds=4)


@pytest.fixture
def fresh_ordinal_class_store(tmp_path):
    """Ordered classes "1".."5", a store of this test's own."""
    return make_ordinal_store(tmp_path / "fresh_c", n_rows=240, n_folds=4, classes=True)
