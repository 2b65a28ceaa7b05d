"""The tabular trainer fills the store honestly: each fold is predicted by a model that never saw it."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from base_models.cli import main as base_models
from base_models.tabular import train_tabular
from oof_store import Store, StoreError


def _table_store(tmp_path, task="multiclass", n=240, k=4, n_test=40, seed=0, random_labels=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_test, 6))
    if task == "regression":
        y = X[:, 0] * 2 + X[:, 1] + 0.1 * rng.normal(size=n + n_test)
    else:
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
        if random_labels:
            y = rng.integers(0, 3, n + n_test)
    ids = np.array([f"row{i}" for i in range(n + n_test)])
    data = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    data.insert(0, "id", ids)
    data["cat"] = rng.choice(["a", "b"], n + n_test)
    targets = pd.DataFrame({"id": ids[:n], "fold": np.arange(n) % k})
    if task == "softclass":
        soft = np.eye(3)[y[:n]] * 0.7 + 0.1
        for c in range(3):
            targets[f"p{c}"] = soft[:, c]
        cols = ["p0", "p1", "p2"]
    else:
        targets["target"] = y[:n]
        cols = "target"
    store = Store.create(tmp_path / f"s-{task}", targets, target_cols=cols,
                         task=task if task in ("softclass", "regression") else None,
                         test_ids=ids[n:])
    return store, data


@pytest.mark.parametrize("model", ["lgbm", "logreg", "rf", "extratrees", "knn", "mlp", "nb"])
def test_every_tabular_model_writes_complete_oof_and_test(tmp_path, model):
    store, data = _table_store(tmp_path)
    result = train_tabular(store, data, model=model, name=f"{model}_1",
                           params={"n_estimators": 30} if model in ("rf", "extratrees", "lgbm") else {},
                           show_progress=False)
    assert store.validate() == []
    oof = store.load_oof([f"{model}_1"])
    assert oof.preds.shape == (1, 1, 240, 3)
    np.testing.assert_allclose(oof.preds.sum(-1), 1, atol=1e-4)
    test = store.load_test([f"{model}_1"], folds="all")
    assert test.preds.shape == (1, 4, 1, 40, 3)
    assert result.oof_score > 0.6
    assert result.oof_score == pytest.approx((oof.preds[0, 0].argmax(1) == store.y).mean())


def test_oof_fold_is_never_seen_in_training(tmp_path):
    """1-nearest-neighbour memorises its training rows: on random labels its OOF is chance."""
    store, data = _table_store(tmp_path, random_labels=True, n=600)
    result = train_tabular(store, data, model="knn", name="nn1",
                           params={"n_neighbors": 1}, show_progress=False)
    assert result.oof_score < 0.45  # chance is 1/3; in-sample it would be 1.0


@pytest.mark.parametrize("task", ["regression", "softclass"])
def test_regression_and_soft_targets(tmp_path, task):
    store, data = _table_store(tmp_path, task=task)
    result = train_tabular(store, data, model="lgbm", name="g", params={"n_estimators": 50},
                           show_progress=False)
    assert store.validate() == []
    if task == "regression":
        assert result.metric == "rmse"
        assert result.oof_score < 1.0
    else:
        assert result.oof_score > 0.6


def test_resume_trains_only_the_missing_folds(tmp_path):
    store, data = _table_store(tmp_path)
    train_tabular(store, data, model="logreg", name="lr", show_progress=False)
    first = store.load_oof(["lr"]).preds
    # simulate a run killed after fold 2: no manifest, folds 0-2 written (pending), fold 3 not
    man_path = os.path.join(store.uri, "models", "lr.json")
    with open(man_path) as f:
        blocks = json.load(f)["blocks"]
    with open(os.path.join(store.uri, "models", ".pending-lr.json"), "w") as f:
        json.dump({"blocks": {k: v for k, v in blocks.items() if k.split("/")[1] != "3"}}, f)
    os.remove(man_path)
    result = train_tabular(store, data, model="logreg", name="lr", show_progress=False)
    assert result.trained_folds == [3]
    assert result.skipped_folds == [0, 1, 2]
    np.testing.assert_allclose(store.load_oof(["lr"]).preds, first, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda d: d.drop(columns="id"), {}, "no id column 'id'"),
        (lambda d: d.iloc[5:], {}, r"5 training id\(s\) of the store have no features.*row0"),
        (lambda d: d.iloc[:-3], {}, r"3 test id\(s\) of the store have no features, e.g. \['row277', "),
        (lambda d: pd.concat([d, d.iloc[:1]]), {}, "duplicate id"),
        (lambda d: d, {"model": "xgboost"}, "unknown tabular model 'xgboost'; available: extratrees, knn"),
        (lambda d: d, {"features": ["nope"]}, r"feature column\(s\) \['nope'\] not found"),
    ],
)
def test_bad_input_is_named(tmp_path, change, kwargs, message):
    store, data = _table_store(tmp_path)
    params = {"model": "logreg", "name": "x", "show_progress": False, **kwargs}
    with pytest.raises(StoreError, match=message):
        train_tabular(store, change(data), **params)
    assert store.models(include_incomplete=True) == []


def test_base_models_tabular_cli_end_to_end(tmp_path, capsys):
    store, data = _table_store(tmp_path)
    data.to_csv(tmp_path / "data.csv", index=False)
    code = base_models(["tabular", store.uri, "--data", str(tmp_path / "data.csv"), "--model", "lgbm",
                        "--name", "gbm", "--params", '{"n_estimators": 40}', "--json", str(tmp_path / "r.json")])
    assert code == 0
    assert "gbm (lgbm): OOF accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["name"] == "gbm"
    assert Store(store.uri).models() == ["gbm"]
    assert base_models(["tabular", store.uri, "--data", str(tmp_path / "data.csv"), "--model", "lgbm",
                        "--name", "gbm"]) == 2
    assert "already in the store" in capsys.readouterr().err
    assert base_models(["tabular", store.uri, "--data", str(tmp_path / "data.csv"), "--model", "knn",
                        "--params", "{bad"]) == 2
    assert "--params must be a JSON object" in capsys.readouterr().err


def test_demo_builds_a_complete_store(tmp_path, capsys):
    assert base_models(["demo", str(tmp_path / "demo"), "--models", "knn,nb,logreg"]) == 0
    out = capsys.readouterr().out
    store = Store(tmp_path / "demo")
    assert store.models() == ["knn", "logreg", "nb"]
    assert len(store.ids) == 1437
    assert len(store.test_ids) == 360
    assert store.n_folds == 5
    assert "ink" in store.targets.columns
    assert store.validate() == []
    assert "blend report" in out
    labels = pd.read_csv(tmp_path / "demo" / "example" / "test_labels.csv")
    assert list(labels["id"]) == list(store.test_ids)
    # the test predictions are real: knn's fold-averaged test accuracy is high
    test = store.load_test(["knn"]).preds[0, 0]
    assert (test.argmax(1) == labels["label"].to_numpy()).mean() > 0.9
    # a Kaggle-style sample: the same ids in another order, for blend apply --sample-submission
    sample = pd.read_csv(tmp_path / "demo" / "example" / "sample_submission.csv", dtype=str)
    assert list(sample.columns) == ["id", "label"]
    assert sorted(sample["id"]) == sorted(store.test_ids)
    assert list(sample["id"]) != list(store.test_ids)


class _Probe:
    """A logistic regression that, at each fit, records what another process would see."""

    seen: list = []

    def __init__(self, store_uri, name, inner):
        self.store_uri, self.name, self.inner = store_uri, name, inner

    def fit(self, X, y, **kw):
        from oof_store import ConcurrentWriteError

        other = Store(self.store_uri)
        try:
            with other.transaction(self.name):
                refused = False
        except ConcurrentWriteError:
            refused = True
        old = other.load_oof([self.name]).preds.copy() if self.name in other.models() else None
        _Probe.seen.append((refused, old))
        if kw.get("fail"):
            raise RuntimeError("killed")
        self.inner.fit(X, y)
        return self

    def predict_proba(self, X):
        return self.inner.predict_proba(X)

    @property
    def classes_(self):
        return self.inner.classes_


@pytest.fixture
def probe():
    from sklearn.linear_model import LogisticRegression

    from base_models.tabular import TABULAR_MODELS, register_tabular_model

    @register_tabular_model("probe")
    def _probe(task, params, seed):
        est = _Probe(params["uri"], params["name"], LogisticRegression(C=params.get("C", 1.0), max_iter=200))
        if seed in params.get("die_at", ()):
            est.fit = lambda X, y, **kw: _Probe.fit(est, X, y, fail=True)
        return est

    _Probe.seen = []
    yield _Probe.seen
    TABULAR_MODELS.pop("probe", None)


def test_a_run_holds_the_model_and_an_overwrite_switches_at_once(tmp_path, probe):
    store, data = _table_store(tmp_path)
    params = {"uri": str(store.uri), "name": "p"}
    train_tabular(store, data, model="probe", name="p", params=params, show_progress=False)
    # the whole run is one transaction: a second writer is refused at every fold
    assert [r for r, _ in probe] == [True] * 4
    first = store.load_oof(["p"]).preds
    probe.clear()
    train_tabular(store, data, model="probe", name="p", params={**params, "C": 0.01},
                  overwrite=True, show_progress=False)
    # while the overwrite trains, readers see the old model whole (not absent, not mixed)
    assert len(probe) == 4
    for _, old in probe:
        np.testing.assert_array_equal(old, first)
    s = Store(store.uri)
    assert not np.array_equal(s.load_oof(["p"]).preds, first)
    assert s.validate() == []


def test_a_killed_run_keeps_its_checkpointed_folds_and_resumes(tmp_path, probe):
    store, data = _table_store(tmp_path)
    params = {"uri": str(store.uri), "name": "p", "die_at": [2]}  # seed 0 + fold 2
    with pytest.raises(RuntimeError, match="killed"):
        train_tabular(store, data, model="probe", name="p", params=params, show_progress=False)
    s = Store(store.uri)
    assert "p" not in s.models()
    assert sorted(b for b in s.blocks(model="p") if b[0] == "oof") == [("oof", 0, 0), ("oof", 1, 0)]
    res = train_tabular(s, data, model="probe", name="p", params={**params, "die_at": []},
                        show_progress=False)
    assert res.trained_folds == [2, 3]
    assert res.skipped_folds == [0, 1]
    assert Store(store.uri).validate() == []
