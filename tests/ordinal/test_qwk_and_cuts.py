"""QWK and cut points: equal to scikit-learn, exact scans, and methods that improve on rounding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from blend import BlendError
from blend.metrics import get_metric
from blend.ordinal import (
    Grades,
    SortedScores,
    apply_cuts,
    available_cut_methods,
    fit_cuts,
    infer_grades,
    parse_grades,
    qwk_grades,
)


def _sk_qwk(a, b, labels=None) -> float:
    """scikit-learn's QWK over every grade (``labels``: a grade absent from both still counts)."""
    if len(np.unique(np.concatenate([a, b]))) == 1:
        return 1.0  # sklearn gives nan for a single label; ours counts perfect agreement as 1
    if labels is None:
        labels = list(range(int(min(a.min(), b.min())), int(max(a.max(), b.max())) + 1))
    return float(cohen_kappa_score(a, b, weights="quadratic", labels=labels))


grades_pairs = st.integers(2, 7).flatmap(
    lambda G: st.tuples(
        st.just(G),
        st.lists(st.tuples(st.integers(0, G - 1), st.integers(0, G - 1)), min_size=2, max_size=80),
    )
)


@given(grades_pairs)
def test_qwk_equals_sklearn_cohen_kappa_quadratic(pair):
    G, rows = pair
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    assert qwk_grades(y, p, G) == pytest.approx(_sk_qwk(y, p, list(range(G))), abs=1e-12)


@given(grades_pairs, st.integers(0, 2**31 - 1))
def test_regression_metric_qwk_rounds_to_grades_and_equals_sklearn(pair, seed):
    G, rows = pair
    y = np.array([r[0] for r in rows], dtype=np.float64) + 1.0  # grades 1..G
    score = y + np.random.default_rng(seed).normal(0, 1.0, len(y))
    m = get_metric("qwk", "regression")
    rounded = np.clip(np.rint(score), y.min(), y.max())
    assert m(y, score[:, None]) == pytest.approx(_sk_qwk(y.astype(int), rounded.astype(int)),
                                                 abs=1e-12)


@given(st.integers(2, 6), st.integers(5, 120), st.integers(0, 2**31 - 1))
def test_sorted_scores_qwk_equals_sklearn_for_any_cuts(G, n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, G, n)
    score = np.round(y + rng.normal(0, 1.0, n), 1)  # ties on purpose
    cuts = np.sort(rng.uniform(-1, G, G - 1))
    ss = SortedScores(score, y, G)
    assert ss.qwk(cuts) == pytest.approx(_sk_qwk(y, apply_cuts(score, cuts), list(range(G))),
                                          abs=1e-12)


def _brute_force_one_cut(score, y, G, cuts, j):
    """Best QWK over every cut value for cut j, others fixed, scoring each from scratch."""
    lo = cuts[j - 1] if j > 0 else -np.inf
    hi = cuts[j + 1] if j + 1 < len(cuts) else np.inf
    inside = np.unique(score[(score >= lo) & (score < hi)])
    candidates = np.concatenate(([lo if np.isfinite(lo) else score.min() - 1],
                                 (inside[:-1] + inside[1:]) / 2, inside,
                                 [hi if np.isfinite(hi) else score.max() + 1]))
    best = -np.inf
    for v in candidates:
        c = cuts.copy()
        c[j] = min(max(v, lo), hi)
        best = max(best, qwk_grades(y, apply_cuts(score, c), G))  # = sklearn (tested above)
    return best


@settings(max_examples=40)
@given(st.integers(2, 6), st.integers(6, 60), st.integers(0, 2**31 - 1))
def test_scan_of_one_cut_finds_the_brute_force_optimum(G, n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, G, n)
    score = np.round(y + rng.normal(0, 1.2, n), 1)
    cuts = np.sort(rng.uniform(-0.5, G - 0.5, G - 1))
    ss = SortedScores(score, y, G)
    for j in range(G - 1):
        p, q = ss.scan_cut(cuts, j)
        # each scanned QWK is the QWK of the cut value placed at that position
        lo = cuts[j - 1] if j > 0 else -np.inf
        hi = cuts[j + 1] if j + 1 < len(cuts) else np.inf
        for pi, qi in zip(p, q, strict=True):
            c = cuts.copy()
            c[j] = ss.cut_value(int(pi), lo, hi, 0.5)
            assert qi == pytest.approx(qwk_grades(y, apply_cuts(score, c), G), abs=1e-9)
        assert q.max() == pytest.approx(_brute_force_one_cut(score, y, G, cuts, j), abs=1e-9)


