"""`blend optimize --method lbfgs` on a binary store with AUC fits log loss and scores AUC (issue 21)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend.cli import main
from blend.metrics import get_metric
from blend.optimize import optimize
from oof_store import softmax, synthetic


def test_lbfgs_with_auc_fits_logloss_and_scores_auc():
    d = synthetic.make_oof(n_models=4, n_rows=400, n_folds=4, task="binary", seed=3, accuracy=(0.6, 0.8))
    P = softmax(d.logits.copy())
    auc = optimize(P, d.y, d.folds, method="lbfgs", metric="auc", rule="prob", rng=0)
    ll = optimize(P, d.y, d.folds, method="lbfgs", metric="logloss", rule="prob", rng=0)
    assert auc.metric == "auc"
    assert auc.weights == pytest.approx(ll.weights)  # the same fit (log loss) ...
    blend = np.tensordot(np.array(list(auc.weights.values())), P[:, 0], axes=1)
    assert auc.score == pytest.approx(get_metric("auc")(d.y, blend), abs=1e-9)  # ... scored on AUC
    assert auc.nested_score is not None
    assert auc.announcements[0].startswith("lbfgs fits the weights on log loss (auc has no gradient)")


def test_cli_lbfgs_on_a_binary_store_uses_the_default_auc_and_says_so(tmp_path, capsys):
    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=300, n_folds=3, task="binary", seed=4)
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--json", str(tmp_path / "o.json")]) == 0
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert "fits the weights on log loss (auc has no gradient) and scores them on auc" in out
    assert json.loads((tmp_path / "o.json").read_text())["metric"] == "auc"


@pytest.mark.parametrize(("per_class", "tta_weights"), [(False, False), (True, False), (False, True)])
def test_the_plain_mean_is_scored_beside_the_nested_score(per_class, tta_weights):
    d = synthetic.make_oof(n_models=3, n_rows=300, n_folds=3, n_tta=2, seed=5, accuracy=(0.6, 0.8))
    P = softmax(d.logits.copy())
    res = optimize(P, d.y, d.folds, method="de", metric="logloss", rule="prob", rng=0,
                   per_class=per_class, tta_weights=tta_weights, params={"maxiter": 3})
    mean = P.mean(axis=(0, 1))
    assert res.mean_score == pytest.approx(get_metric("logloss")(d.y, mean), rel=1e-6)
    text = res.versus_mean()
    assert text.startswith(f"nested {res.nested_score:.6f} (plain mean {res.mean_score:.6f}: ")
    assert ("better than the mean" in text) == (res.nested_score < res.mean_score)


def test_beside_mean_words():
    from blend.nested import beside_mean

    assert beside_mean(0.6605, 0.6705, True) == "nested 0.6605 (plain mean 0.6705: below the mean)"
    assert beside_mean(0.40, 0.45, False) == "nested 0.4000 (plain mean 0.4500: better than the mean)"
    assert beside_mean(0.5, 0.5, True) == "nested 0.5000 (plain mean 0.5000: level with the mean)"
    assert beside_mean(None, 0.5, True) == "nested skipped"
    # the mean under another rule is another number: named, not passed off as the prob mean
    assert (beside_mean(0.5, 0.4, True, rule="logit")
            == "nested 0.5000 (plain mean (logit rule) 0.4000: above the mean)")
