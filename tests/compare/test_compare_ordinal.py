"""`blend compare --metric qwk` on a regression store: ordinal candidates with cut points.

``mean+cuts`` and ``METHOD+cuts`` fit weights (on RMSE) and cut points with
:func:`blend.ordinal.fit_ordinal` on each fit's training rows; the plain candidates are
graded by rounding. Ordered classes with qwk are refused with a pointer to
``blend optimize --ordinal``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from blend._errors import BlendError
from blend.cli import main as blend
from blend.compare import Comparison, compare
from blend.ordinal import fit_ordinal
from blend.workflows.compare import compare_store, load_data, recipe_for

_spec = importlib.util.spec_from_file_location(
    "_ordinal_fixtures", Path(__file__).parents[1] / "ordinal" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

METHODS = ["mean+cuts", "nelder-mead+cuts", "hill-climb/prob"]


@pytest.fixture(scope="module")
def ostore(tmp_path_factory):
    return _fixtures.make_ordinal_store(tmp_path_factory.mktemp("ocmp") / "s", n_rows=400,
                                        n_folds=4, seed=2)


@pytest.fixture(scope="module")
def ores(ostore):
    return compare_store(ostore, metric="qwk", methods=METHODS, procedure=True, n_jobs=1)


def test_cut_candidates_are_scored_and_beat_rounding(ores):
    by = {c.name: c for c in ores.candidates}
    assert {"mean", "mean+cuts", "nelder-mead+cuts", "hill-climb prob"} <= set(by)
    assert ores.metric == "qwk"
    # the store's models are shrunk and shifted: rounding grades them badly, cuts fix that
    assert by["mean+cuts"].nested_score > by["mean"].nested_score + 0.02
    assert ores.procedure_nested_score is not None


def test_mean_cuts_equals_fit_ordinal_nested(ostore, ores):
    # the same fits (mean, coordinate cuts on each outer fold's training rows): the same score
    data = load_data(ostore, need_logits=False)
    ref = fit_ordinal(data.probs, data.y, data.folds, method="mean", cut_method="coordinate")
    got = next(c for c in ores.candidates if c.name == "mean+cuts")
    assert got.nested_score == pytest.approx(ref.nested_score, abs=1e-12)
    assert list(got.fold_scores) == pytest.approx(ref.fold_scores, abs=1e-12)


def test_cut_points_never_see_their_fold(ores):
    eng = ores.engine
    folds = eng.data.folds
    checked = 0
    for (name, held), rows in eng.fit_rows.items():
        if name.endswith("+cuts"):
            assert not np.isin(folds[rows], list(held)).any(), (name, held)
            assert rows.any()
            checked += 1
    assert checked == 2 * (1 + 4 + 6)  # all rows, singles, pairs (procedure) per candidate


def test_a_planted_leak_in_the_cut_fits_is_seen(ostore, monkeypatch):
    monkeypatch.setattr(Comparison, "train_rows", lambda self, held: np.arange(self.N))
    res = compare(load_data(ostore, need_logits=False), metric="qwk", methods=["mean+cuts"],
                  procedure=False, n_jobs=1)
    folds = res.engine.data.folds
    assert any(np.isin(folds[rows], list(held)).any()
               for (name, held), rows in res.engine.fit_rows.items() if name == "mean+cuts")


def test_cut_recipes_reproduce_the_in_sample_grades(ostore, ores):
    for name in ("mean+cuts", "nelder-mead+cuts"):
        cand = next(c for c in ores.candidates if c.name == name)
        forced = dataclasses.replace(ores, recommended=cand)
        r = recipe_for(ostore, forced)
        assert r.cuts is not None
        grades = np.asarray(r.grades)[r.grade_index(r.predict_oof(ostore))]
        np.testing.assert_array_equal(grades, forced.in_sample_predictions()[:, 0], err_msg=name)


def test_cli_default_methods_include_the_cut_candidates(ostore, tmp_path):
    out = tmp_path / "c.json"
    assert blend(["compare", str(ostore.uri), "--metric", "qwk", "--methods", "mean+cuts",
                  "--no-procedure", "--json", str(out), "--recipe", str(tmp_path / "r.json")]) == 0
    d = json.loads(out.read_text())
    assert "mean+cuts" in [c["name"] for c in d["candidates"]]
    data = load_data(ostore, need_logits=False)
    from blend.compare import build_candidates
    from blend.metrics import get_metric

    names = [c.name for c in build_candidates(data, get_metric("qwk", "regression"))[0]]
    assert {"mean+cuts", "nelder-mead+cuts"} <= set(names)


def test_qwk_on_ordered_classes_is_refused_with_what_to_use(tmp_path, capsys):
    store = _fixtures.make_ordinal_store(tmp_path / "c", n_rows=200, classes=True)
    with pytest.raises(BlendError, match="blend optimize --ordinal"):
        compare_store(store, metric="qwk", methods=["lbfgs/prob"], procedure=False)
    assert blend(["compare", str(store.uri), "--metric", "qwk"]) == 2
    assert "--ordinal" in capsys.readouterr().err


def test_cuts_need_qwk_on_a_regression_store(ostore):
    with pytest.raises(BlendError, match="need --metric qwk"):
        compare_store(ostore, metric="rmse", methods=["mean+cuts"], procedure=False)
