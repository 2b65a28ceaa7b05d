"""One parameter-validation helper, one message template (blend._params).

Optimisers, stackers and cut-point methods all reject an unknown parameter or a value of
the wrong kind with "The 'p' parameter of WHAT 'name' must be ... Got ... instead.".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blend import BlendError
from blend._params import Param, check_params, jsonable
from blend.metrics import get_metric
from blend.optimize import get_optimizer
from blend.ordinal import Grades, fit_cuts
from blend.stack import check_params as stack_check_params
from blend.stack import get_stacker


def _P():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=(3, 60))
    return P, rng.integers(0, 3, 60)


@pytest.mark.parametrize(("method", "params", "message"), [
    ("de", {"maxiter": "x"},
     "The 'maxiter' parameter of optimizer 'de' must be an int >= 1. Got 'x' instead."),
    ("de", {"maxiter": 0},
     "The 'maxiter' parameter of optimizer 'de' must be an int >= 1. Got 0 instead."),
    ("hill-climb", {"bag_fraction": 1.5},
     "The 'bag_fraction' parameter of optimizer 'hill-climb' must be a float in [0, 1]. Got 1.5 instead."),
    ("lbfgs", {"parameterization": "exp"},
     "The 'parameterization' parameter of optimizer 'lbfgs' must be one of 'nonneg', 'softmax'. "
     "Got 'exp' instead."),
    ("nelder-mead", {"restarts": 1.0},
     "The 'restarts' parameter of optimizer 'nelder-mead' must be an int >= 0. Got 1.0 instead."),
    ("optuna", {"trials": True},
     "The 'trials' parameter of optimizer 'optuna' must be an int >= 1. Got True instead."),
])
def test_optimizers_share_the_template(method, params, message):
    P, y = _P()
    with pytest.raises(BlendError) as e:
        get_optimizer(method)(P, y, metric=get_metric("logloss"), **params)
    assert str(e.value) == message


def test_unknown_names_use_the_same_template():
    P, y = _P()
    with pytest.raises(BlendError) as e:
        get_optimizer("de")(P, y, metric=get_metric("logloss"), generations=3)
    assert str(e.value).startswith("The 'generations' parameter of optimizer 'de' must be one of "
                                   "its parameters (init, maxiter,")
    assert str(e.value).endswith("Got 'generations' instead.")
    st_ = get_stacker("lgbm")
    with pytest.raises(BlendError, match=r"^The 'depth' parameter of stacker 'lgbm' must be one of "
                                         r"its parameters \(.*\)\. Got 'depth' instead\.$"):
        stack_check_params(st_, {"depth": 3}, "multiclass", 3)
    with pytest.raises(BlendError, match=r"^The 'steps' parameter of cut-point method 'coordinate' "
                                         r"must be one of its parameters \(max_passes\)"):
        fit_cuts(np.zeros(3), np.zeros(3), Grades((0, 1)), "coordinate", steps=3)


def test_valid_values_pass():
    P, y = _P()
    res = get_optimizer("hill-climb")(P, y, metric=get_metric("logloss"), n_bags=2,
                                      bag_fraction=1, max_steps=np.int64(5), tol=0)
    assert np.isclose(np.sum(res.weights), 1.0)


@given(st.integers(-5, 5))
def test_int_bounds(v):
    spec = {"n": Param("int", low=1, high=3)}
    if 1 <= v <= 3:
        check_params("m", {"n": v}, spec)
    else:
        with pytest.raises(BlendError, match=r"must be an int in \[1, 3\]\. Got"):
            check_params("m", {"n": v}, spec)


def test_jsonable_is_recursive_and_plain():
    d = jsonable({"a": np.float32(1.5), 2: [np.int64(3), np.array([1.0, np.inf])],
                  "b": (np.bool_(True), math.nan)})
    assert d == {"a": 1.5, "2": [3, [1.0, "inf"]], "b": [True, "nan"]}
    assert type(d["a"]) is float


def test_stackers_declare_their_features_and_compare_reads_them():
    from blend.compare import CompareData
    from blend.compare._candidates import _stacker_candidate
    from blend.stack import available_stackers

    decl = {n: get_stacker(n).preferred_features for n in available_stackers()}
    assert set(decl.values()) <= {"probs", "logits"}
    assert decl["linear"] == "logits"
    rng = np.random.default_rng(0)
    data = CompareData(probs=rng.dirichlet(np.ones(3), size=(2, 1, 30)), y=rng.integers(0, 3, 30),
                       folds=np.arange(30) % 3, task="multiclass", models=["a", "b"])
    for n in ("linear", "lgbm"):
        assert _stacker_candidate(data, n, bag=False, seeds=1, params={}).extra["features"] == decl[n]
