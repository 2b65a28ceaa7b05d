"""Level 3 over everything: weights over the base models and the stackers together, nested.

For outer fold ``k`` the weights are fitted on the training folds' rows, where each
stacker's predictions of fold ``i`` come from the stacker fitted without ``{k, i}``: no
fold's labels reach its own fit. The spy (``Comparison.fit_rows``: the rows whose labels
each fit read, its own reads and those of the fits it used) checks it, and sees a planted
leak.
"""

from __future__ import annotations

import numpy as np
import pytest

import blend.compare._candidates as bc
from blend.compare import compare
from blend.workflows.compare import load_data

L3 = ["stack:linear", "stack:lgbm", "level3/geo+T", "level3/logit"]


def _leaks(res, prefix="level3"):
    eng = res.engine
    out = []
    for (name, held), rows in eng.fit_rows.items():
        if name.startswith(prefix):
            seen = set(np.unique(eng.data.folds[rows]).tolist()) & set(held)
            if seen:
                out.append(f"{name} without {sorted(held)} saw folds {sorted(seen)}")
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from oof_store import synthetic

    return synthetic.make_store(tmp_path_factory.mktemp("l3") / "s", n_models=4, n_rows=300,
                                n_classes=3, n_folds=5, accuracy=(0.55, 0.75),
                                correlation=0.6, seed=5)


def test_level3_over_base_models_and_stackers_never_sees_its_held_folds(store):
    res = compare(load_data(store), metric="logloss", methods=L3, seed=0, n_jobs=1)
    assert _leaks(res) == []
    eng = res.engine
    keys = [h for (n, h) in eng.fit_rows if n == "level3 lbfgs geo+T"]
    assert any(len(h) == 2 for h in keys)  # the procedure loop's fits were checked too
    for h in keys:  # not vacuous: each fit read every training fold
        rows = eng.fit_rows[("level3 lbfgs geo+T", h)]
        assert set(np.unique(eng.data.folds[rows]).tolist()) == set(eng.fold_ids) - set(h)
    w, T = eng.fit("level3 lbfgs geo+T", frozenset({0}))
    assert len(w) == 4 + 2  # base models and stackers together
    assert 0.05 < T < 20
    names = {c.name for c in res.candidates}
    assert {"level3 lbfgs geo+T", "level3 lbfgs logit"} <= names


def test_the_spy_sees_stacker_predictions_that_saw_the_held_fold(store, monkeypatch):
    real = bc._stacker_candidate

    def leaky(*a, **kw):
        cand = real(*a, **kw)
        honest = cand.predict
        # planted leak: fold i predicted by the stacker fitted without {i} only, whatever
        # the fit asking for it must not see
        cand.predict = lambda eng, held, k: honest(eng, frozenset(), k)
        return cand

    monkeypatch.setattr(bc, "_stacker_candidate", leaky)
    res = compare(load_data(store), metric="logloss", methods=L3, seed=0, n_jobs=1,
                  procedure=False)
    assert any(m.startswith("level3 lbfgs geo+T without [") for m in _leaks(res))


def test_temperature_candidates_refuse_the_prob_rule(store):
    from blend._errors import BlendError

    with pytest.raises(BlendError, match="temperature scales logits"):
        compare(load_data(store), methods=["lbfgs/prob+T"], procedure=False)
    with pytest.raises(BlendError, match="temperature scales logits"):
        compare(load_data(store), methods=["stack:linear", "stack:lgbm", "level3/prob+T"],
                procedure=False)


def test_a_temperature_helps_an_overconfident_blend(tmp_path):
    # models far too confident (logits x 4): one temperature for the blend must lower the
    # nested log loss a lot, and be fitted > 1
    from oof_store import synthetic

    d = synthetic.make_oof(n_models=4, n_rows=1500, n_classes=3, accuracy=(0.6, 0.7), seed=2)
    from blend.compare import CompareData
    from oof_store._store import softmax

    logits = 4.0 * d.logits.astype(np.float64)
    data = CompareData(probs=softmax(logits), y=d.y, folds=d.folds, task="multiclass",
                       models=[f"m{i}" for i in range(4)], logits=logits)
    res = compare(data, metric="logloss", methods=["lbfgs/logit", "lbfgs/logit+T"],
                  procedure=False)
    by = {c.name: c.nested_score for c in res.candidates}
    assert by["lbfgs logit+T"] < 0.9 * by["lbfgs logit"]
    _, T = res.engine.fit("lbfgs logit+T", frozenset())
    assert T > 1.5


def test_recipes_of_temperature_and_level3_candidates_reproduce_their_predictions(tmp_path):
    import dataclasses

    from blend.recipe import Recipe
    from blend.workflows.compare import compare_store, recipe_for, write_stackers
    from oof_store import Store, synthetic

    st = synthetic.make_store(tmp_path / "s", n_models=4, n_rows=250, n_classes=3, n_folds=5,
                              n_test=30, accuracy=(0.55, 0.75), correlation=0.6, seed=5)
    res = compare_store(st, metric="logloss", methods=["lbfgs/logit+T", *L3], seed=0, n_jobs=1,
                        procedure=False)
    written = write_stackers(st, res, ["stack:linear", "stack:lgbm"])
    store = Store(st.uri)
    for name in ("lbfgs logit+T", "level3 lbfgs geo+T", "level3 lbfgs logit"):
        cand = next(c for c in res.candidates if c.name == name)
        forced = dataclasses.replace(res, recommended=cand)
        recipe_for(store, forced, written).save(tmp_path / "r.json")
        recipe = Recipe.load(tmp_path / "r.json")
        np.testing.assert_allclose(recipe.predict_oof(store), forced.in_sample_predictions(),
                                   atol=2e-6, err_msg=name)
        assert len(recipe.predict_test(store)) == 30
    assert len(recipe.models) == 4 + 2  # level 3: base models and stackers
