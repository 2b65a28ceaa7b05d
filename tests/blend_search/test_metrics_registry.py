"""Metrics: values agree with scikit-learn, directions, task checks, user metrics."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from sklearn import metrics as skm

from blend import BlendError
from blend.metrics import METRICS, default_metric, get_metric


@pytest.fixture
def multiclass(rng):
    y = rng.integers(0, 4, 300)
    P = rng.dirichlet(np.ones(4), 300)
    P[np.arange(300), y] += 0.3
    return y, P / P.sum(1, keepdims=True)


def test_metrics_match_sklearn_multiclass(multiclass):
    y, P = multiclass
    pred = P.argmax(1)
    assert get_metric("accuracy")(y, P) == pytest.approx(skm.accuracy_score(y, pred))
    assert get_metric("logloss")(y, P) == pytest.approx(skm.log_loss(y, P))
    assert get_metric("auc")(y, P) == pytest.approx(
        skm.roc_auc_score(y, P, multi_class="ovr", average="macro"))
    assert get_metric("f1_macro")(y, P) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert get_metric("qwk")(y, P) == pytest.approx(
        skm.cohen_kappa_score(y, pred, weights="quadratic"))


def test_binary_auc_uses_the_positive_column(rng):
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    P = np.c_[1 - p1, p1]
    assert get_metric("auc", "binary")(y, P) == pytest.approx(skm.roc_auc_score(y, p1))


def test_rmse_and_kl(rng):
    y = rng.normal(size=50)
    p = y + rng.normal(size=50) * 0.1
    assert get_metric("rmse", "regression")(y, p[:, None]) == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, p)))
    t = rng.dirichlet(np.ones(3), 40)
    q = rng.dirichlet(np.ones(3), 40)
    assert get_metric("kl", "softclass")(t, q) == pytest.approx(np.mean(np.sum(t * np.log(t / q), 1)))
    assert get_metric("kl", "softclass")(t, t) == pytest.approx(0.0, abs=1e-12)


def test_directions():
    assert {n for n, m in METRICS.items() if m.greater_is_better} == {
        "accuracy", "auc", "f1_macro", "qwk", "r2", "pearson", "spearman"}
    ll = get_metric("logloss")
    assert ll.better(0.1, 0.2)
    assert not ll.better(0.2, 0.1)
    assert ll.worst == np.inf


@pytest.mark.parametrize(("task", "name"), [("binary", "auc"), ("multiclass", "accuracy"),
                                            ("softclass", "kl"), ("regression", "rmse")])
def test_default_metric_follows_the_task(task, name):
    assert default_metric(task) == name
    get_metric(default_metric(task), task)


@pytest.mark.parametrize(
    ("metric", "task", "message"),
    [
        ("accu", None, "unknown metric 'accu'; choose one of accuracy, logloss"),
        ("rmse", "multiclass", "metric 'rmse' does not fit a multiclass task"),
        ("accuracy", "regression", "for regression use one of qwk, rmse, mse, mae, r2, pearson, spearman"),
        ("kl", "multiclass", "does not fit a multiclass task"),
        ("nosuchmodule_xyz:f", None, "cannot import module 'nosuchmodule_xyz'"),
        ("math:nosuchfunc", None, "has no function 'nosuchfunc'"),
        ("accuracy", "ranking", "unknown task 'ranking'"),
    ],
)
def test_bad_metrics_are_named(metric, task, message):
    with pytest.raises(BlendError, match=message):
        get_metric(metric, task)


def test_user_metric_module_function(tmp_path, monkeypatch, multiclass):
    (tmp_path / "my_metric_mod.py").write_text(textwrap.dedent("""
        import numpy as np
        def errors(y, P):
            return float(np.sum(P.argmax(1) != y))
        errors.greater_is_better = False
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    m = get_metric("my_metric_mod:errors", "multiclass")
    y, P = multiclass
    assert not m.greater_is_better
    assert m(y, P) == np.sum(P.argmax(1) != y)
    sys.modules.pop("my_metric_mod", None)
