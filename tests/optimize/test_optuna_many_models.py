"""Optuna's defaults on many models: the nested score within 2 % of ``lbfgs`` (issue 18).

The store: 35 binary models, 4 strong ones among 31 weak correlated ones (log loss). With
one uniform draw per weight every trial is close to the plain mean, and the study ends
far from the optimum (nested 0.17 against lbfgs's 0.08 at 4,000 rows); the default warm
starts (the mean, then the k best single models at equal weights) fix that.
"""

from __future__ import annotations

import numpy as np
import pytest

from blend.optimize import optimize
from oof_store import synthetic
from oof_store._store import softmax


@pytest.fixture(scope="module")
def many():
    acc = np.r_[np.linspace(0.985, 0.99, 4), np.linspace(0.90, 0.96, 31)]
    d = synthetic.make_oof(n_models=35, n_rows=1500, task="binary", correlation=0.7,
                           accuracies=acc, n_folds=4, seed=0)
    return softmax(d.logits.astype(np.float64)), d.y, d.folds


def _nested(P, y, folds, method, params):
    return optimize(P, y, folds, method=method, metric="logloss", rule="prob", kind="probs",
                    rng=0, params=params).nested_score


def test_optuna_defaults_reach_lbfgs_on_35_models(many):
    lb = _nested(*many, "lbfgs", {})
    op = _nested(*many, "optuna", {"trials": 60})
    assert op <= 1.02 * lb, (op, lb)


def test_without_the_warm_starts_optuna_stays_far_from_lbfgs(many):
    # the failure the defaults fix, kept visible: seen as 0.17 vs 0.08 at 4,000 rows
    lb = _nested(*many, "lbfgs", {})
    op = _nested(*many, "optuna", {"trials": 60, "warm_start": False})
    assert op > 1.2 * lb, (op, lb)


def test_unknown_space_is_refused(many):
    from blend._errors import BlendError

    with pytest.raises(BlendError, match="weight space 'cubic'"):
        _nested(*many, "optuna", {"trials": 2, "space": "cubic"})
