"""The LightGBM stacker on soft targets: the soft cross-entropy as a custom objective.

It replaced repeating each row once per class with its soft target as weight (the same
loss, gradient and Hessian, on C times fewer rows); these tests hold it to that.
"""

from __future__ import annotations

import numpy as np
import pytest

from blend.metrics import get_metric
from blend.stack import fit_stacker, make_features
from blend.stack._lgbm import LGBMStacker
from blend.stack._stacker import expand_soft, flatten, normalize_probs

lgb = pytest.importorskip("lightgbm")


def _soft_problem(seed: int = 0, n: int = 1500, C: int = 4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, C)) * 2
    Y = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)  # the soft targets
    # three "models": noisy views of the target logits
    P = np.stack([np.exp(logits + rng.normal(scale=s, size=logits.shape)) for s in (0.7, 1.0, 1.4)])
    P /= P.sum(-1, keepdims=True)
    folds = np.arange(n) % 3
    return P[:, None], Y, folds


def _expanded_fit(F, Y, F_val, Y_val, params, seed):
    """The former way: each row once per class, its soft target as weight."""
    C = Y.shape[1]
    Fr, lab, w = expand_soft(F, Y)
    Fv, labv, wv = expand_soft(F_val, Y_val)
    p = dict(params)
    rounds, stop = p.pop("num_boost_round"), p.pop("early_stopping_rounds")
    dtr = lgb.Dataset(Fr, label=lab, weight=w)
    dva = lgb.Dataset(Fv, label=labv, weight=wv, reference=dtr)
    b = lgb.train({**p, "objective": "multiclass", "num_class": C, "seed": seed, "verbose": -1,
                   "deterministic": True}, dtr, num_boost_round=rounds, valid_sets=[dva],
                  callbacks=[lgb.early_stopping(stop, verbose=False)])
    return b


def test_the_soft_objective_fits_as_well_as_the_repeated_rows():
    P, Y, folds = _soft_problem()
    X = make_features(P, features="probs", task="softclass")
    st = LGBMStacker()
    params = {**st.default_params("softclass", 4), "bagging_fraction": 1.0, "bagging_freq": 0,
              "feature_fraction": 1.0, "min_data_in_leaf": 5}
    tr, va, te = folds == 0, folds == 1, folds == 2
    kl = get_metric("kl", "softclass")
    fitted = st.fit_one(X[tr], None, Y[tr], X[va], None, Y[va], task="softclass", n_classes=4,
                        params=params, seed=0)
    ours = st.predict_one(fitted, X[te], None)
    np.testing.assert_allclose(ours.sum(1), 1.0, atol=1e-9)
    b = _expanded_fit(flatten(X[tr], None, "softclass"), Y[tr], flatten(X[va], None, "softclass"),
                      Y[va], params, 0)
    theirs = normalize_probs(b.predict(flatten(X[te], None, "softclass"), num_iteration=b.best_iteration))
    k_ours, k_theirs = kl(Y[te], ours), kl(Y[te], theirs)
    base = kl(Y[te], np.tile(Y[tr].mean(0), (int(te.sum()), 1)))
    assert k_ours < 0.5 * base  # it learned
    assert abs(k_ours - k_theirs) < 0.03 * k_theirs, (k_ours, k_theirs)
    # the same trees up to the expanded rows' min_data_in_leaf counting: close predictions
    assert np.abs(ours - theirs).mean() < 0.02


def test_soft_gradients_are_the_repeated_rows_gradients_summed():
    """One boosting round from the same start: the first tree's leaf values agree."""
    P, Y, folds = _soft_problem(seed=1, n=600)
    X = make_features(P, features="probs", task="softclass")
    st = LGBMStacker()
    params = {**st.default_params("softclass", 4), "bagging_fraction": 1.0, "bagging_freq": 0,
              "feature_fraction": 1.0, "min_data_in_leaf": 1, "num_leaves": 2,
              "min_sum_hessian_in_leaf": 0.0, "num_boost_round": 1, "early_stopping_rounds": 1,
              "lambda_l2": 0.0}
    tr, va = folds != 2, folds == 2
    fitted = st.fit_one(X[tr], None, Y[tr], X[va], None, Y[va], task="softclass", n_classes=4,
                        params=params, seed=0)
    booster, _, _, init = fitted
    ours = booster.predict(flatten(X[va], None, "softclass"), raw_score=True) + init
    b = _expanded_fit(flatten(X[tr], None, "softclass"), Y[tr], flatten(X[va], None, "softclass"),
                      Y[va], {**params, "boost_from_average": True}, 0)
    theirs = b.predict(flatten(X[va], None, "softclass"), raw_score=True)
    # LightGBM's own start is the log of the weighted class priors, ours the same
    np.testing.assert_allclose(ours - ours.mean(1, keepdims=True),
                               theirs - theirs.mean(1, keepdims=True), atol=1e-6)


def test_stack_lgbm_on_soft_targets_end_to_end():
    P, Y, folds = _soft_problem(seed=2, n=900)
    X = make_features(P, features="probs", task="softclass")
    res = fit_stacker("lgbm", X, Y, folds, task="softclass", metric="kl",
                      params={"num_threads": 1, "num_boost_round": 200}, rng=0, n_jobs=1)
    kl = get_metric("kl", "softclass")
    mean = kl(Y, P[:, 0].mean(0))
    assert res.nested_score < mean  # beats the plain mean of the views
    assert np.isfinite(res.oof).all()
    assert np.allclose(res.oof.sum(1), 1.0)
