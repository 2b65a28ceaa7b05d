"""`blend optimize --ray local`: the fits as Ray tasks give the plain run's weights and scores."""

from __future__ import annotations

import json

import optuna
import pytest

from blend.cli import main
from blend.optimize import optimize
from oof_store import synthetic
from oof_store.distributed import get_executor


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return synthetic.make_store(tmp_path_factory.mktemp("opt") / "s", n_models=4, n_rows=400,
                                n_classes=3, n_folds=4, n_tta=1, accuracy=(0.6, 0.85), seed=11)


def _strip(d):
    return {k: v for k, v in d.items() if k != "seconds"}


@pytest.mark.parametrize(("method", "opts"), [("de", ["--maxiter", "3", "--popsize", "4"]),
                                              ("optuna", ["--trials", "12"])])
def test_optimize_cli_with_ray_matches_the_plain_run(ray_session, store, tmp_path, method, opts):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["optimize", str(store.uri), "--method", method, "--seed", "3", *opts]
    if method == "optuna":  # each run its own study, so the second does not resume the first
        args_a = [*args, "--storage", str(tmp_path / "a.journal")]
        args_b = [*args, "--storage", str(tmp_path / "b.journal")]
    else:
        args_a = args_b = args
    assert main([*args_a, "--json", str(a)]) == 0
    assert main([*args_b, "--json", str(b), "--ray", "local"]) == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert _strip(db) == _strip(da)
    assert db["nested_score"] is not None


def test_optuna_workers_share_one_study_through_the_journal(ray_session, store, tmp_path):
    oof = store.load_oof(output="probs")
    journal = str(tmp_path / "shared.journal")
    with get_executor("local") as ex:
        res = optimize(oof.preds, oof.y, oof.folds, method="optuna", nested=False, rng=0,
                       params={"trials": 16, "storage": journal, "study_name": "s",
                               "workers": 2}, executor=ex)
        assert ex.maps[-1].tasks == 2  # two workers on the one study of the in-sample fit
    from blend.optimize._optuna import resolve_storage

    # the study is named after the fit and its identity (blend.optimize._optuna.study_key)
    assert res.fit.info["study_name"].startswith("s-all-")
    study = optuna.load_study(study_name=res.fit.info["study_name"], storage=resolve_storage(journal))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 16 <= len(done) <= 17  # MaxTrialsCallback: a running trial may finish after the stop
    assert res.fit.info["best_trial"] == study.best_trial.number
    assert res.fit.info["workers"] == 2
    assert res.score == pytest.approx(study.best_value)


def test_optimize_from_search_with_ray_matches_the_plain_run(ray_session, store, tmp_path):
    # the selection (a subset search) runs inside every fit, so it travels with the tasks; the
    # conditional fits (subset fixed to the all-rows choice) are a second round of tasks
    search = tmp_path / "s.json"
    assert main(["search", str(store.uri), "--top", "3", "--json", str(search)]) == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["optimize", str(store.uri), "--from-search", str(search), "--method", "de",
            "--maxiter", "3", "--popsize", "4", "--seed", "1"]
    assert main([*args, "--json", str(a)]) == 0
    assert main([*args, "--json", str(b), "--ray", "local"]) == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert _strip(db) == _strip(da)
    assert db["conditional_nested_score"] is not None
    assert db["fold_selected"] == da["fold_selected"]
