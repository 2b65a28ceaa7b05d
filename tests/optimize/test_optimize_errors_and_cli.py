"""Bad input gets one clear error; ``blend optimize`` works end to end on a store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend import BlendError
from blend.cli import main
from blend.optimize import optimize
from oof_store import synthetic

P = np.random.default_rng(0).dirichlet(np.ones(3), size=(3, 40))
Y = np.arange(40) % 3
F = np.arange(40) % 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"P": P[:1]}, r"at least 2 models; got 1"),
        ({"y": Y[:30]}, r"y has 30 rows but the predictions have 40"),
        ({"folds": F[:10]}, r"one fold id per row \(40\)"),
        ({"folds": np.zeros(40)}, r"at least 2 folds"),
        ({"method": "simplex"}, r"unknown optimisation method 'simplex'; choose one of: de"),
        ({"metric": "rmse", "task": "multiclass"}, r"metric 'rmse' does not fit a multiclass"),
        ({"metric": "nope"}, r"unknown metric 'nope'"),
        ({"rule": "median"}, r"unknown rule 'median'"),
        ({"method": "lbfgs", "metric": "accuracy", "rule": "rank"}, r"lbfgs needs a differentiable metric"),
        ({"temperature": True, "rule": "prob"}, r"--temperature scales logits"),
        ({"tta_weights": True}, r"--tta-weights needs several TTA views"),
        ({"models": ["a", "a", "b"]}, r"3 distinct model names"),
        ({"method": "de", "params": {"generations": 3}}, r"The 'generations' parameter of optimizer 'de' must be one of its parameters \(init, "),
        ({"method": "hill-climb", "per_class": True}, r"hill-climb selects whole models"),
    ],
)
def test_bad_input_is_refused_before_any_fit(kwargs, message):
    args = {"P": P, "y": Y, "folds": F}
    args.update(kwargs)
    with pytest.raises(BlendError, match=message):
        optimize(args.pop("P"), args.pop("y"), args.pop("folds"), **args)


def test_nan_predictions_name_the_model():
    bad = P.copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(BlendError, match=r"model 'b' has 1 NaN"):
        optimize(bad, Y, F, models=["a", "b", "c"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return synthetic.make_store(tmp_path_factory.mktemp("opt") / "store", n_models=4,
                                n_rows=600, n_classes=3, n_folds=4, n_tta=2,
                                accuracy=(0.7, 0.9), seed=1)


def test_cli_writes_the_json_facts(store, tmp_path):
    out = tmp_path / "w.json"
    code = main(["optimize", str(store.uri), "--method", "de", "--maxiter", "5",
                 "--json", str(out)])
    assert code == 0
    d = json.loads(out.read_text())
    assert list(d) == ["method", "metric", "weights", "score", "nested_score", "fold_scores",
                       "fold_weights", "seconds", "evaluations", "score_is", "nested_score_is",
                       "nested_covers", "mean_score", "mean_score_is", "honest", "flagged_models",
                       "level2_models"]
    assert d["method"] == "de"
    assert d["metric"] == "accuracy"
    assert set(d["weights"]) == set(store.models())
    assert len(d["fold_scores"]) == store.n_folds == len(d["fold_weights"])
    assert d["evaluations"] > 0


def test_cli_from_search_reruns_the_search_inside_every_outer_fold(store, tmp_path):
    search = tmp_path / "search.json"
    assert main(["search", str(store.uri), "--top", "3", "--max-size", "3", "--json",
                 str(search)]) == 0
    ranked = json.loads(search.read_text())["results"]
    out = tmp_path / "w.json"
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                 "--from-search", str(search), "--rank", "2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert sorted(d["selected"]) == sorted(ranked[1]["models"])
    # the models not chosen on all rows weigh 0
    assert all(w == 0 for m, w in d["weights"].items() if m not in d["selected"])
    assert d["nested_covers"] == ["subset selection", "weights"]
    assert len(d["fold_selected"]) == store.n_folds
    assert d["conditional_nested_score"] is not None
    assert "conditional" in d["conditional_nested_score_is"]


def test_cli_from_search_refuses_a_file_without_the_search_settings(store, tmp_path, capsys):
    search = tmp_path / "search.json"
    search.write_text(json.dumps({"results": [{"models": ["m03", "m01"], "score": 0.9}]}))
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                 "--from-search", str(search)]) == 2
    assert "cannot be rerun inside the outer folds" in capsys.readouterr().err


def test_cli_tta_weights_and_temperature(store, tmp_path):
    out = tmp_path / "w.json"
    assert main(["optimize", str(store.uri), "--method", "nelder-mead", "--rule", "logit",
                 "--metric", "logloss", "--tta-weights", "--temperature",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert set(d["tta_weights"]["m00"]) == set(store.manifest("m00")["tta_views"])
    total = sum(sum(v.values()) for v in d["tta_weights"].values())
    assert total == pytest.approx(1.0)
    assert len(d["temperatures"]) == 8


def test_cli_optuna_study_is_stored_and_resumed(store, tmp_path):
    journal = tmp_path / "study.journal"
    args = ["optimize", str(store.uri), "--method", "optuna", "--trials", "12",
            "--storage", str(journal), "--study-name", "s", "--no-nested"]
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*args, "--json", str(out1)]) == 0
    assert journal.exists()
    assert main([*args, "--json", str(out2)]) == 0  # resumed: the 12 trials are there
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    assert a["evaluations"] == 12
    assert b["evaluations"] == 0
    assert a["weights"] == b["weights"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "m00", "zz"], "unknown model"),
        (["--models", "m00"], "at least 2 models"),
        (["--from-search", "missing.json"], "No such file"),
        (["--method", "lbfgs", "--rule", "rank"], "lbfgs needs a differentiable metric"),
    ],
)
def test_cli_bad_input_prints_one_red_line_and_exits_2(store, argv, message, capsys):
    assert main(["optimize", str(store.uri), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_cli_recipe_reproduces_the_in_sample_score(store, tmp_path):
    from blend.metrics import get_metric
    from blend.recipe import Recipe

    out, rec = tmp_path / "w.json", tmp_path / "r.json"
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                 "--rule", "logit", "--json", str(out), "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())
    recipe = Recipe.load(rec)
    assert recipe.weights == pytest.approx(tuple(d["weights"][m] for m in recipe.models))
    score = get_metric("logloss")(store.y, recipe.predict_oof(store))
    assert score == pytest.approx(d["score"], rel=1e-6)

    # (recipes with --tta-weights / --per-class / --temperature: tests/optimize/test_recipe_full.py)
