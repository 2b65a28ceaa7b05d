"""`blend compare` and the honesty marks: in-sample models, models without test predictions.

In-sample blends (written back by `blend apply --write-model`) are left out by default and
refused by name, as search/optimize/stack do; `--allow-in-sample` lets them in and the JSON
says ``honest: false``. Models without test predictions are named when compare starts.
"""

from __future__ import annotations

import json

import pytest

from blend.cli import main as blend
from blend.recipe import Recipe
from oof_store import Store, synthetic

FAST = ["--methods", "lbfgs/prob", "--no-procedure", "--metric", "logloss"]


@pytest.fixture
def store(tmp_path):
    s = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=240, n_classes=3, n_folds=3,
                             n_test=30, accuracy=(0.6, 0.8), seed=5, kind="probs")
    recipe = tmp_path / "r.json"
    Recipe.for_store(s, ("m00", "m01"), weights=(0.3, 0.7)).save(recipe)
    assert blend(["apply", str(recipe), "--store", str(s.uri), "--write-model", "b01"]) == 0
    return Store(s.uri)


def test_compare_leaves_in_sample_models_out_by_default(store, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert blend(["compare", str(store.uri), *FAST, "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["models"] == ["m00", "m01", "m02"]
    assert d["honest"] is True
    assert d["flagged_models"] == {}
    assert "NOT HONEST" not in capsys.readouterr().err


def test_compare_refuses_an_in_sample_model_by_name(store, capsys):
    assert blend(["compare", str(store.uri), *FAST, "--models", "m00", "b01"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'b01' are in-sample" in err
    assert "--allow-in-sample" in err


def test_allow_in_sample_lets_it_in_and_says_not_honest(store, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert blend(["compare", str(store.uri), *FAST, "--allow-in-sample", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert "b01" in d["models"]
    assert d["honest"] is False
    assert d["flagged_models"] == {"b01": ["in-sample"]}
    assert "NOT HONEST b01 (in-sample)" in " ".join(capsys.readouterr().err.split())


def test_compare_names_the_models_without_test_predictions_first(store, capsys):
    oof = store.load_oof(["m00"], output="probs")
    for k in store.fold_ids:  # a copy of m00's OOF predictions, with no test predictions
        rows = oof.folds == k
        store.write_block("oof", "oof_only", int(k), 0, store.ids[rows], oof.preds[0, 0][rows])
    store.finish_model("oof_only", kind="probs")
    assert blend(["compare", str(store.uri), *FAST]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert "1 model(s) have no test predictions: oof_only;" in err
    assert "cannot be applied to the test set" in err
    assert blend(["compare", str(store.uri), *FAST, "--models", "m00", "m01"]) == 0
    assert "no test predictions" not in capsys.readouterr().err
