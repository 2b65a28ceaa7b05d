"""`blend search` and `blend apply` end to end on synthetic stores, and their bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from blend.cli import main
from blend.combine import combine
from blend.recipe import Recipe
from blend.search import brute_force_search
from oof_store import Store, synthetic


@pytest.fixture
def store(tmp_path):
    return synthetic.make_store(tmp_path / "s", n_models=6, n_rows=800, n_classes=4, n_test=120,
                                n_tta=2, accuracy=(0.7, 0.85), seed=3)


def test_search_json_matches_the_reference_and_apply_writes_the_submission(store, tmp_path, capsys):
    out, recipe = tmp_path / "top.json", tmp_path / "best.json"
    assert main(["search", str(store.uri), "--top", "7", "--json", str(out),
                 "--save-recipe", str(recipe)]) == 0
    printed = capsys.readouterr().out
    assert "top 7 subsets by OOF accuracy" in printed
    data = json.loads(out.read_text())
    oof = store.load_oof(tta="mean", output="probs")
    ref = brute_force_search(oof.preds, oof.y, top=7)
    assert [r["models"] for r in data["results"]] == [[oof.models[i] for i in s] for s, _ in ref]
    assert [r["score"] for r in data["results"]] == pytest.approx([v for _, v in ref])
    assert data["metric"] == "accuracy"
    assert data["nested_score"] is None
    assert len(data["results"][0]["fold_scores"]) == store.n_folds

    sub = tmp_path / "sub.csv"
    assert main(["apply", str(recipe), "--store", str(store.uri), "--out", str(sub)]) == 0
    df = pd.read_csv(sub)
    best = data["results"][0]["models"]
    test = store.load_test(best, tta="mean", output="probs").preds
    expected = np.asarray(store.class_names)[combine(test).argmax(1)]
    assert list(df.columns) == [store.id_col, store.target_cols[0]]
    assert list(df[store.id_col]) == list(store.test_ids)
    assert list(df[store.target_cols[0]]) == list(expected)


def test_apply_writes_probabilities_and_the_blend_back_into_the_store(store, tmp_path):
    recipe = Recipe(models=("m00", "m02"), rule="logit", task=store.task,
                    store_fingerprint=store.fingerprint)
    path = tmp_path / "r.json"
    recipe.save(path)
    assert Recipe.load(path) == recipe
    sub = tmp_path / "p.csv"
    assert main(["apply", str(path), "--store", str(store.uri), "--out", str(sub), "--probs",
                 "--write-model", "blend_a"]) == 0
    df = pd.read_csv(sub)
    assert list(df.columns[1:]) == store.class_names
    assert np.allclose(df.iloc[:, 1:].sum(axis=1), 1, atol=1e-6)
    reopened = Store(store.uri)
    assert "blend_a" in reopened.models()
    man = reopened.manifest("blend_a")
    assert man["parents"] == ["m00", "m02"]
    assert man["source"] == "blend"
    oof = reopened.load_oof(["blend_a"], output="probs").preds[0, 0]
    expected = combine(reopened.load_oof(["m00", "m02"], tta="mean", output="logits").preds,
                       rule="logit", kind="logits")
    assert np.allclose(oof, expected, atol=1e-6)


# written-back (in-sample) blends: tests/honesty/test_in_sample.py


def test_nested_flag_prints_the_held_out_score(store, tmp_path, capsys):
    out = tmp_path / "n.json"
    assert main(["search", str(store.uri), "--top", "3", "--nested", "--max-size", "3",
                 "--metric", "logloss", "--rule", "logit", "--json", str(out)]) == 0
    assert "nested (held-out) score" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["nested_score"] is not None
    assert len(data["nested_fold_scores"]) == store.n_folds


def test_one_model_store_is_refused_with_a_message(tmp_path, capsys):
    s = synthetic.make_store(tmp_path / "one", n_models=1, n_rows=100, seed=0)
    assert main(["search", str(s.uri)]) == 2
    err = capsys.readouterr().err
    assert "subset search needs at least 2 models" in err
    assert "m00" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "rmse"], "metric 'rmse' does not fit a multiclass task"),
        (["--models", "m00", "nope"], "unknown model\\(s\\) 'nope'"),
        (["--tta", "7"], "TTA"),
        (["--min-size", "4", "--max-size", "2"], "min_size <= max_size must hold"),
    ],
)
def test_bad_options_give_one_red_line(store, args, message, capsys):
    assert main(["search", str(store.uri), *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "Traceback" not in err
    import re
    assert re.search(message, err)


def test_a_model_validated_on_other_folds_is_refused(store):
    # OOF rows written under a fold they do not belong to: the store refuses, naming the model
    other = np.flatnonzero(store.folds != store.fold_ids[0])[:5]
    with pytest.raises(ValueError, match="model 'm01'.*belong to other folds.*cannot be blended honestly"):
        store.write_block("oof", "m01", int(store.fold_ids[0]), 0, store.ids[other],
                          np.full((5, 4), 0.25, np.float32), overwrite=True)


def test_a_model_with_oof_for_part_of_the_rows_is_named(store, capsys):
    rows = np.flatnonzero(store.folds == store.fold_ids[0])
    store.write_block("oof", "half", int(store.fold_ids[0]), 0, store.ids[rows],
                      np.full((len(rows), 4), 0.25, np.float32))
    assert main(["search", str(store.uri), "--models", "m00", "m01", "half"]) == 2
    err = capsys.readouterr().err
    assert "'half' are incomplete (OOF for only part of the rows" in err


def test_recipe_refuses_a_store_with_other_rows(store, tmp_path):
    recipe = Recipe(models=("m00", "m01"), task=store.task, store_fingerprint="0" * 40)
    with pytest.raises(ValueError, match="rows or folds differ"):
        recipe.predict_oof(store)
    with pytest.raises(ValueError, match=r"recipe models \['zz'\] are not in the store"):
        Recipe(models=("zz",), task=store.task).predict_test(store)
