"""`stack --ray local`: outer folds as Ray tasks give the plain run's nested scores and OOF."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend.cli.stack import main
from oof_store import Store, synthetic


@pytest.mark.parametrize(("stacker", "params"), [("lgbm", ["--param", "num_boost_round=40",
                                                          "--param", "num_threads=1"]),
                                                 ("linear", ["--hpo", "2"])])
def test_stack_cli_with_ray_matches_the_plain_run(ray_session, tmp_path, stacker, params):
    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=240, n_classes=3, n_folds=3,
                                 n_test=20, accuracy=(0.7, 0.85), seed=4, kind="probs")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = [stacker, str(store.uri), "--seed", "5", *params]
    assert main([*args, "--name", "plain", "--json", str(a)]) == 0
    assert main([*args, "--name", "on_ray", "--json", str(b), "--ray", "local"]) == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert db["nested_score"] == da["nested_score"]
    assert db["fold_scores"] == da["fold_scores"]
    assert db["params"]["per_fold"] == da["params"]["per_fold"]
    s = Store(store.uri)
    oof = s.load_oof(["plain", "on_ray"], output="probs").preds
    np.testing.assert_array_equal(oof[0], oof[1])
    test = s.load_test(["plain", "on_ray"], output="probs", folds="mean").preds
    np.testing.assert_array_equal(test[0], test[1])
