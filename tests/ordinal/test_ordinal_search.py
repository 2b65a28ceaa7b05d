"""``blend search --metric qwk``: every subset graded by its own cut points, nested honestly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend import BlendError
from blend.cli import main
from blend.ordinal import Grades, apply_cuts, fit_cuts, qwk_grades, register_cut_method
from blend.ordinal._cuts import _METHODS
from blend.ordinal._search import search_ordinal


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = np.clip(np.rint(3 + 1.2 * rng.normal(size=n)), 1, 5)
    P = np.stack([0.7 * y + 1 + rng.normal(0, s, n) for s in (0.3, 0.6, 1.2)])[:, :, None]
    return P, y, np.arange(n) % 4


def test_search_scores_each_subset_as_its_mean_with_its_own_cut_points():
    P, y, folds = _data()
    g = Grades((1, 2, 3, 4, 5))
    res = search_ordinal(P, y, folds, grades=g, top=7)
    assert res.n_subsets == 7
    yi = g.index(y)
    for r in res.results:
        idx = [int(m[1:]) for m in r["models"]]
        s = P[idx, :, 0].mean(0)
        assert r["score"] == pytest.approx(qwk_grades(yi, apply_cuts(s, fit_cuts(s, yi, g)), 5))
    assert [r["score"] for r in res.results] == sorted((r["score"] for r in res.results),
                                                       reverse=True)


def test_nested_search_fits_no_cut_points_on_the_fold_it_grades():
    P, y, folds = _data()
    seen = []

    def spy(score, y_idx, grades, *, rng=None, **params):
        seen.append(np.array(score))
        return grades.midpoints()

    register_cut_method("spy-search")(spy)
    try:
        res = search_ordinal(P[:1], y, folds, grades=Grades((1, 2, 3, 4, 5)),
                             cut_method="spy-search", nested=True)
    finally:
        del _METHODS["spy-search"]
    # one model, one subset: one fit on all rows, then one per fold on the other folds
    row_of = {float(v): i for i, v in enumerate(P[0, :, 0])}
    fitted = [frozenset(row_of[float(v)] for v in s) for s in seen]
    assert len(fitted) == 5
    for k, rows in zip(res.fold_ids, fitted[1:], strict=True):
        assert rows == frozenset(np.flatnonzero(folds != k).tolist())


def test_search_refuses_too_many_subsets_and_bad_sizes(monkeypatch):
    import blend.ordinal._search as mod

    P, y, folds = _data()
    monkeypatch.setattr(mod, "MAX_SUBSETS", 5)
    with pytest.raises(BlendError, match=r"more than 5 subsets"):
        search_ordinal(P, y, folds, grades=Grades((1, 2, 3, 4, 5)))
    with pytest.raises(BlendError, match=r"min_size <= max_size"):
        search_ordinal(P, y, folds, grades=Grades((1, 2, 3, 4, 5)), min_size=3, max_size=2)


def test_cli_search_qwk_nested_and_recipe(ordinal_store, tmp_path):
    out, rec, sub = tmp_path / "s.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert main(["search", str(ordinal_store.uri), "--metric", "qwk", "--top", "3", "--nested",
                 "--json", str(out), "--save-recipe", str(rec)]) == 0
    d = json.loads(out.read_text())
    assert d["n_subsets"] == 7
    assert len(d["nested_fold_scores"]) == ordinal_store.n_folds
    assert 0 < d["nested_score"] <= 1
    assert main(["apply", str(rec), "--store", str(ordinal_store.uri), "--out", str(sub)]) == 0
