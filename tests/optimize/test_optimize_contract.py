"""Every registered optimiser keeps the contract: valid weights, equivariance, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from blend import BlendError
from blend.combine import combine, to_scores
from blend.metrics import get_metric
from blend.optimize import (
    available_optimizers,
    get_optimizer,
    optimize,
    optimizer_capabilities,
    optimizers_that,
)

FAST = {
    "de": {"maxiter": 10, "popsize": 8},
    "optuna": {"trials": 40},
    "nelder-mead": {"maxiter": 300},
    "lbfgs": {},
    "hill-climb": {"n_bags": 5, "max_steps": 20},
}
METHODS = available_optimizers()


def _fit(method, X, y, metric="logloss", seed=0, rule="prob"):
    return get_optimizer(method)(X, y, metric=get_metric(metric), rule=rule, kind="probs",
                                 rng=np.random.default_rng(seed), **FAST.get(method, {}))


def test_registry_holds_the_five_methods():
    assert set(METHODS) >= {"de", "optuna", "nelder-mead", "lbfgs", "hill-climb"}


def test_unknown_method_lists_the_choices():
    with pytest.raises(BlendError, match=r"unknown optimisation method 'simplex'.*de.*hill-climb"):
        get_optimizer("simplex")


@pytest.mark.parametrize("method", METHODS)
def test_weights_are_non_negative_and_sum_to_one(method, oof):
    X = to_scores(oof.logits, rule="prob", kind="logits")
    res = _fit(method, X, oof.y)
    w = np.asarray(res.weights)
    assert w.shape == (X.shape[0],)
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert res.evaluations > 0
    assert res.seconds >= 0


@pytest.mark.parametrize("method", METHODS)
def test_the_perfect_model_gets_the_largest_weight(method, perfect):
    P, y, _ = perfect
    res = _fit(method, P, y)
    w = np.asarray(res.weights)
    assert int(np.argmax(w)) == 2
    assert w[2] > 0.5


@pytest.mark.parametrize("method", optimizers_that(metric="accuracy"))
def test_accuracy_optimum_is_found(method, perfect):
    P, y, _ = perfect
    if method == "hill-climb":  # bags without the perfect model would dilute it: one bag
        res = get_optimizer(method)(P, y, metric=get_metric("accuracy"), n_bags=1,
                                    bag_fraction=1.0)
    else:
        res = _fit(method, P, y, metric="accuracy")
    assert res.score == pytest.approx(1.0)


@pytest.mark.parametrize("method", METHODS)
def test_fixed_seed_repeats(method, oof):
    X = to_scores(oof.logits, rule="prob", kind="logits")
    a, b = _fit(method, X, oof.y, seed=5), _fit(method, X, oof.y, seed=5)
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("method", METHODS)
def test_permuting_models_permutes_weights(method, balanced):
    # log loss has one optimum; stochastic methods land near it, so a tolerance is needed
    # (hill-climb draws its bags by position, so it is checked without bagging)
    X = to_scores(balanced.logits, rule="prob", kind="logits")
    perm = np.array([3, 0, 4, 2, 1])
    if method == "hill-climb":
        fit = get_optimizer(method)
        w = np.asarray(fit(X, balanced.y, metric=get_metric("logloss"), n_bags=1,
                           bag_fraction=1.0).weights)
        wp = np.asarray(fit(X[perm], balanced.y, metric=get_metric("logloss"), n_bags=1,
                            bag_fraction=1.0).weights)
    else:
        a, b = _fit(method, X, balanced.y), _fit(method, X[perm], balanced.y)
        w, wp = np.asarray(a.weights), np.asarray(b.weights)
        assert b.score == pytest.approx(a.score, abs=0.01)
    tol = {"lbfgs": 1e-4, "nelder-mead": 1e-4, "hill-climb": 1e-12, "de": 0.01}.get(method)
    if tol is None:
        # A sampler (TPE) draws the weights in parameter order, so a permutation changes its
        # path and, on this flat optimum, its weights; what it must keep is the objective:
        # both orders reach the log-loss optimum (found by lbfgs) within 0.01 (2% here).
        best = _fit("lbfgs", X, balanced.y).score
        assert a.score == pytest.approx(best, abs=0.01)
        assert b.score == pytest.approx(best, abs=0.01)
        return
    np.testing.assert_allclose(wp, w[perm], atol=tol)


@pytest.mark.parametrize("method", optimizers_that(per_class=True))
def test_per_class_weights_sum_to_one_per_class(method, oof):
    X = to_scores(oof.logits, rule="logit", kind="logits")
    res = get_optimizer(method)(X, oof.y, metric=get_metric("accuracy"), rule="logit",
                                kind="logits", rng=np.random.default_rng(0), per_class=True,
                                **FAST.get(method, {}))
    w = np.asarray(res.weights)
    assert w.shape == (5, 4)
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    assert (w >= 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_optimize_reports_in_sample_and_nested_scores(method, oof):
    res = optimize(oof.logits, oof.y, oof.folds, method=method, metric="logloss",
                   kind="logits", rng=0, params=FAST.get(method, {}),
                   models=[f"m{i}" for i in range(5)])
    d = res.to_dict()
    assert list(d) == ["method", "metric", "weights", "score", "nested_score", "fold_scores",
                       "fold_weights", "seconds", "evaluations", "score_is", "nested_score_is",
                       "nested_covers", "mean_score", "mean_score_is"]
    assert len(d["fold_scores"]) == 4
    assert len(d["fold_weights"]) == 4
    assert all(set(fw) == set(d["weights"]) for fw in d["fold_weights"])
    assert sum(d["weights"].values()) == pytest.approx(1.0)
    # the reported score is the core metric of the core blend with the reported weights
    w = np.array([d["weights"][f"m{i}"] for i in range(5)])
    expected = get_metric("logloss")(oof.y, combine(oof.logits, w, kind="logits"))
    assert d["score"] == pytest.approx(expected, rel=1e-9)
    held = oof.folds == 2
    wf = np.array([d["fold_weights"][2][f"m{i}"] for i in range(5)])
    expected = get_metric("logloss")(oof.y[held], combine(oof.logits[:, :, held], wf, kind="logits"))
    assert d["fold_scores"][2] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_declared_capabilities_hold(method, oof):
    """What a method declares it cannot fit it refuses, naming methods that can."""
    caps = optimizer_capabilities(method)
    X = to_scores(oof.logits, rule="logit", kind="logits")
    fit = get_optimizer(method)
    if not caps.per_class:
        with pytest.raises(BlendError, match="per-class") as e:
            fit(X, oof.y, metric=get_metric("logloss"), rule="logit", kind="logits", per_class=True)
        assert all(m in str(e.value) for m in optimizers_that(per_class=True))
    if not caps.fits_metric("accuracy"):
        with pytest.raises(BlendError, match="accuracy") as e:
            fit(X, oof.y, metric=get_metric("accuracy"), rule="logit", kind="logits")
        assert all(m in str(e.value) for m in optimizers_that(metric="accuracy", rule="logit"))
    assert len(optimizers_that(per_class=True)) >= 1
