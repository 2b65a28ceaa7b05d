"""``stack ... --metric qwk``: cut points for a stacker, fitted without the fold they grade."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import blend.stack
from blend.cli import main as blend_main
from blend.cli.stack import main as stack_main
from blend.ordinal import Grades
from blend.ordinal._stack import stack_cuts


def test_stackers_behind_a_folds_cut_points_never_see_that_fold(monkeypatch):
    rng = np.random.default_rng(0)
    n = 240
    y = np.clip(np.rint(3 + 1.2 * rng.normal(size=n)), 1, 5)
    X = np.stack([y + rng.normal(0, s, n) for s in (0.5, 0.8)], axis=1)[:, :, None]
    folds = np.arange(n) % 4
    row_of = {float(v): i for i, v in enumerate(X[:, 0, 0])}  # each value names its row
    seen = []
    real = blend.stack.fit_stacker

    def spy(stacker, Xs, ys, fs, **kw):
        seen.append(frozenset(row_of[float(v)] for v in Xs[:, 0, 0]))
        return real(stacker, Xs, ys, fs, **kw)

    monkeypatch.setattr(blend.stack, "fit_stacker", spy)
    oof = real("linear", X, y, folds, task="regression", metric="rmse", rng=0, n_jobs=1).oof
    res = stack_cuts("linear", X, y, folds, oof, grades=Grades((1, 2, 3, 4, 5)),
                     fit_kwargs={"n_jobs": 1})
    assert len(seen) == 4
    for k, rows in zip(res.fold_ids, seen, strict=True):
        assert rows == frozenset(np.flatnonzero(folds != k).tolist())
    assert 0.0 < res.nested_score <= 1.0


def test_stack_cli_with_qwk_writes_cuts_and_a_recipe_that_grades(fresh_ordinal_store, tmp_path):
    store = fresh_ordinal_store
    out, rec, sub = tmp_path / "o.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert stack_main(["linear", str(store.uri), "--metric", "qwk", "--threads", "1",
                       "--json", str(out), "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())["ordinal"]
    assert len(d["cuts"]) == 4
    assert len(d["fold_scores"]) == 4
    assert blend_main(["apply", str(rec), "--store", str(store.uri), "--out", str(sub)]) == 0
    assert set(pd.read_csv(sub)["target"]) <= {1, 2, 3, 4, 5}


def test_stack_cuts_need_four_folds():
    from blend import BlendError

    with pytest.raises(BlendError, match=r"need 4 folds or more"):
        stack_cuts("linear", np.zeros((9, 2, 1)), np.ones(9), np.arange(9) % 3, np.ones(9),
                   grades=Grades((1, 2)))


def test_stack_ordinal_classes_grade_the_expected_grade(fresh_ordinal_class_store, tmp_path):
    store = fresh_ordinal_class_store
    out, rec, sub = tmp_path / "o.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert stack_main(["linear", str(store.uri), "--ordinal", "--threads", "1",
                       "--json", str(out), "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())["ordinal"]
    assert d["grades"] == [1, 2, 3, 4, 5]
    assert blend_main(["apply", str(rec), "--store", str(store.uri), "--out", str(sub)]) == 0
    assert set(pd.read_csv(sub, dtype=str)["target"]) <= {"1", "2", "3", "4", "5"}
