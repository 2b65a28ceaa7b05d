"""`base-models tabular --ray local`: folds as Ray tasks; the driver writes what they return.

The driver holds the model's transaction for the whole run (workers never write, so two
folds finishing at once cannot collide on the model's lock) and checkpoints each fold as
it comes back. Also the failure case: a worker that dies mid-task (after its OOF
prediction, before its test prediction) is retried by Ray, and the store ends complete,
valid and identical to the serial run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from base_models.cli import main as base_models
from base_models.tabular import TABULAR_MODELS, register_tabular_model, train_tabular
from oof_store import Store
from oof_store.distributed import get_executor


def _table_store(path: Path, n=200, k=4, n_test=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_test, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    ids = np.array([f"row{i}" for i in range(n + n_test)])
    data = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    data.insert(0, "id", ids)
    targets = pd.DataFrame({"id": ids[:n], "fold": np.arange(n) % k, "target": y[:n]})
    store = Store.create(path, targets, target_cols="target", test_ids=ids[n:])
    data_path = path.parent / f"{path.name}.csv"
    data.to_csv(data_path, index=False)
    return store, data_path


def test_tabular_cli_with_ray_matches_the_plain_run(ray_session, tmp_path):
    store, data = _table_store(tmp_path / "s")
    args = ["tabular", str(store.uri), "--data", str(data), "--model", "lgbm", "--seed", "2",
            "--params", '{"n_estimators": 30}']
    assert base_models([*args, "--name", "plain"]) == 0
    assert base_models([*args, "--name", "on_ray", "--ray", "local"]) == 0
    s = Store(store.uri)
    assert s.validate() == []
    oof = s.load_oof(["plain", "on_ray"]).preds
    np.testing.assert_array_equal(oof[0], oof[1])
    test = s.load_test(["plain", "on_ray"], folds="all").preds
    np.testing.assert_array_equal(test[0], test[1])


class _DiesOnce(LogisticRegression):
    """Logistic regression whose worker dies at the test prediction, once per fold.

    The first attempt of each fold predicts its OOF rows and then dies (``os._exit``, as a
    killed worker would), before the test rows; a marker file remembers the attempt.
    """

    def __init__(self, marker=None, C=1.0, max_iter=200):
        super().__init__(C=C, max_iter=max_iter)
        self.marker = marker

    def predict_proba(self, X):
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.calls_ == 2 and self.marker and not os.path.exists(self.marker):
            Path(self.marker).write_text("died once\n")
            os._exit(1)
        return super().predict_proba(X)


def _dies_once(task, params, seed):
    return _DiesOnce(marker=os.path.join(params["marker_dir"], f"seed{seed}"))


@pytest.fixture
def dies_once():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    register_tabular_model("dies_once")(_dies_once)
    yield
    TABULAR_MODELS.pop("dies_once", None)
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_worker_killed_mid_task_is_retried_and_the_store_stays_valid(ray_session, tmp_path, dies_once):
    store, data = _table_store(tmp_path / "s")
    frame = pd.read_csv(data)
    serial_markers, ray_markers = tmp_path / "m_serial", tmp_path / "m_ray"
    serial_markers.mkdir()
    ray_markers.mkdir()
    for f in store.fold_ids:  # the serial reference never dies
        (serial_markers / f"seed{3 + f}").write_text("")
    train_tabular(store, frame, model="dies_once", name="serial", seed=3, show_progress=False,
                  params={"marker_dir": str(serial_markers)})
    with get_executor("local") as ex:
        res = train_tabular(store, frame, model="dies_once", name="retried", seed=3,
                            show_progress=False, params={"marker_dir": str(ray_markers)},
                            executor=ex)
    assert sorted(p.name for p in ray_markers.iterdir()) == sorted(f"seed{3 + f}" for f in store.fold_ids)
    assert sorted(res.trained_folds) == sorted(int(f) for f in store.fold_ids)
    s = Store(store.uri)
    assert s.validate() == []
    assert "retried" in s.models()
    oof = s.load_oof(["serial", "retried"]).preds
    np.testing.assert_array_equal(oof[0], oof[1])
    test = s.load_test(["serial", "retried"], folds="all").preds
    np.testing.assert_array_equal(test[0], test[1])
