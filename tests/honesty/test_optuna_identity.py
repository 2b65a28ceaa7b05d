"""Stored Optuna studies are resumed only by the run that would give the same answer (item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend.cli import main
from blend.combine import to_scores
from blend.metrics import get_metric
from blend.optimize import get_optimizer
from oof_store import synthetic


@pytest.fixture
def store(tmp_path):
    return synthetic.make_store(tmp_path / "s", n_models=3, n_rows=240, n_classes=3, n_folds=3,
                                accuracy=(0.6, 0.8), seed=2)


def _run(store, tmp_path, capsys, *extra):
    out = tmp_path / "o.json"
    args = ["optimize", str(store.uri), "--method", "optuna", "--trials", "10", "--no-nested",
            "--storage", str(tmp_path / "j.journal"), "--study-name", "s", *extra]
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().err


def test_the_same_command_resumes_and_says_so(store, tmp_path, capsys):
    a, err = _run(store, tmp_path, capsys)
    assert a["evaluations"] == 10
    assert "resumed" not in err
    b, err = _run(store, tmp_path, capsys)
    assert b["evaluations"] == 0
    assert b["weights"] == a["weights"]
    assert "10 trials done, running 0 more" in " ".join(err.split())


@pytest.mark.parametrize("change", [["--seed", "1"], ["--trials", "11"], ["--sampler", "cmaes"],
                                    ["--metric", "logloss"], ["--rule", "logit"],
                                    ["--models", "m00", "m01"]])
def test_another_setting_starts_a_new_study(change, store, tmp_path, capsys):
    if "cmaes" in change:
        pytest.importorskip("cmaes")
    _run(store, tmp_path, capsys)
    b, err = _run(store, tmp_path, capsys, *change)
    assert "resumed" not in err
    assert b["evaluations"] == (11 if "11" in change else 10)


def test_reimported_predictions_start_a_new_study(store, tmp_path, capsys):
    _run(store, tmp_path, capsys)
    # overwrite one model's OOF with other predictions, same name
    P = np.random.default_rng(9).dirichlet(np.ones(3), size=len(store.ids)).astype(np.float32)
    store.remove_model("m01")
    for k in store.fold_ids:
        rows = np.flatnonzero(store.folds == k)
        store.write_block("oof", "m01", int(k), 0, store.ids[rows], P[rows])
    store.finish_model("m01", kind="probs")
    b, err = _run(store, tmp_path, capsys)
    assert "resumed" not in err
    assert b["evaluations"] == 10


def test_an_interrupted_study_is_resumed_for_the_missing_trials(tmp_path):
    import optuna

    from blend.optimize._optuna import resolve_storage, study_key

    d = synthetic.make_oof(n_models=3, n_rows=200, n_classes=3, n_folds=3, seed=4)
    X = to_scores(d.logits, rule="prob", kind="logits")
    journal = str(tmp_path / "j.journal")
    seed = int(np.random.default_rng(0).integers(2**31 - 1))
    name = "t-" + study_key(X, d.y, metric="accuracy", rule="prob", kind="probs",
                            per_class=False, sampler="tpe", seed=seed, trials=12,
                            n_startup_trials=None)
    study = optuna.create_study(storage=resolve_storage(journal), study_name=name,
                                direction="maximize")
    study.optimize(lambda t: sum(t.suggest_float(f"w{i}", 0, 1) for i in range(3)), n_trials=5)
    res = get_optimizer("optuna")(X, d.y, metric=get_metric("accuracy"), rng=np.random.default_rng(0),
                                  trials=12, storage=journal, study_name="t")
    assert res.info["study_name"] == name
    assert res.info["announce"] == f"resumed study {name}: 5 trials done, running 7 more"
    assert res.evaluations == 7