@pytest.mark.parametrize("method", available_cut_methods())
def test_every_method_returns_sorted_cuts_that_do_not_lose_to_rounding_in_sample(method):
    rng = np.random.default_rng(3)
    y = np.clip(np.rint(rng.normal(2.5, 1.2, 3000)), 0, 5).astype(int)
    score = 0.8 * y + 0.4 + rng.normal(0, 0.8, len(y))  # biased, shrunk: rounding is poor
    g = Grades(tuple(range(6)))
    cuts = fit_cuts(score, y, g, method)
    assert cuts.shape == (5,)
    assert np.all(np.diff(cuts) >= 0)
    rounding = qwk_grades(y, apply_cuts(score, g.midpoints()), 6)
    fitted = qwk_grades(y, apply_cuts(score, cuts), 6)
    if method in ("coordinate", "nelder-mead"):
        assert fitted >= rounding
    if method == "coordinate":  # coordinate starts from both; never below either start
        for other in ("distribution", "round"):
            assert fitted >= qwk_grades(y, apply_cuts(score, fit_cuts(score, y, g, other)), 6)


def test_distribution_matching_reproduces_the_training_histogram():
    rng = np.random.default_rng(5)
    y = rng.choice(4, 1000, p=[0.1, 0.2, 0.3, 0.4])
    score = y + rng.normal(0, 1.0, 1000)  # continuous: no ties
    cuts = fit_cuts(score, y, Grades((0, 1, 2, 3)), "distribution")
    assert np.array_equal(np.bincount(apply_cuts(score, cuts), minlength=4), np.bincount(y))


def test_grades_parse_infer_and_index():
    assert parse_grades("1..6").values == (1, 2, 3, 4, 5, 6)
    assert parse_grades("0,2,1").values == (0, 1, 2)
    assert infer_grades(np.array([3.0, 1.0, 2.0, 3.0])).values == (1, 2, 3)
    assert Grades((1, 2, 3)).index(np.array([3, 1])).tolist() == [2, 0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_grades("6..1"), r"range must go up"),
        (lambda: parse_grades("a,b"), r"range such as 1..6"),
        (lambda: infer_grades(np.array([1.0, 1.5])), r"not whole numbers \(row 1: 1.5\)"),
        (lambda: infer_grades(np.array([2.0, 2.0])), r"at least 2 grades"),
        (lambda: Grades((1, 2)).index(np.array([1.0, 7.0])), r"row 1, value 7.0"),
        (lambda: fit_cuts(np.zeros(3), np.zeros(3), Grades((0, 1)), "best"),
         r"unknown cut-point method 'best'; choose one of: round"),
        (lambda: fit_cuts(np.array([0.0, np.nan]), np.zeros(2), Grades((0, 1))),
         r"NaN or infinite values \(first row 1\)"),
        (lambda: fit_cuts(np.zeros(3), np.zeros(3), Grades((0, 1)), "coordinate", steps=3),
         r"The 'steps' parameter of cut-point method '.*' must be one of its parameters"),
        (lambda: get_metric("qwk", "regression")(np.array([0.5, 1.0]), np.array([1.0, 1.0])),
         r"needs integer grades"),
    ],
)
def test_bad_input_gets_one_clear_error(call, message):
    with pytest.raises(BlendError, match=message):
        call()


def test_regression_metrics_know_their_direction_and_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 1.5, 3.5, 4.5])
    assert get_metric("mae", "regression")(y, p) == pytest.approx(0.5)
    assert get_metric("r2", "regression")(y, p) == pytest.approx(1 - 1.0 / 5.0)
    assert get_metric("pearson", "regression")(y, p) == pytest.approx(np.corrcoef(y, p)[0, 1])
    assert get_metric("spearman", "regression")(y, p[:, None]) == pytest.approx(
        np.corrcoef([1, 2, 3, 4], [1.5, 1.5, 3, 4])[0, 1])
    assert not get_metric("mae").greater_is_better
    assert get_metric("r2").greater_is_better
    assert get_metric("spearman").greater_is_better
