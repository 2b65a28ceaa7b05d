"""``blend compare`` end to end: leaderboard, JSON schema, recipes that ``blend apply`` reproduces."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from blend.cli import main as blend
from blend.recipe import Recipe
from blend.workflows.compare import compare_store, recipe_for, write_stackers
from oof_store import Store

SCHEMA = {"metric", "greater_is_better", "candidates", "recommended", "procedure_nested_score",
          "procedure_fold_scores", "seconds"}
#: what the CLI adds beside the issue's schema: the models compared and their honesty
CLI_EXTRA = {"models", "honest", "flagged_models"}


def test_cli_end_to_end_json_schema_html_and_store_untouched(tiny_store, tmp_path, capsys, few):
    before = sorted(tiny_store.models())
    files_before = _files(tiny_store)
    out = tmp_path / "cmp.json"
    page = tmp_path / "cmp.html"
    code = blend(["compare", str(tiny_store.uri), "--methods", *few, "--json", str(out),
                  "--html", str(page), "--threads", "1"])
    text = capsys.readouterr().out
    assert code == 0
    assert "recommended:" in text
    assert "procedure score" in text
    assert "(baseline)" in text
    d = json.loads(out.read_text())
    assert set(d) == SCHEMA | CLI_EXTRA
    assert d["honest"] is True
    assert d["metric"] == "accuracy"
    assert d["greater_is_better"] is True
    names = [c["name"] for c in d["candidates"]]
    assert {"mean", "best single", "best-subset mean", "lbfgs prob", "lbfgs logit", "stack:linear",
            "stack:lgbm", "level3 lbfgs"} == set(names)
    for c in d["candidates"]:
        assert set(c) == {"name", "nested_score", "fold_scores", "in_sample_score", "seconds"}
        assert len(c["fold_scores"]) == 5
    scores = [c["nested_score"] for c in d["candidates"]]
    assert scores == sorted(scores, reverse=True)  # best first
    assert set(d["recommended"]) == {"name", "nested_score", "reason"}
    assert d["recommended"]["name"] in names
    assert d["recommended"]["reason"]
    assert isinstance(d["procedure_nested_score"], float)
    assert len(d["procedure_fold_scores"]) == 5
    assert "<table>" in page.read_text()
    # nothing written into the store
    store = Store(tiny_store.uri)
    assert sorted(store.models()) == before
    assert _files(store) == files_before


def _files(store) -> list[str]:
    # the store's own read cache (.cache) may change; its data files must not
    from pathlib import Path

    root = Path(str(store.uri).removeprefix("file://"))
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".cache" not in p.parts)


@pytest.fixture
def tiny_res(tiny_store, few):
    return compare_store(tiny_store, methods=few, seed=0, n_jobs=1)


def test_every_kind_of_recommendation_applies_to_its_in_sample_predictions(tiny_store, tiny_res, tmp_path):
    res = tiny_res
    stackers = [c.name for c in res.candidates if c.kind == "stacker"]
    written = write_stackers(tiny_store, res, stackers)
    assert sorted(written.values()) == ["compare_lgbm", "compare_linear"]
    store = Store(tiny_store.uri)
    for m in written.values():
        assert store.manifest(m)["source"] == "stack"
    for cand in res.candidates:
        forced = dataclasses.replace(res, recommended=cand)
        path = tmp_path / f"{cand.name.replace(' ', '_').replace(':', '_')}.json"
        recipe_for(store, forced, written).save(path)
        recipe = Recipe.load(path)
        got = recipe.predict_oof(store)
        want = forced.in_sample_predictions()
        # stored OOF are float32
        np.testing.assert_allclose(got, want, atol=2e-6, err_msg=cand.name)
        assert recipe.score == pytest.approx(cand.in_sample_score)
        assert len(recipe.predict_test(store)) == 40


def test_recipe_cli_writes_the_stackers_only_when_needed_and_apply_makes_a_submission(
        tiny_store, tmp_path, capsys):
    recipe = tmp_path / "r.json"
    # a weights-only comparison: the recipe needs nothing written
    assert blend(["compare", str(tiny_store.uri), "--methods", "lbfgs/prob", "--recipe",
                  str(recipe), "--no-procedure"]) == 0
    assert sorted(Store(tiny_store.uri).models()) == [f"m{i:02d}" for i in range(5)]
    sub = tmp_path / "sub.csv"
    assert blend(["apply", str(recipe), "--store", str(tiny_store.uri), "--out", str(sub)]) == 0
    df = pd.read_csv(sub)
    assert len(df) == 40
    assert list(df.columns) == ["id", "target"]
    capsys.readouterr()
    # with 600 rows and strongly correlated models the linear stacker (which can cancel the
    # shared noise) wins clearly (checked below): its recipe needs it in the store
    from oof_store import synthetic

    bigger = synthetic.make_store(tmp_path / "bigger", n_models=5, n_rows=600, n_classes=3,
                                  n_folds=5, n_test=40, accuracy=(0.55, 0.75), correlation=0.9,
                                  seed=3)
    tiny_store = bigger
    args = ["compare", str(bigger.uri), "--methods", "stack:linear", "--recipe", str(recipe),
            "--no-procedure"]
    assert blend([*args, "--no-write"]) == 2
    assert "drop --no-write" in capsys.readouterr().err
    assert "compare_linear" not in Store(tiny_store.uri).models()
    assert blend(args) == 0
    assert "wrote stack:linear into the store as model 'compare_linear'" in capsys.readouterr().out
    r = json.loads(recipe.read_text())
    assert r["source"] == "compare:stack:linear"
    assert r["models"] == ["compare_linear"]
    assert Store(tiny_store.uri).manifest("compare_linear")["source"] == "stack"
    assert blend(["apply", str(recipe), "--store", str(tiny_store.uri), "--out", str(sub),
                  "--probs"]) == 0
    assert list(pd.read_csv(sub).columns) == ["id", "c0", "c1", "c2"]
    # a second run refuses to overwrite the written stacker unless asked
    assert blend(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert blend([*args, "--overwrite"]) == 0


def test_cli_errors_are_one_line(tiny_store, capsys):
    assert blend(["compare", str(tiny_store.uri), "--methods", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nope'" in err
    assert "Traceback" not in err
    assert blend(["compare", str(tiny_store.uri), "--metric", "rmse"]) == 2
    assert "does not fit a multiclass task" in capsys.readouterr().err


def test_end_to_end_on_the_built_in_example(tmp_path, capsys):
    from base_models.demo import make_demo_store

    demo = make_demo_store(tmp_path / "demo", models=["knn", "nb", "logreg"], show_progress=False)
    out = tmp_path / "demo.json"
    assert blend(["compare", str(demo.store.uri), "--methods", "lbfgs/prob", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    mean = next(c for c in d["candidates"] if c["name"] == "mean")
    assert 0.8 < mean["nested_score"] <= 1.0  # digits: the three models are good
    assert d["procedure_nested_score"] > 0.8


def test_regression_store_and_its_recipes(tmp_path):
    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "reg", n_models=4, n_rows=200, n_folds=5, n_test=20,
                                 task="regression", accuracy=(0.5, 0.8), seed=1)
    res = compare_store(store, methods=["hill-climb/prob", "lbfgs/prob", "stack:linear"],
                        procedure=False)
    assert res.metric == "rmse"
    assert res.greater_is_better is False
    assert any("lbfgs/prob: left out" in n for n in res.notes)
    written = write_stackers(store, res, ["stack:linear"])
    for cand in res.candidates:
        forced = dataclasses.replace(res, recommended=cand)
        got = recipe_for(store, forced, written).predict_oof(store)
        np.testing.assert_allclose(got, forced.in_sample_predictions(), atol=1e-6, err_msg=cand.name)
