"""Fixtures of the report tests: synthetic OOF arrays and stores with an extra column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oof_store import Store, synthetic
from oof_store import softmax as store_softmax


def oof_arrays(task: str = "multiclass", *, n_models: int = 4, n_rows: int = 900, n_classes: int = 4,
               n_tta: int = 1, seed: int = 0):
    """(P probabilities (M, T, N, C), y, folds) from the store's synthetic generator."""
    data = synthetic.make_oof(n_models=n_models, n_rows=n_rows, n_classes=n_classes, n_folds=5,
                              n_tta=n_tta, task=task, accuracy=(0.7, 0.9), seed=seed)
    P = data.logits if task == "regression" else store_softmax(data.logits.copy())
    return P.astype(np.float32), data.y, data.folds


def store_with_source(uri, *, task: str = "multiclass", n_models: int = 3, n_rows: int = 600,
                      n_classes: int = 3, n_tta: int = 2, seed: int = 3) -> Store:
    """A complete store whose targets carry an extra ``source`` column (2019/2020)."""
    data = synthetic.make_oof(n_models=n_models, n_rows=n_rows, n_classes=n_classes, n_folds=5,
                              n_tta=n_tta, task=task, accuracy=(0.7, 0.9), seed=seed)
    c = data.logits.shape[-1]
    ids = np.array([f"img_{i:05d}" for i in range(n_rows)])
    rng = np.random.default_rng(seed)
    targets = pd.DataFrame({"image_id": ids, "fold": data.folds,
                            "source": rng.choice(["2019", "2020"], n_rows, p=[0.3, 0.7])})
    class_names = None
    if task == "softclass":
        cols = [f"k{j}" for j in range(c)]
        for j, col in enumerate(cols):
            targets[col] = data.y[:, j]
        class_names = cols
    elif task == "regression":
        cols = ["target"]
        targets["target"] = data.y
    else:
        cols = ["label"]
        class_names = [f"k{j}" for j in range(c)]
        targets["label"] = np.array(class_names)[data.y]
    store = Store.create(uri, targets, id_col="image_id", target_cols=cols, fold_col="fold",
                         task=task, class_names=class_names)
    kind = "raw" if task == "regression" else "logits"
    views = ["none"] + [f"flip{v}" for v in range(1, n_tta)]
    for m in range(n_models):
        name = f"model_{m}"
        for t in range(n_tta):
            for f in store.fold_ids:
                rows = data.folds == f
                store.write_block("oof", name, f, t, ids[rows], data.logits[m, t, rows])
        store.finish_model(name, kind=kind, tta_views=views)
    return store


@pytest.fixture
def source_store(tmp_path) -> Store:
    return store_with_source(tmp_path / "store")


@pytest.fixture
def make_arrays():
    """The :func:`oof_arrays` builder (conftest helpers are not importable under importlib mode)."""
    return oof_arrays


@pytest.fixture
def make_source_store():
    return store_with_source
