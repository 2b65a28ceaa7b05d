"""The vectorised objective kernels equal the plain twin (core combine + core metric)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blend.combine import to_scores
from blend.metrics import get_metric
from blend.optimize import Objective, reference_scores


def _soft(y, C, rng):
    T = rng.dirichlet(np.ones(C), size=len(y)) * 0.3
    T[np.arange(len(y)), y] += 0.7
    return T


@pytest.mark.parametrize("rule", ["prob", "logit", "geo"])
@pytest.mark.parametrize("metric", ["accuracy", "logloss", "auc", "f1_macro"])
def test_population_scores_equal_the_reference(oof, rule, metric, rng):
    X = to_scores(oof.logits, rule=rule, kind="logits")
    kind = "probs" if rule == "prob" else "logits"
    obj = Objective(X, oof.y, get_metric(metric), rule=rule, kind=kind)
    W = rng.random((12, 5))
    W[0] = 0.0  # all-zero means uniform
    W[1] = [1, 0, 0, 0, 0]
    ref = reference_scores(X, oof.y, W, get_metric(metric), rule=rule, kind=kind)
    np.testing.assert_allclose(obj.scores(W), ref, rtol=1e-9, atol=1e-12)
    assert obj.evaluations == 12


def test_accuracy_kernel_drops_rows_decided_by_every_model(oof):
    X = to_scores(oof.logits, rule="prob", kind="logits")
    obj = Objective(X, oof.y, get_metric("accuracy"))
    assert obj.path == "accuracy"
    assert 0 < obj.n_kept < X.shape[1]


@pytest.mark.parametrize("rule", ["prob", "logit"])
@pytest.mark.parametrize("metric", ["logloss", "kl", "accuracy"])
def test_soft_targets_score_like_the_reference(oof, rule, metric, rng):
    T = _soft(oof.y, 4, rng)
    X = to_scores(oof.logits, rule=rule, kind="logits")
    kind = "probs" if rule == "prob" else "logits"
    obj = Objective(X, T, get_metric(metric), rule=rule, kind=kind)
    W = rng.random((6, 5))
    ref = reference_scores(X, T, W, get_metric(metric), rule=rule, kind=kind)
    np.testing.assert_allclose(obj.scores(W), ref, rtol=1e-9)


@pytest.mark.parametrize("shift", [0.0, 400.0])
@pytest.mark.parametrize("metric", ["logloss", "kl"])
def test_logit_cross_entropy_with_huge_logits_scores_like_the_reference(oof, metric, shift, rng):
    # logits above 300 (the same probabilities: a constant added to every class): the
    # log-sum-exp is then shifted by the row max, as exp would overflow
    T = _soft(oof.y, 4, rng)
    X = to_scores(oof.logits, rule="logit", kind="logits") + shift
    obj = Objective(X, T, get_metric(metric), rule="logit", kind="logits")
    assert (obj._xmax > 300.0) == (shift > 0)
    W = rng.random((6, 5))
    ref = reference_scores(X, T, W, get_metric(metric), rule="logit", kind="logits")
    np.testing.assert_allclose(obj.scores(W), ref, rtol=1e-9)


@pytest.mark.parametrize("rule", ["prob", "logit"])
def test_per_class_scores_equal_the_plain_loop(oof, rule, rng):
    X = to_scores(oof.logits, rule=rule, kind="logits")
    kind = "probs" if rule == "prob" else "logits"
    for metric in ("accuracy", "logloss"):
        obj = Objective(X, oof.y, get_metric(metric), rule=rule, kind=kind, per_class=True)
        W = rng.random((5, 20))
        ref = reference_scores(X, oof.y, W, get_metric(metric), rule=rule, kind=kind,
                               per_class=True)
        np.testing.assert_allclose(obj.scores(W), ref, rtol=1e-9)


def test_rank_rule_goes_through_combine(oof, rng):
    X = oof.logits[:, 0]
    obj = Objective(X, oof.y, get_metric("auc"), rule="rank", kind="logits")
    assert obj.path == "combine"
    W = rng.random((3, 5))
    ref = reference_scores(X, oof.y, W, get_metric("auc"), rule="rank", kind="logits")
    np.testing.assert_allclose(obj.scores(W), ref)


@pytest.mark.parametrize("rule", ["prob", "logit", "geo"])
@pytest.mark.parametrize("soft", [False, True])
def test_analytic_gradient_matches_finite_differences(oof, rule, soft, rng):
    X = to_scores(oof.logits, rule=rule, kind="logits")
    kind = "probs" if rule == "prob" else "logits"
    y = _soft(oof.y, 4, rng) if soft else oof.y
    obj = Objective(X, y, get_metric("logloss"), rule=rule, kind=kind)
    w = rng.dirichlet(np.ones(5))
    f, g = obj.loss_and_grad(w)
    assert f == pytest.approx(obj.scores(w), rel=1e-12)
    eps = 1e-6
    num = np.empty(5)
    for u in range(5):
        e = np.zeros(5)
        e[u] = eps
        num[u] = (obj.loss_and_grad(w + e)[0] - obj.loss_and_grad(w - e)[0]) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_models=st.integers(2, 5),
    n_classes=st.integers(2, 5),
    rule=st.sampled_from(["prob", "logit", "geo"]),
)
def test_accuracy_kernel_equals_argmax_of_the_blend(seed, n_models, n_classes, rule):
    rng = np.random.default_rng(seed)
    N = 60
    P = rng.dirichlet(np.ones(n_classes), size=(n_models, N))
    y = rng.integers(0, n_classes, N)
    W = rng.random((8, n_models))
    obj = Objective(P, y, get_metric("accuracy"), rule=rule, kind="probs")
    ref = reference_scores(P, y, W, get_metric("accuracy"), rule=rule, kind="probs")
    np.testing.assert_allclose(obj.scores(W), ref)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_models=st.sampled_from([2, 4]),
       n_classes=st.integers(2, 5))
def test_accuracy_kernel_breaks_exact_ties_like_argmax(seed, n_models, n_classes):
    # eighths and power-of-two model counts keep every sum exact, so ties are real ties:
    # np.argmax picks the first maximum, and so must the margin kernel
    rng = np.random.default_rng(seed)
    N = 60
    k = rng.multinomial(8, np.ones(n_classes) / n_classes, size=(n_models, N))
    P = k / 8.0
    y = rng.integers(0, n_classes, N)
    W = np.vstack([np.ones(n_models), np.eye(n_models)])
    obj = Objective(P, y, get_metric("accuracy"), rule="prob", kind="probs")
    ref = reference_scores(P, y, W, get_metric("accuracy"), rule="prob", kind="probs")
    np.testing.assert_array_equal(obj.scores(W), ref)
