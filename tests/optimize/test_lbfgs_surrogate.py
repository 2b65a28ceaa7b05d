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
