"""The fast kernels (float32 accuracy pass, L-BFGS log-loss path) give the slow ones' answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import differential_evolution

from blend.combine import to_scores
from blend.metrics import get_metric
from blend.optimize import Objective, get_optimizer, reference_scores

ACC = get_metric("accuracy")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_models=st.integers(2, 6),
    n_classes=st.integers(2, 6),
    tiny=st.sampled_from([1e-5, 1e-8, 1e-11]),
)
def test_float32_pass_decides_near_ties_like_the_float64_twin(seed, n_models, n_classes, tiny):
    # logits built so that under the weights w the true class beats (or loses to) a rival
    # by +-tiny while each unit's own margin is ~1: float32 cannot resolve 1e-8 or 1e-11,
    # so the guard band must send those rows to the float64 decision, and the result must
    # equal the float64 twin and the reference (combine + argmax) exactly
    rng = np.random.default_rng(seed)
    N, U, C = 120, n_models, n_classes
    y = rng.integers(0, C, N)
    rival = (y + rng.integers(1, C, N)) % C
    X = rng.normal(size=(U, N, C))
    w = rng.random(U) + 0.1
    w /= w.sum()
    n = np.arange(N)
    d = X[:, n, y] - X[:, n, rival]  # (U, N) per-unit margins against the rival
    target = tiny * rng.choice([-1.0, 1.0], N)
    X[-1, n, y] += (target - w @ d) / w[-1]
    others = np.ones((N, C), bool)
    others[n, y] = others[n, rival] = False
    X[:, others] = X[:, n, y].min(axis=0)[np.nonzero(others)[0]] - 5.0  # out of the race
    W = np.vstack([w, rng.random((7, U))])
    obj = Objective(X, y, ACC, rule="logit", kind="logits")
    Wn = W / W.sum(1, keepdims=True)
    np.testing.assert_array_equal(obj._accuracy(Wn), obj._accuracy_f64(Wn))
    np.testing.assert_array_equal(obj.scores(W),
                                  reference_scores(X, y, W, ACC, rule="logit", kind="logits"))


def test_duplicate_rows_are_merged_and_counted(rng):
    # probabilities in eighths (as from an 8-tree forest) repeat: rows merge with a count;
    # with 4 models and dyadic weights every sum is exact, so exact ties are real ties
    N, C = 3000, 3
    P = rng.multinomial(8, [0.5, 0.3, 0.2], size=(4, N)) / 8.0
    y = rng.integers(0, C, N)
    obj = Objective(P, y, ACC)
    merged = sum(len(idx) for _, _, _, idx, _ in obj._groups)
    assert merged < obj.n_kept
    assert any(cnt is not None for *_, cnt in obj._groups)
    W = np.vstack([np.eye(4), np.ones(4), [1, 1, 2, 0], [0, 1, 1, 2], rng.random((20, 4))])
    Wn = W / W.sum(1, keepdims=True)
    np.testing.assert_array_equal(obj._accuracy(Wn), obj._accuracy_f64(Wn))
    np.testing.assert_array_equal(obj.scores(W), reference_scores(P, y, W, ACC))


def test_dominated_and_satisfied_columns_leave_the_fast_pass(rng):
    X = rng.dirichlet(np.ones(6), size=(5, 2000))
    y = rng.integers(0, 6, 2000)
    obj = Objective(X, y, ACC)
    assert obj._Dfast.shape[1] < obj.n_kept * 5  # fewer than all C-1 columns per kept row
    W = rng.random((50, 5))
    np.testing.assert_array_equal(obj.scores(W), reference_scores(X, y, W, ACC))


def test_de_one_vector_at_a_time_follows_the_seed_script(rng):
    # the Cassava 1st place's objective, verbatim in substance, on a small problem
    N, M, C = 300, 4, 5
    P = rng.dirichlet(np.ones(C) * 0.5, size=(M, N))
    y = rng.integers(0, C, N)
    yhat = np.empty((N, M), dtype=object)
    for n in range(N):
        for m in range(M):
            yhat[n, m] = P[m, n]

    def loss_func(weights, Yhat, Y):
        w = np.mean(weights * Yhat, axis=1)
        return 1 - np.average(Y == np.array(list(map(np.argmax, w))))

    sol = differential_evolution(loss_func, [(0.0, 1.0)] * M, (yhat, y), maxiter=3, tol=1e-5,
                                 seed=8)
    ours = get_optimizer("de")(P, y, metric=ACC, maxiter=3, seed=8, vectorized=False)
    np.testing.assert_array_equal(ours.info["raw_x"], sol.x)
    assert 1 - ours.score == sol.fun


@pytest.mark.parametrize("rule", ["logit", "geo"])
def test_logit_loss_without_and_with_the_row_max_shift(oof, rule, rng):
    # |X| <= 300 skips the max shift; logits scaled past 300 take the shifted path (where
    # the core metric's probability clipping makes it differ from the exact cross-entropy,
    # so that path is held to the population kernel and to finite differences)
    for scale in (1.0, 100.0):
        X = to_scores(oof.logits * scale, rule=rule, kind="logits")
        obj = Objective(X, oof.y, get_metric("logloss"), rule=rule, kind="logits")
        assert (obj._xmax <= 300.0) == (scale == 1.0)
        w = rng.dirichlet(np.ones(5))
        f, g = obj.loss_and_grad(w)
        assert f == pytest.approx(obj.scores(w), rel=1e-12)
        if scale == 1.0:
            ref = reference_scores(X, oof.y, w[None], get_metric("logloss"), rule=rule,
                                   kind="logits")[0]
            assert f == pytest.approx(ref, rel=1e-10)
        eps = 1e-6 / scale
        num = [(obj.loss_and_grad(w + eps * e)[0] - obj.loss_and_grad(w - eps * e)[0])
               / (2 * eps) for e in np.eye(5)]
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rule", ["prob", "logit", "geo"])
def test_nonneg_default_reaches_the_softmax_optimum_or_lower(balanced, oof, rule):
    lb = get_optimizer("lbfgs")
    for data in (balanced, oof):
        X = to_scores(data.logits[:, 0], rule=rule, kind="logits")
        kind = "probs" if rule == "prob" else "logits"
        a = lb(X, data.y, metric=get_metric("logloss"), rule=rule, kind=kind)
        b = lb(X, data.y, metric=get_metric("logloss"), rule=rule, kind=kind,
               parameterization="softmax")
        assert a.info["parameterization"] == "nonneg"
        assert a.score <= b.score + 1e-10
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-3)
        assert a.evaluations <= b.evaluations
