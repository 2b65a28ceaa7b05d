"""Real OOF: the Assembled digits metatask (5 scikit-learn models, 1797 rows, 10 classes, 10 folds).

Tolerances: the data is easy (best single model 0.9783 accuracy, log loss 0.0885), so
weighting gains little; the nested-CV accuracy of DE must stay within 0.005 of the best
single model, and L-BFGS's nested log loss must beat both the best single model and the
plain mean (0.256) -- measured 0.9777 and 0.0845 when this test was written.
"""

from __future__ import annotations

import numpy as np
import pytest

from blend.combine import combine
from blend.metrics import get_metric
from blend.optimize import optimize
from oof_store.assembled import import_metatask


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from pathlib import Path

    d = Path(__file__).resolve().parents[1] / "data" / "assembled_metatasks"
    if not (d / "metatask_-2.csv").exists():
        raise FileNotFoundError(f"real OOF data missing from the repository: {d}")
    store = import_metatask(d / "metatask_-2.csv", d / "metatask_-2.json",
                            tmp_path_factory.mktemp("digits") / "store")
    return store.load_oof(output="probs")


def test_de_nested_accuracy_matches_the_best_single_model(digits):
    acc = get_metric("accuracy")
    best = max(acc(digits.y, digits.preds[i, 0]) for i in range(len(digits.models)))
    res = optimize(digits.preds, digits.y, digits.folds, method="de", metric="accuracy",
                   models=digits.models, rng=0)
    assert len(res.fold_scores) == 10
    assert res.nested_score >= best - 0.005
    # the nested score is the accuracy of the pooled held-out blends, each fold's blend made
    # with the weights fitted without it (recomputed here with the core blend)
    pooled = np.zeros(digits.preds.shape[2:])
    for k, fw in zip(res.fold_ids, res.fold_weights, strict=True):
        te = digits.folds == k
        w = np.array([fw[m] for m in digits.models])
        pooled[te] = combine(digits.preds[:, :, te], w)
    assert res.nested_score == pytest.approx(acc(digits.y, pooled), abs=1e-12)


def test_lbfgs_nested_logloss_beats_best_single_and_plain_mean(digits):
    ll = get_metric("logloss")
    best = min(ll(digits.y, digits.preds[i, 0]) for i in range(len(digits.models)))
    mean = ll(digits.y, combine(digits.preds))
    res = optimize(digits.preds, digits.y, digits.folds, method="lbfgs", metric="logloss",
                   models=digits.models, rng=0)
    assert res.nested_score < best < mean
    assert max(res.weights, key=res.weights.get) == "GB_100"
    assert np.isclose(sum(res.weights.values()), 1.0)
