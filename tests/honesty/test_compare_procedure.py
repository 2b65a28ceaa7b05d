"""``blend compare``'s procedure loop: the choice made inside each outer fold, the held-out
fold predicted by the pick's fit without it, and labels read only through the tracer.

The procedure score is the number users trust most (the nested estimate of "choose between
the methods, then submit the choice"). The row spy of ``tests/compare`` sees which labels
each fit and each choice read; these tests check the loop's wiring as well, which the spy
cannot: a loop that *reuses* the all-folds recommendation, or predicts fold ``k`` with the
all-rows fit, reads no label it should not while it runs.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from blend.compare import CompareData, compare
from blend.metrics import get_metric
from blend.nested import pooled_scores
from oof_store import synthetic

METHODS = ["lbfgs/prob", "lbfgs/logit"]
FITTED = ["lbfgs prob", "lbfgs logit"]


@pytest.fixture(scope="module")
def data() -> CompareData:
    """4 models, 200 rows, 3 classes, 5 folds (probabilities)."""
    d = synthetic.make_oof(n_models=4, n_rows=200, n_classes=3, n_folds=5,
                           accuracy=(0.55, 0.75), correlation=0.5, seed=4)
    P = np.exp(d.logits.mean(axis=1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    return CompareData(probs=P, y=d.y, folds=d.folds, task="multiclass",
                       models=[f"m{i}" for i in range(4)])


@pytest.fixture
def rigged(monkeypatch):
    """The recommendation rule replaced by one whose answer says where it was asked.

    Asked on every fold (the scores have one fold score per fold), it recommends the plain
    mean; asked inside an outer fold (one fold fewer), it picks the weighted candidates in
    turn. A loop that keeps the all-folds answer for the outer folds then chooses the mean
    everywhere, whatever the data.
    """
    core = inspect.getmodule(compare)
    real = core.recommend
    inner_picks: list[str] = []
    n_folds: list[int] = []

    def recommend(scores, metric, *args, **kwargs):
        real(scores, metric, *args, **kwargs)  # whatever it checks, it still runs
        if len(scores[0].fold_scores) == n_folds[0]:
            return next(s for s in scores if s.name == "mean"), "rigged: all folds"
        pick = next(s for s in scores if s.name == FITTED[len(inner_picks) % len(FITTED)])
        inner_picks.append(pick.name)
        return pick, "rigged: inside an outer fold"

    monkeypatch.setattr(core, "recommend", recommend)
    return inner_picks, n_folds


def test_the_choice_for_each_outer_fold_is_made_inside_it(data, rigged):
    inner_picks, n_folds = rigged
    n_folds.append(len(np.unique(data.folds)))
    res = compare(data, methods=METHODS, metric="logloss", seed=0, n_jobs=1)
    assert res.recommended.name == "mean"  # the all-folds answer
    assert len(inner_picks) == n_folds[0]
    # the choice for outer fold k is the answer of the comparison run without fold k
    assert res.procedure_choices == inner_picks


def test_each_outer_fold_is_predicted_by_its_pick_fitted_without_it(data, rigged):
    """The pooled procedure score equals the score of each pick's fit without its fold
    (recomputed from the engine's cache); log loss, so any other fit's predictions show."""
    _, n_folds = rigged
    n_folds.append(len(np.unique(data.folds)))
    res = compare(data, methods=METHODS, metric="logloss", seed=0, n_jobs=1)
    eng = res.engine
    assert set(res.procedure_choices) <= set(FITTED)
    parts = []
    for k, pick in zip(res.fold_ids, res.procedure_choices, strict=True):
        rows = eng.fold_rows(k)
        parts.append((rows, data.y[rows], eng.predict(pick, {k}, k)))
    expected, fold_scores = pooled_scores(get_metric("logloss"), parts)
    assert res.procedure_nested_score == pytest.approx(expected, rel=1e-12)
    assert res.procedure_fold_scores == pytest.approx(list(fold_scores), rel=1e-12)
    # not vacuous: the all-rows fits predict the held-out folds otherwise
    in_sample = [(r, t, eng.predict(p, frozenset(), k))
                 for (r, t, _), k, p in zip(parts, res.fold_ids, res.procedure_choices, strict=True)]
    assert pooled_scores(get_metric("logloss"), in_sample)[0] != pytest.approx(expected, rel=1e-9)


def _reads_outside(res) -> list[str]:
    """Every fit that read labels of a fold it is fitted without (the engine's row spy)."""
    eng = res.engine
    folds = np.asarray(eng.data.folds)
    return [f"{name} without {sorted(held)}"
            for (name, held), rows in eng.fit_rows.items() if np.isin(folds[rows], list(held)).any()]


def test_the_comparison_holds_no_raw_labels(data):
    """The labels reach the candidates only through the tracing object: the data the
    candidates are built from and the engine's data hold it, not the array."""
    res = compare(data, methods=METHODS, seed=0, n_jobs=1, procedure=False)
    y = res.engine.data.y
    assert not isinstance(y, np.ndarray)
    assert y.shape == np.shape(data.y)
    assert _reads_outside(res) == []


def test_a_candidate_that_reads_the_labels_directly_is_seen(data, monkeypatch):
    """A candidate built on ``data.y`` (not ``engine.labels``) cannot bypass the spy: every
    read of the labels, indexed or whole, is recorded for the fit under way."""
    from blend.compare import Candidate

    core = inspect.getmodule(compare)
    real = core.build_candidates

    def build(d, metric, **kw):
        cands, notes = real(d, metric, **kw)

        def fit(eng, held):  # chooses on every row's label, its held-out folds included
            return float(np.mean(np.asarray(d.y) == 0))

        def predict(eng, held, k):
            eng.fit(sneaky, held)
            return np.full((len(eng.fold_rows(k)), 3), 1 / 3)

        sneaky = Candidate("sneaky", "selection", fit, predict)
        return [*cands, sneaky], notes

    monkeypatch.setattr(core, "build_candidates", build)
    res = compare(data, methods=[], seed=0, n_jobs=1, procedure=False)
    assert any(r.startswith("sneaky") for r in _reads_outside(res))
