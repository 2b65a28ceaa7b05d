"""A recipe holds everything ``blend optimize`` fits, and applying it reproduces the fit.

Per-(model, TTA view) weights, per-(model, class) weights and per-model temperatures go into
the recipe; applied to the OOF rows it gives the in-sample score optimize reported, ``blend
apply`` writes a submission from it, the JSON round trip is exact, old recipes still apply,
and a recipe that does not fit its store is refused naming the field.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blend import BlendError
from blend.cli import main
from blend.combine import blend_per_class, blend_scores, combine, to_scores, transform, unit_scores
from blend.metrics import get_metric
from blend.recipe import Recipe
from blend.workflows.apply import write_to_store
from oof_store import synthetic


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """3 weakly correlated models, 2 TTA views, 3 classes, 4 folds, 40 test rows."""
    return synthetic.make_store(tmp_path_factory.mktemp("recipe") / "store", n_models=3,
                                n_rows=600, n_classes=3, n_folds=4, n_tta=2, n_test=40,
                                accuracy=(0.75, 0.85), correlation=0.3, seed=2)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _by_hand(recipe, L):
    """The logit-rule blend written out from the docs: ``L`` (M, T, N, C) stored logits."""
    X = _log_softmax(L.astype(np.float64))  # (M, T, N, C)
    M, T = X.shape[:2]
    if recipe.view_weights is not None:
        W = np.asarray(recipe.view_weights)
        temps = np.ones((M, T)) if recipe.temperatures is None else np.asarray(recipe.temperatures)
        Z = np.einsum("mt,mtnc->nc", W / temps, X) / W.sum()
        return _softmax(Z)
    Xm = X.mean(axis=1)  # views averaged in the logit space
    if recipe.temperatures is not None:
        Xm = Xm / np.asarray(recipe.temperatures)[:, None, None]
    if recipe.class_weights is not None:
        W = np.asarray(recipe.class_weights)
        W = W / W.sum(axis=0)
        return _softmax(np.einsum("mc,mnc->nc", W, Xm))
    w = np.asarray(recipe.weights)
    return _softmax(np.einsum("m,mnc->nc", w, Xm) / w.sum())


CASES = [
    pytest.param(["--tta-weights"], "logit", "logloss", id="tta-weights-logit"),
    pytest.param(["--tta-weights"], "prob", "accuracy", id="tta-weights-prob-accuracy"),
    pytest.param(["--per-class"], "logit", "logloss", id="per-class-logit"),
    pytest.param(["--per-class"], "prob", "logloss", id="per-class-prob"),
    pytest.param(["--temperature"], "logit", "logloss", id="temperature"),
    pytest.param(["--temperature", "--tta-weights"], "geo", "logloss", id="temperature+tta"),
    pytest.param(["--temperature", "--per-class"], "logit", "accuracy", id="temperature+class"),
    pytest.param([], "logit", "logloss", id="plain"),
]


@pytest.mark.parametrize(("flags", "rule", "metric"), CASES)
def test_recipe_reproduces_the_optimized_score_and_applies(store, tmp_path, flags, rule, metric):
    out, rec, sub = tmp_path / "w.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert main(["optimize", str(store.uri), "--method", "de", "--maxiter", "5", "--no-nested",
                 "--metric", metric, "--rule", rule, "--json", str(out), "--recipe", str(rec),
                 *flags]) == 0
    facts = json.loads(out.read_text())
    recipe = Recipe.load(rec)
    M, T, C = 3, 2, 3

    # the recipe holds what was fitted, by name
    if "--tta-weights" in flags:
        assert np.shape(recipe.view_weights) == (M, T)
        assert recipe.weights is None
        assert recipe.tta == "all"
        views = ["none", "view1"]
        assert recipe.view_weights == tuple(
            tuple(facts["tta_weights"][m][v] for v in views) for m in recipe.models)
    elif "--per-class" in flags:
        assert np.shape(recipe.class_weights) == (M, C)
        assert recipe.class_weights == tuple(
            tuple(facts["per_class_weights"][m][str(c)] for c in range(C))
            for m in recipe.models)
    else:
        assert recipe.weights == tuple(facts["weights"][m] for m in recipe.models)
    if "--temperature" in flags:
        temps = np.asarray(recipe.temperatures)
        assert temps.shape == ((M, T) if "--tta-weights" in flags else (M,))
        assert sorted(temps.ravel().tolist()) == sorted(facts["temperatures"].values())
    else:
        assert recipe.temperatures is None

    # applied to the OOF rows it gives the in-sample score optimize reported
    oof = recipe.predict_oof(store)
    assert get_metric(metric)(store.y, oof) == pytest.approx(facts["score"], abs=1e-9)

    # the JSON round trip is exact (and saving again writes the same bytes)
    assert Recipe.from_dict(json.loads(rec.read_text())) == recipe
    recipe.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == rec.read_text()

    # the test blend is the documented formula (views in store order, temperatures, classes)
    if rule == "logit":
        L = store.load_test(list(recipe.models), tta="all", output="logits").preds
        np.testing.assert_allclose(recipe.predict_test(store), _by_hand(recipe, L),
                                   rtol=0, atol=1e-12)
        Lo = store.load_oof(list(recipe.models), tta="all", output="logits").preds
        np.testing.assert_allclose(oof, _by_hand(recipe, Lo), rtol=0, atol=1e-12)

    # blend apply writes a submission: labels with --labels, and probabilities with --probs
    assert main(["apply", str(rec), "--store", str(store.uri), "--out", str(sub), "--labels"]) == 0
    labels = pd.read_csv(sub, dtype=str)
    assert list(labels.columns) == [store.id_col, store.target_cols[0]]
    assert labels[store.id_col].tolist() == list(store.test_ids)
    test = recipe.predict_test(store)
    expected = np.asarray(store.class_names, dtype=object)[test.argmax(1)]
    assert labels[store.target_cols[0]].tolist() == [str(c) for c in expected]
    assert main(["apply", str(rec), "--store", str(store.uri), "--out", str(sub), "--probs"]) == 0
    probs = pd.read_csv(sub).drop(columns=[store.id_col]).to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)


def test_the_recipe_blend_writes_back_into_the_store(store, tmp_path):
    rec = tmp_path / "r.json"
    assert main(["optimize", str(store.uri), "--method", "de", "--maxiter", "3", "--no-nested",
                 "--metric", "logloss", "--rule", "logit", "--tta-weights", "--temperature",
                 "--recipe", str(rec)]) == 0
    recipe = Recipe.load(rec)
    write_to_store(recipe, store, "blend_tta_temp")
    try:
        back = store.load_oof(["blend_tta_temp"], output="probs").preds[0, 0]
        np.testing.assert_allclose(back, recipe.predict_oof(store), atol=1e-6)
        assert store.manifest("blend_tta_temp")["parents"] == list(recipe.models)
    finally:
        store.remove_model("blend_tta_temp")


def test_an_old_format_recipe_still_applies(store, tmp_path):
    """A version-1 file (no view_weights / class_weights / temperatures) blends as before."""
    old = {
        "models": ["m00", "m02"], "rule": "logit", "weights": [0.25, 0.75], "tta": "all",
        "tta_weights": [0.5, 0.5], "metric": "logloss", "task": store.task,
        "class_names": list(store.class_names), "store_fingerprint": store.fingerprint,
        "score": None, "nested_score": None, "source": "search",
        "versions": {"python": "3.11.0", "numpy": "1.26.0", "oof-blend": "0.1.0"},
        "created": "2024-01-01T00:00:00+00:00", "version": 1,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    recipe = Recipe.load(path)
    assert recipe.view_weights is None
    assert recipe.class_weights is None
    assert recipe.temperatures is None
    P = store.load_oof(["m00", "m02"], tta="all", output="logits").preds
    expected = combine(P, [0.25, 0.75], rule="logit", kind="logits", tta_weights=[0.5, 0.5])
    np.testing.assert_array_equal(recipe.predict_oof(store), expected)
    # its JSON has no new keys (older readers still read it, apart from the version)
    assert not {"view_weights", "class_weights", "temperatures"} & set(recipe.to_dict())
    sub = tmp_path / "sub.csv"
    assert main(["apply", str(path), "--store", str(store.uri), "--out", str(sub)]) == 0
    assert len(pd.read_csv(sub)) == len(store.test_ids)


def test_blend_scores_is_combine_after_to_scores_bit_for_bit(store):
    P = store.load_oof(output="logits").preds
    for rule in ("prob", "logit", "geo", "rank"):
        kind = "probs" if rule in ("prob", "rank") else "logits"
        Q = P if kind == "logits" else store.load_oof(output="probs").preds
        w = [0.2, 0.5, 0.3]
        np.testing.assert_array_equal(
            blend_scores(to_scores(Q, rule=rule, kind=kind), w, rule=rule, kind=kind),
            combine(Q, w, rule=rule, kind=kind))


def test_per_class_blend_is_the_optimizers_reference_loop(store):
    P = store.load_oof(output="logits").preds
    X = unit_scores(P, rule="logit", kind="logits")
    W = np.random.default_rng(0).dirichlet(np.ones(3), size=3).T  # (3 models, 3 classes)
    W = W / W.sum(axis=0)
    np.testing.assert_allclose(
        blend_scores(X, W, rule="logit", kind="logits"),
        blend_per_class(transform(X, "logit", "logits"), W, "logit"), rtol=0, atol=1e-15)


def test_per_view_units_are_model_major(store):
    P = store.load_oof(output="logits").preds  # (3, 2, N, C)
    X = unit_scores(P, rule="logit", kind="logits", per_view=True)
    assert X.shape == (6,) + P.shape[2:]
    np.testing.assert_array_equal(X[3], to_scores(P[1:2, 1:2], rule="logit", kind="logits")[0])


_finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
_positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), n_models=st.integers(1, 4), n_views=st.integers(1, 3))
def test_json_round_trip_is_exact(data, n_models, n_views):
    rows = st.lists(_finite, min_size=n_views, max_size=n_views).filter(lambda r: sum(r) > 0)
    vw = data.draw(st.lists(rows, min_size=n_models, max_size=n_models))
    temps = data.draw(st.none() | st.lists(
        st.lists(_positive, min_size=n_views, max_size=n_views),
        min_size=n_models, max_size=n_models))
    r = Recipe(models=tuple(f"m{i}" for i in range(n_models)), rule="logit", tta="all",
               view_weights=vw, temperatures=temps)
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.view_weights == tuple(tuple(float(x) for x in row) for row in vw)


M2 = ("m00", "m01")
ERRORS = [
    ({"view_weights": [[1, 1]]}, r"'view_weights' has 1 rows for 2 models"),
    ({"view_weights": [[1, 1], [1]]}, r"'view_weights' must be a rectangle"),
    ({"view_weights": [[1, 1], [1, 1]], "tta": "mean"}, r"'view_weights' .* tta must be 'all'"),
    ({"view_weights": [[1, 1], [1, 1]], "weights": [1, 1]}, r"'view_weights' replaces 'weights'"),
    ({"view_weights": [[1, -1], [1, 1]]}, r"'view_weights' must be finite and non-negative"),
    ({"view_weights": [[1, "a"], [1, 1]]}, r"'view_weights' must be a list of numbers"),
    ({"view_weights": [[1, 1], [1, 1]], "temperatures": [1, 1], "rule": "logit"},
     r"'temperatures': row 0 must be a list"),
    ({"view_weights": [[1, 1], [1, 1]], "temperatures": [[1], [1]], "rule": "logit"},
     r"'temperatures' must have one entry per \(model, view\)"),
    ({"class_weights": [[1, 1, 1]], "tta": "mean"}, r"'class_weights' has 1 rows for 2 models"),
    ({"class_weights": [[1, 1], [1, 1]], "class_names": ("a", "b", "c")},
     r"'class_weights' has 2 columns but the recipe names 3 classes"),
    ({"class_weights": [[1, 0], [1, 0]]}, r"'class_weights': the weights of class column\(s\) \[1\]"),
    ({"class_weights": [[1, 1], [1, 1]], "rule": "rank"}, r"'class_weights' needs .* rule"),
    ({"class_weights": [[1, 1], [1, 1]], "weights": [1, 1]}, r"'class_weights' replaces 'weights'"),
    ({"temperatures": [1.0, 2.0]}, r"'temperatures' scales logits: it needs rule 'logit'"),
    ({"temperatures": [1.0], "rule": "logit"}, r"'temperatures' has 1 entries for 2 models"),
    ({"temperatures": [1.0, 0.0], "rule": "logit"}, r"'temperatures' must be finite and positive"),
    ({"weights": [1.0, -1.0]}, r"'weights' must be finite and non-negative"),
    ({"weights": [0.0, 0.0]}, r"'weights' must not be all zero"),
    ({"weights": [1.0]}, r"'weights' has 1 entries for 2 models"),
    ({"weights": {"m00": 1.0, "m01": 1.0}}, r"'weights' must be a list of numbers"),
]


@pytest.mark.parametrize(("fields", "message"), ERRORS)
def test_a_malformed_recipe_is_refused_naming_the_field(fields, message):
    d = {"models": list(M2), "tta": "all", **fields}
    with pytest.raises(BlendError, match=message):
        Recipe.from_dict(d)


STORE_ERRORS = [
    ({"view_weights": [[1, 1, 1], [1, 1, 1]]},
     r"'view_weights' has 3 weight\(s\) for model 'm00', which has 2 TTA view\(s\)"),
    ({"view_weights": [[1, 1, 1], [1, 1, 1]], "temperatures": [[1, 1, 1], [1, 1, 1]],
      "rule": "logit"}, r"'view_weights' has 3 weight\(s\) for model 'm00'"),
    ({"class_weights": [[1, 1, 1, 1], [1, 1, 1, 1]]},
     r"'class_weights' has 4 columns, but the store has 3 classes"),
    ({"class_weights": [[1, 1, 1], [1, 1, 1]], "class_names": ["x", "y", "z"]},
     # the recipe-level class check (issue 23, item 9) speaks before the per-field one
     r"recipe is for the classes \['x', 'y', 'z'\], the store's are \['c0', 'c1', 'c2'\]"),
    ({"models": ["m00", "zz"], "weights": [1, 1]}, r"recipe models \['zz'\] are not in the store"),
]


@pytest.mark.parametrize(("fields", "message"), STORE_ERRORS)
def test_a_recipe_that_does_not_fit_the_store_is_refused_naming_the_field(
        store, tmp_path, fields, message, capsys):
    d = {"models": list(M2), "tta": "all", "task": store.task, **fields}
    recipe = Recipe.from_dict(d)
    for predict in (recipe.predict_oof, recipe.predict_test):
        with pytest.raises(BlendError, match=message):
            predict(store)
    path = tmp_path / "bad.json"
    recipe.save(path)
    assert main(["apply", str(path), "--store", str(store.uri),
                 "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "recipe" in err
    assert "Traceback" not in err
