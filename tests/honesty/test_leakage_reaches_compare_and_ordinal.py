"""The leakage suite's one hook, ``blend.nested.train_rows``, reaches compare and the ordinal fits.

Compare's fit cache asks the nested engine for the training rows of every fit, and the
ordinal package's four fold loops (``fit_ordinal``, ``procedure_ordinal``,
``search_ordinal``, ``stack_cuts``) run on :func:`blend.nested.nested_cv`; a leak planted in
``train_rows`` must therefore show in each of them.
"""

from __future__ import annotations

import numpy as np
import pytest

import blend.nested
from blend.compare import compare
from blend.ordinal import Grades
from blend.ordinal._fit import fit_ordinal, procedure_ordinal
from blend.ordinal._search import search_ordinal
from blend.ordinal._stack import stack_cuts
from blend.workflows.compare import load_data
from oof_store import synthetic

GRADES = Grades((1.0, 2.0, 3.0, 4.0, 5.0))


@pytest.fixture
def planted_leak(monkeypatch):
    """Every fit trains on every row, its held-out fold(s) included."""
    monkeypatch.setattr(blend.nested, "train_rows", lambda folds, k: np.arange(len(folds)))


@pytest.fixture
def calls(monkeypatch):
    """The ``(k, rows)`` of every call to the engine's ``train_rows`` (the real one)."""
    real, seen = blend.nested.train_rows, []

    def spy(folds, k):
        rows = real(folds, k)
        seen.append((k, rows))
        return rows

    monkeypatch.setattr(blend.nested, "train_rows", spy)
    return seen


def _ordinal(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = np.clip(np.rint(3 + 1.2 * rng.normal(size=n)), 1, 5)
    P = np.stack([y + rng.normal(0, s, n) for s in (0.6, 0.9, 1.3)])[:, None, :, None]
    folds = np.resize(np.arange(4), n)
    rng.shuffle(folds)
    return P, y, folds


def _compare_leaks(res) -> list:
    folds = res.engine.data.folds
    return [key for key, rows in res.engine.fit_rows.items()
            if np.isin(folds[rows], list(key[1])).any()]


@pytest.fixture
def cmp_data(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=4, n_rows=200, n_classes=3, n_folds=4,
                                 accuracy=(0.55, 0.75), correlation=0.5, seed=1)
    return load_data(store)


def test_compare_fits_take_their_rows_from_the_engine(cmp_data, calls):
    res = compare(cmp_data, methods=["lbfgs/prob"], seed=0, n_jobs=1, procedure=False)
    assert calls  # every fit asked the engine
    assert _compare_leaks(res) == []


def test_a_leak_planted_in_the_engine_shows_in_compare(cmp_data, planted_leak):
    res = compare(cmp_data, methods=["lbfgs/prob"], seed=0, n_jobs=1, procedure=False)
    assert any(name == "lbfgs prob" for name, _ in _compare_leaks(res))


def test_fit_ordinal_nested_score_is_in_sample_with_the_leak_planted(planted_leak):
    P, y, folds = _ordinal()
    res = fit_ordinal(P, y, folds, method="mean", grades=GRADES, kind="raw")
    assert res.nested_score == pytest.approx(res.score)  # each fold's cuts fitted on all rows


def test_fit_ordinal_runs_on_the_engine_and_is_honest_without_the_leak(calls):
    P, y, folds = _ordinal()
    res = fit_ordinal(P, y, folds, method="mean", grades=GRADES, kind="raw")
    assert sorted(k for k, _ in calls) == [0, 1, 2, 3]
    assert all(not np.isin(np.flatnonzero(folds == k), rows).any() for k, rows in calls)
    assert res.nested_score != pytest.approx(res.score)


def test_search_ordinal_and_the_procedure_run_on_the_engine(calls):
    P, y, folds = _ordinal()
    search_ordinal(P, y, folds, grades=GRADES, nested=True)
    assert sorted(k for k, _ in calls) == [0, 1, 2, 3]
    calls.clear()
    procedure_ordinal(P, y, folds, [{"method": "mean"}], grades=GRADES, kind="raw")
    outer = [k for k, rows in calls if len(rows) > 0.7 * len(folds)]  # the outer loop's calls
    assert sorted(set(outer)) == [0, 1, 2, 3]


def test_search_ordinal_nested_score_is_in_sample_with_the_leak_planted(planted_leak):
    P, y, folds = _ordinal()
    res = search_ordinal(P, y, folds, grades=GRADES, nested=True)
    assert res.nested_score == pytest.approx(res.results[0]["score"])


def test_stack_cuts_runs_on_the_engine(calls):
    P, y, folds = _ordinal()
    X = np.moveaxis(P[:, 0], 0, 1)  # (N, M, 1)
    stack_cuts("linear", X, y, folds, P[0, 0, :, 0], grades=GRADES, fit_kwargs={"n_jobs": 1})
    assert {0, 1, 2, 3} <= {k for k, rows in calls if len(rows) > 0.7 * len(folds)}
