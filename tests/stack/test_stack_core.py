"""Specification of the stacking core: registry, features, nested CV without leakage."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blend import BlendError
from blend.stack import (
    Stacker,
    available_stackers,
    fit_stacker,
    get_stacker,
    make_features,
    register_stacker,
)
from blend.stack._lgbm import LGBMStacker

# --------------------------------------------------------------------------- registry


def test_registry_holds_the_five_stackers_of_the_issue():
    assert available_stackers() == ["cnn1d", "cnn2d", "lgbm", "linear", "mlp"]


def test_unknown_stacker_lists_the_choices():
    with pytest.raises(BlendError, match=r"unknown stacker 'xgb'; choose one of: cnn1d, cnn2d, lgbm, linear, mlp"):
        get_stacker("xgb")


def test_registering_a_name_twice_for_another_class_is_refused():
    with pytest.raises(BlendError, match="already registered"):

        @register_stacker("lgbm")
        class Other(LGBMStacker):
            pass


def test_importing_blend_stack_does_not_import_torch():
    import subprocess

    code = "import sys, blend.stack; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- features


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), C=st.integers(2, 6))
def test_logit_features_are_logits_up_to_a_row_constant(seed, C):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(3, 1, 20, C)) * 3
    P = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True)
    L = make_features(P, features="logits", task="multiclass")  # (N, M, C)
    back = np.exp(L) / np.exp(L).sum(-1, keepdims=True)
    np.testing.assert_allclose(back, np.moveaxis(P[:, 0], 0, 1), atol=1e-4)
    np.testing.assert_allclose(L.sum(-1), 0, atol=1e-4)  # centred


def test_tta_views_become_model_channels():
    P = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 4, 10)).astype(np.float32)  # M=2, T=4
    X = make_features(P, features="probs", task="multiclass")
    assert X.shape == (10, 8, 3)
    np.testing.assert_array_equal(X[:, 5], P[1, 1])  # model 1, view 1


# --------------------------------------------------------------------------- contract over the registry


@pytest.mark.parametrize("name", available_stackers())
def test_every_stacker_beats_chance_and_predicts_valid_probabilities(name, make_problem, fast_params):
    P, y, folds, Pt = make_problem("multiclass")
    X, Xt = make_features(P, task="multiclass"), make_features(Pt, task="multiclass")
    res = fit_stacker(name, X, y, folds, task="multiclass", metric="accuracy",
                      params=fast_params(name), X_test=Xt, base_preds=P, rng=0)
    assert res.oof.shape == (len(y), 3)
    np.testing.assert_allclose(res.oof.sum(1), 1, atol=1e-6)
    assert res.test.shape == (Pt.shape[2], 3)
    assert res.fold_test.shape == (3, Pt.shape[2], 3)
    np.testing.assert_allclose(res.test, res.fold_test.mean(0))
    assert len(res.fold_scores) == 3
    assert res.nested_score > 0.6  # chance is 1/3; the base models are 70-85% accurate
    assert res.best_base["score"] > 0.6
    assert res.mean_blend_score > 0.6
    # the nested score is what the OOF predictions score (fold-size weighted mean)
    from blend.metrics import get_metric

    acc = get_metric("accuracy", "multiclass")
    assert res.nested_score == pytest.approx(acc(y, res.oof))


@pytest.mark.parametrize("name", available_stackers())
def test_every_stacker_repeats_for_a_fixed_seed(name, make_problem, fast_params):
    P, y, folds, _ = make_problem("multiclass", n_rows=240)
    X = make_features(P, task="multiclass")
    a = fit_stacker(name, X, y, folds, task="multiclass", params=fast_params(name), rng=7)
    b = fit_stacker(name, X, y, folds, task="multiclass", params=fast_params(name), rng=7)
    np.testing.assert_array_equal(a.oof, b.oof)


@pytest.mark.parametrize("task", ["binary", "softclass", "regression"])
@pytest.mark.parametrize("name", available_stackers())
def test_every_stacker_handles_every_task(name, task, make_problem, fast_params):
    P, y, folds, Pt = make_problem(task, n_rows=240)
    X, Xt = make_features(P, task=task), make_features(Pt, task=task)
    res = fit_stacker(name, X, y, folds, task=task, params=fast_params(name), X_test=Xt, base_preds=P, rng=0)
    if task == "regression":
        assert res.oof.shape == (240,)
        assert res.test.shape == (20,)
        assert res.metric == "rmse"
        assert res.nested_score < np.std(y)
    else:
        C = 2 if task == "binary" else 3
        assert res.oof.shape == (240, C)
        np.testing.assert_allclose(res.oof.sum(1), 1, atol=1e-6)
    assert np.isfinite(res.nested_score)


# --------------------------------------------------------------------------- leakage


class _Spy(LGBMStacker):
    """Records which rows (via an extra 'row index' feature) each fit saw."""

    def __init__(self):
        self.seen: list[set[int]] = []

    def fit_one(self, X, E, y, X_val, E_val, y_val, **kw):
        self.seen.append(set(E[:, 0].astype(int)) | set(E_val[:, 0].astype(int)))
        return super().fit_one(X, E[:, 1:], y, X_val, E_val[:, 1:], y_val, **kw)

    def predict_one(self, fitted, X, E):
        return super().predict_one(fitted, X, E[:, 1:])


def test_the_stacker_of_a_fold_never_sees_that_fold(make_problem):
    P, y, folds, _ = make_problem("multiclass", n_folds=4)
    X = make_features(P, task="multiclass")
    extra = np.stack([np.arange(len(y)), np.zeros(len(y))], axis=1)
    spy = _Spy()
    fit_stacker(spy, X, y, folds, task="multiclass", extra=extra, params={"num_threads": 1}, rng=0)
    per_outer = 3  # one inner model per remaining fold
    assert len(spy.seen) == 4 * per_outer
    for i, k in enumerate(np.unique(folds)):
        fold_rows = set(np.flatnonzero(folds == k))
        for seen in spy.seen[i * per_outer : (i + 1) * per_outer]:
            assert not (seen & fold_rows), f"outer fold {k}: an inner model saw its rows"


# The leakage test of every registered stacker (the held-out fold at chance, and the same
# check failing with a planted leak) is tests/honesty/test_leakage.py.


# --------------------------------------------------------------------------- options


def test_hpo_searches_the_parameters_with_the_inner_cv(make_problem):
    P, y, folds, _ = make_problem("multiclass", n_rows=240)
    X = make_features(P, task="multiclass")
    res = fit_stacker("linear", X, y, folds, task="multiclass", hpo=3, rng=0)
    cs = [p["C"] for p in res.params["per_fold"]]
    assert all(c != 1.0 for c in cs)  # sampled, not the default
    assert all(s is not None and 0.5 < s <= 1 for s in res.params["inner_scores"])


def test_informative_extra_features_improve_the_stacker(make_problem):
    P, y, folds, _ = make_problem("multiclass", n_rows=600)
    X = make_features(P, task="multiclass")
    hint = np.eye(3)[y] + np.random.default_rng(1).normal(0, 0.5, (600, 3))
    plain = fit_stacker("linear", X, y, folds, task="multiclass", metric="accuracy", rng=0)
    more = fit_stacker("linear", X, y, folds, task="multiclass", metric="accuracy", extra=hint, rng=0)
    assert more.nested_score > plain.nested_score + 0.03


class _SeedSpy(LGBMStacker):
    """Wraps each fitted model with its seed and records its predictions after validation.

    An inner model first predicts its own validation fold (early stopping, inner score),
    then, as part of the outer-fold stacker, the held-out outer fold: only those second
    predictions are recorded.
    """

    def __init__(self):
        self.calls: list[tuple[int, np.ndarray, np.ndarray]] = []

    def fit_one(self, *args, seed, **kw):
        return [seed, super().fit_one(*args, seed=seed, **kw), 0]

    def predict_one(self, fitted, X, E):
        seed, model, n = fitted
        fitted[2] = n + 1
        p = super().predict_one(model, X, E)
        if n >= 1:
            self.calls.append((seed, X, p))
        return p


def test_seeds_are_averaged(make_problem):
    # each outer fold's OOF rows are the mean of the predictions of 2 bags x 2 inner models,
    # every one fitted with its own seed
    P, y, folds, _ = make_problem("multiclass", n_rows=240)
    X = make_features(P, task="multiclass")
    spy = _SeedSpy()
    two = fit_stacker(spy, X, y, folds, task="multiclass", params={"num_threads": 1}, seeds=2,
                      rng=0, n_jobs=1)
    assert two.params["seeds"] == 2
    for k in np.unique(folds):
        te = folds == k
        on_fold = [(s, p) for s, Xc, p in spy.calls if np.array_equal(Xc, X[te])]
        assert len(on_fold) == 2 * 2  # 2 seeds x 2 inner folds
        assert len({s for s, _ in on_fold}) == 4  # each with its own seed
        np.testing.assert_allclose(two.oof[te], np.mean([p for _, p in on_fold], axis=0), rtol=1e-12)


def test_result_json_has_exactly_the_schema_of_the_issue(make_problem):
    P, y, folds, _ = make_problem("multiclass", n_rows=240)
    res = fit_stacker("linear", make_features(P, task="multiclass"), y, folds, task="multiclass",
                      base_preds=P, model_names=["a", "b", "c", "d"], rng=0)
    d = res.to_dict()
    assert set(d) == {"stacker", "metric", "nested_score", "fold_scores", "best_base",
                      "mean_blend_score", "params", "seconds"}
    assert set(d["best_base"]) == {"model", "score"}
    assert d["best_base"]["model"] in "abcd"
    import json

    json.dumps(d)  # serialisable
    assert "plain mean" in res.summary()


# --------------------------------------------------------------------------- bad input


def _X(n=60, m=3, c=3):
    return np.random.default_rng(0).dirichlet(np.ones(c), size=(n, m)).astype(np.float32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": np.repeat([0, 1], 30)}, "nested CV needs at least 3 folds"),
        ({"task": "ranking"}, "unknown task 'ranking'"),
        ({"y": np.zeros(59, int)}, "y has 59 rows but the features have 60"),
        ({"X": np.full((60, 3, 3), np.nan, np.float32)}, "NaN or infinite values in 60 row"),
        ({"params": {"depth": 3}}, r"The 'depth' parameter of stacker 'lgbm' must be one of its parameters"),
        ({"hpo": -1}, "hpo must be a number of trials >= 0"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"extra": np.zeros((59, 2))}, r"extra features must have shape \(60, E\)"),
        ({"X_test": _X(10), "extra": np.zeros((60, 2))}, "not for the test rows"),
        ({"metric": "rmse"}, "rmse"),
        ({"X_test": _X(10, 2)}, r"test features must have shape \(Nt, 3, 3\)"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    args = {"X": _X(), "y": np.arange(60) % 3, "folds": np.arange(60) % 3, "task": "multiclass"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_stacker("lgbm", args.pop("X"), args.pop("y"), args.pop("folds"), **args)


def test_regression_refuses_logit_features():
    with pytest.raises(BlendError, match="regression stacks the raw predictions"):
        make_features(np.zeros((2, 1, 5, 1)), features="logits", task="regression")


def test_a_stacker_is_a_stacker():
    assert all(isinstance(get_stacker(n), Stacker) for n in available_stackers())
