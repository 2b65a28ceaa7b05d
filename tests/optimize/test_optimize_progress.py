"""`optimize(progress=...)`: every method reports its fits, in order, ending at the total."""

from __future__ import annotations

import pytest

from blend.combine import to_scores
from blend.optimize import available_optimizers, optimize

FAST = {"de": {"maxiter": 3, "popsize": 5}, "optuna": {"trials": 6}, "nelder-mead": {"maxiter": 50},
        "hill-climb": {"max_steps": 5, "n_bags": 3}, "lbfgs": {"maxiter": 20}}
INNER = {"de", "optuna", "hill-climb"}  # methods that also report steps inside a fit


@pytest.mark.parametrize("method", available_optimizers())
@pytest.mark.parametrize("nested", [True, False])
def test_progress_counts_each_fit_and_ends_at_the_total(oof, method, nested):
    calls = []
    X = to_scores(oof.logits, rule="prob", kind="logits")[:3]
    optimize(X, oof.y, oof.folds, method=method, metric="logloss", rng=0, nested=nested,
             params=FAST.get(method, {}), progress=lambda *a: calls.append(a))
    n_fits = 1 + (4 if nested else 0)
    done = [c[0] for c in calls]
    assert done == sorted(done)  # never goes back
    assert {c[1] for c in calls} == {n_fits}
    assert done[-1] == n_fits
    assert calls[0][2] == "in-sample fit"
    if nested:
        assert calls[-1][2] == f"nested CV fit {n_fits - 1}/{n_fits - 1}"
    fractions = [d for d in done if d != int(d)]
    assert bool(fractions) == (method in INNER), fractions


def test_without_progress_the_fitters_see_no_progress_argument(oof):
    # the registry's fitters are called exactly as before: same weights with and without
    X = to_scores(oof.logits, rule="prob", kind="logits")[:3]
    a = optimize(X, oof.y, oof.folds, method="de", metric="logloss", rng=1, params=FAST["de"])
    b = optimize(X, oof.y, oof.folds, method="de", metric="logloss", rng=1, params=FAST["de"],
                 progress=lambda *a: None)
    assert a.weights == b.weights
    assert a.nested_score == b.nested_score
