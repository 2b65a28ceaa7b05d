"""`fit_stacker(progress=...)`: outer folds x inner work, counted exactly, fold lines logged."""

from __future__ import annotations

import pytest

from blend.stack import fit_stacker


@pytest.mark.parametrize(("stacker", "hpo", "seeds"), [
    ("linear", 0, 1), ("linear", 2, 2), ("lgbm", 0, 2), ("lgbm", 2, 1),
])
def test_progress_total_is_every_model_fit(make_problem, fast_params, stacker, hpo, seeds):
    P, y, folds, _ = make_problem(n_rows=240)
    from blend.stack import make_features

    X = make_features(P, task="multiclass")
    calls = []
    fit_stacker(stacker, X, y, folds, task="multiclass", params=fast_params(stacker), hpo=hpo,
                seeds=seeds, rng=0, n_jobs=2,
                progress=lambda d, t, m, log=False: calls.append((d, t, m, log)))
    fits = [c for c in calls if not c[3]]
    total = fits[0][1]
    assert {c[1] for c in calls} == {total}  # the total is known from the start
    assert fits[0][0] == 0
    assert fits[-1][0] == total  # ... and is exactly the number of fits made
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    logged = [c[2] for c in calls if c[3]]
    assert [m.split(":")[0] for m in logged] == ["fold 0", "fold 1", "fold 2"]
    assert all("accuracy" in m for m in logged)
