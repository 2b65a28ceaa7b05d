"""The pure report core: every number equals a direct computation on the arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blend import BlendError
from blend.report import MAX_GROUPS, build_report


def _acc(P, y):
    return float(np.mean(P.argmax(axis=1) == y))


# ------------------------------------------------------------------ scores


def test_model_and_fold_scores_equal_accuracy_by_hand(make_arrays):
    P, y, folds = make_arrays("multiclass", n_tta=2)
    r = build_report(P, y, folds, task="multiclass", metric="accuracy")
    assert r.metric == "accuracy"
    assert r.greater_is_better
    for m, s in enumerate(r.models):
        pm = P[m].astype(np.float64).mean(axis=0)  # mean of the TTA views
        assert s.score == pytest.approx(_acc(pm, y), abs=1e-12)
        by_hand = [_acc(pm[folds == k], y[folds == k]) for k in r.fold_ids]
        np.testing.assert_allclose(s.fold_scores, by_hand, atol=1e-12)
        assert s.fold_mean == pytest.approx(np.mean(by_hand))
        assert s.fold_std == pytest.approx(np.std(by_hand))
        assert r.fold_ids[s.worst_fold_index] == r.fold_ids[int(np.argmin(by_hand))]
        # secondary metrics and per-class recall
        ll = -np.mean(np.log(np.clip(pm[np.arange(len(y)), y], 1e-15, 1)))
        assert s.secondary["logloss"] == pytest.approx(ll, rel=1e-6)
        assert s.secondary["accuracy"] == pytest.approx(_acc(pm, y))
        pred = pm.argmax(axis=1)
        recall = [np.mean(pred[y == c] == c) for c in range(P.shape[-1])]
        np.testing.assert_allclose(s.recall, recall, atol=1e-12)


def test_blend_is_the_probability_mean_of_all_models(make_arrays):
    P, y, folds = make_arrays("multiclass", n_models=5, n_tta=3)
    r = build_report(P, y, folds, task="multiclass")
    blend = P.astype(np.float64).mean(axis=(0, 1))
    assert r.blend.name == "mean blend"
    assert r.blend.score == pytest.approx(_acc(blend, y))
    np.testing.assert_allclose(r.blend.fold_scores,
                               [_acc(blend[folds == k], y[folds == k]) for k in r.fold_ids])
    cm = np.zeros((P.shape[-1],) * 2, int)
    np.add.at(cm, (y, blend.argmax(axis=1)), 1)
    np.testing.assert_array_equal(r.confusion, cm)


def test_worst_fold_follows_the_metric_direction(make_arrays):
    P, y, folds = make_arrays("multiclass")
    r = build_report(P, y, folds, task="multiclass", metric="logloss")
    assert not r.greater_is_better
    for s in r.models:
        assert s.fold_scores[s.worst_fold_index] == np.max(s.fold_scores)
    assert r.best_model().score == min(s.score for s in r.models)


def test_tta_gain_is_mean_of_views_minus_each_view(make_arrays):
    P, y, folds = make_arrays("multiclass", n_tta=3)
    r = build_report(P, y, folds, task="multiclass", tta_views=[["a", "b", "c"]] * 4)
    assert [g.model for g in r.tta] == [s.name for s in r.models]
    for m, g in enumerate(r.tta):
        views = [_acc(P[m, t].astype(np.float64), y) for t in range(3)]
        np.testing.assert_allclose(g.view_scores, views)
        np.testing.assert_allclose(g.gains, r.models[m].score - np.array(views))
        assert g.views == ["a", "b", "c"]
    # lower-is-better metrics: a positive gain still means the mean of views is better
    r2 = build_report(P, y, folds, task="multiclass", metric="logloss")
    for g in r2.tta:
        np.testing.assert_allclose(g.gains, g.view_scores - g.mean_score)


def test_models_may_have_different_numbers_of_tta_views(make_arrays):
    P, y, folds = make_arrays("multiclass", n_tta=3)
    views = [P[0], P[1, :1], P[2, :2]]
    r = build_report(views, y, folds, task="multiclass")
    assert [g.model for g in r.tta] == ["m0", "m2"]
    assert r.models[1].score == pytest.approx(_acc(P[1, 0].astype(np.float64), y))


# ------------------------------------------------------------------ correlation


def test_correlation_is_pearson_of_the_true_class_probability(make_arrays):
    P, y, folds = make_arrays("multiclass", n_models=5)
    r = build_report(P, y, folds, task="multiclass")
    p_true = P[:, 0, np.arange(len(y)), y].astype(np.float64)
    np.testing.assert_allclose(r.correlation, np.corrcoef(p_true), atol=1e-6)
    wrong = P[:, 0].argmax(axis=2) != y
    a, b = 1, 3
    jac = np.sum(wrong[a] & wrong[b]) / np.sum(wrong[a] | wrong[b])
    assert r.error_agreement[a, b] == pytest.approx(jac)
    iu = np.triu_indices(5, 1)
    ranked = sorted(zip(np.corrcoef(p_true)[iu], iu[0], iu[1], strict=False), reverse=True)
    top, bottom = ranked[0], ranked[-1]
    assert (r.most_correlated[0].a, r.most_correlated[0].b) == (f"m{top[1]}", f"m{top[2]}")
    assert (r.least_correlated[0].a, r.least_correlated[0].b) == (f"m{bottom[1]}", f"m{bottom[2]}")
    assert len(r.most_correlated) == len(r.least_correlated) == 3


def test_regression_correlates_residuals(make_arrays):
    P, y, folds = make_arrays("regression")
    r = build_report(P, y, folds, task="regression")
    np.testing.assert_allclose(r.correlation, np.corrcoef(P[:, 0, :, 0] - y), atol=1e-6)
    assert r.error_agreement is None


# ------------------------------------------------------------------ breakdown


def test_breakdown_by_column_equals_the_score_on_each_group(make_arrays):
    P, y, folds = make_arrays("multiclass")
    rng = np.random.default_rng(0)
    source = rng.choice(["2019", "2020"], len(y))
    r = build_report(P, y, folds, task="multiclass", by={"source": source})
    assert [b.column for b in r.breakdowns] == ["fold", "source"]
    b = r.breakdowns[1]
    assert b.values == ["2019", "2020"]
    blend = P.astype(np.float64).mean(axis=(0, 1))
    for g, v in enumerate(b.values):
        rows = source == v
        assert b.n_rows[g] == rows.sum()
        assert b.blend_scores[g] == pytest.approx(_acc(blend[rows], y[rows]))
        for m in range(P.shape[0]):
            assert b.scores[m, g] == pytest.approx(_acc(P[m, 0][rows].astype(np.float64), y[rows]))
    fold = r.breakdowns[0]
    np.testing.assert_allclose(fold.scores, np.stack([s.fold_scores for s in r.models]))


# ------------------------------------------------------------------ reliability and noise


def test_reliability_bins_by_hand(make_arrays):
    P, y, folds = make_arrays("multiclass")
    r = build_report(P, y, folds, task="multiclass", n_bins=10)
    blend = P.astype(np.float64).mean(axis=(0, 1))
    conf, ok = blend.max(axis=1), blend.argmax(axis=1) == y
    rel = r.reliability
    assert rel.counts.sum() == len(y)
    ece = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        rows = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
        assert rel.counts[b] == rows.sum()
        if rows.any():
            assert rel.accuracy[b] == pytest.approx(ok[rows].mean())
            ece += rows.sum() / len(y) * abs(ok[rows].mean() - conf[rows].mean())
    assert rel.ece == pytest.approx(ece)


def test_flipped_labels_are_the_top_noise_candidates(make_arrays):
    P, y, folds = make_arrays("multiclass", n_models=4, n_rows=1200)
    blend = P.astype(np.float64).mean(axis=(0, 1))
    conf = blend[np.arange(len(y)), y]
    flipped = np.argsort(-conf)[:5]  # the rows the blend is surest about
    y_noisy = y.copy()
    y_noisy[flipped] = (y[flipped] + 1) % P.shape[-1]
    ids = np.array([f"row{i}" for i in range(len(y))])
    r = build_report(P, y_noisy, folds, task="multiclass", ids=ids)
    nz = r.noise
    assert set(nz.rows[:5]) == set(flipped)
    assert set(nz.ids[:5]) == {f"row{i}" for i in flipped}
    np.testing.assert_array_equal(nz.predicted[:5], blend.argmax(axis=1)[nz.rows[:5]])
    # every candidate: predicted != given, above its class threshold, ranked by p_pred - p_given
    rows = nz.rows
    assert np.all(nz.predicted != nz.given)
    np.testing.assert_allclose(nz.score, blend[rows, nz.predicted] - blend[rows, nz.given])
    assert np.all(np.diff(nz.score) <= 0)
    thresholds = [blend[y_noisy == k, k].mean() for k in range(P.shape[-1])]
    np.testing.assert_allclose(nz.thresholds, thresholds)
    assert np.all(blend[rows, nz.predicted] >= nz.thresholds[nz.predicted])
    not_cand = np.setdiff1d(np.arange(len(y)), rows)
    pred = blend.argmax(axis=1)
    assert not np.any((pred[not_cand] != y_noisy[not_cand])
                      & (blend[not_cand, pred[not_cand]] >= np.array(thresholds)[pred[not_cand]]))


# ------------------------------------------------------------------ every task type, one model


@pytest.mark.parametrize(
    ("task", "present", "absent"),
    [
        ("binary", ["confusion", "reliability", "noise", "error_agreement"], []),
        ("multiclass", ["confusion", "reliability", "noise", "error_agreement"], []),
        ("softclass", ["confusion", "reliability", "noise", "error_agreement"], []),
        ("regression", [], ["confusion", "reliability", "noise", "error_agreement"]),
    ],
)
def test_every_task_type_reports_what_applies(make_arrays, task, present, absent):
    P, y, folds = make_arrays(task, n_tta=2)
    r = build_report(P, y, folds, task=task)
    for name in present:
        assert getattr(r, name) is not None, name
    for name in absent:
        assert getattr(r, name) is None, name
    assert np.isfinite(r.blend.score)
    assert all(np.isfinite(s.score) for s in r.models)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["task"] == task
    assert len(d["models"]) == P.shape[0]
    assert d["metric"] == {"binary": "auc", "multiclass": "accuracy", "softclass": "kl",
                           "regression": "rmse"}[task]
    expected_secondary = {"rmse", "mae"} if task == "regression" else {"logloss", "accuracy"}
    assert set(d["blend"]["secondary"]) == expected_secondary
    assert r.summary().startswith(f"{P.shape[0]} model(s)")


def test_softclass_uses_expected_true_class_probability_and_argmax_labels(make_arrays):
    P, y, folds = make_arrays("softclass")
    r = build_report(P, y, folds, task="softclass")
    p_true = np.einsum("mnc,nc->mn", P[:, 0].astype(np.float64), y)
    np.testing.assert_allclose(r.correlation, np.corrcoef(p_true), atol=1e-6)
    assert r.confusion.sum(axis=1).tolist() == np.bincount(y.argmax(axis=1), minlength=y.shape[1]).tolist()
    assert any("soft targets" in n for n in r.notes)


def test_regression_secondary_metrics_by_hand(make_arrays):
    P, y, folds = make_arrays("regression")
    r = build_report(P, y, folds, task="regression")
    res = P[0, 0, :, 0].astype(np.float64) - y
    assert r.models[0].score == pytest.approx(np.sqrt(np.mean(res**2)))
    assert r.models[0].secondary["mae"] == pytest.approx(np.mean(np.abs(res)))
    assert r.models[0].recall is None


def test_one_model_report(make_arrays):
    P, y, folds = make_arrays("multiclass", n_models=1)
    r = build_report(P, y, folds, task="multiclass", models=["only"])
    assert r.correlation.shape == (1, 1)
    assert r.correlation[0, 0] == 1
    assert r.most_correlated == []
    assert r.least_correlated == []
    assert r.blend.score == r.models[0].score
    assert any("one model" in n for n in r.notes)
    json.dumps(r.to_dict(), allow_nan=False)


@settings(max_examples=15, deadline=None)
@given(perm_seed=st.integers(0, 10_000))
def test_permuting_models_permutes_the_report(perm_seed):
    rng = np.random.default_rng(7)
    n, c, m = 200, 3, 4
    y = rng.integers(0, c, n)
    folds = np.arange(n) % 4
    logits = rng.normal(size=(m, 1, n, c)) + 1.5 * np.eye(c)[y]
    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    names = [f"m{i}" for i in range(m)]
    perm = np.random.default_rng(perm_seed).permutation(m)
    a = build_report(P, y, folds, task="multiclass", models=names)
    b = build_report(P[perm], y, folds, task="multiclass", models=[names[i] for i in perm])
    np.testing.assert_allclose([s.score for s in b.models], [a.models[i].score for i in perm])
    np.testing.assert_allclose(b.correlation, a.correlation[np.ix_(perm, perm)], atol=1e-12)
    assert b.blend.score == pytest.approx(a.blend.score)
    assert len(b.noise) == len(a.noise)


# ------------------------------------------------------------------ bad input


@pytest.fixture
def arrays(make_arrays):
    return make_arrays("multiclass", n_rows=300)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda P, y, f, kw: (P[..., :1, :, :], y[:10], f, kw), r"y has 10 rows but the predictions have 300"),
        (lambda P, y, f, kw: (P, y, f[:5], kw), r"folds must hold one fold id per row \(300\)"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "task": "ranking"}), "unknown task 'ranking'"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "metric": "nope"}), "unknown metric 'nope'"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "metric": "rmse"}), "does not fit a multiclass task"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "models": ["a", "a", "b", "c"]}), "must be unique"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "models": ["a"]}), "1 model names for 4 models"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "class_names": ["x"]}), "1 class names for 4 columns"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "by": {"src": np.zeros(3)}}), "--by column 'src' must have"),
        (lambda P, y, f, kw: (P, y, f, {**kw, "by": {"id": np.arange(300)}}),
         f"--by column 'id' has 300 distinct values \\(at most {MAX_GROUPS}"),
        (lambda P, y, f, kw: (np.where(np.arange(4)[:, None, None, None] == 2, np.nan, P), y, f, kw),
         "model 'm2' has non-finite predictions"),
        (lambda P, y, f, kw: (P, y + 10, f, kw), r"labels must lie in \[0, 3\]"),
        (lambda P, y, f, kw: ([], y, f, kw), "at least one model"),
        (lambda P, y, f, kw: (P[0, 0], y, f, kw), "predictions must have shape"),
    ],
)
def test_bad_input_raises_a_clear_blend_error(arrays, change, message):
    P, y, folds = arrays
    P, y, folds, kw = change(P, y, folds, {"task": "multiclass"})
    with pytest.raises(BlendError, match=message):
        build_report(P, y, folds, **kw)


def test_a_fold_with_noisy_labels_is_every_models_worst_fold(make_arrays):
    P, y, folds = make_arrays("multiclass", n_models=5, n_rows=2000)
    rng = np.random.default_rng(1)
    noisy = np.flatnonzero(folds == 2)
    flip = rng.choice(noisy, size=len(noisy) // 4, replace=False)
    y = y.copy()
    y[flip] = (y[flip] + 1 + rng.integers(0, 3, len(flip))) % 4
    r = build_report(P, y, folds, task="multiclass")
    assert all(r.fold_ids[s.worst_fold_index] == 2 for s in r.models)
    assert r.fold_ids[r.blend.worst_fold_index] == 2
    # and the flipped rows are over-represented among the label-noise candidates
    assert np.isin(r.noise.rows, flip).mean() > 5 * len(flip) / len(y)


@pytest.mark.parametrize(("n_models", "n_listed"), [(2, 1), (3, 1), (4, 3), (6, 3)])
def test_most_and_least_correlated_lists_do_not_overlap(make_arrays, n_models, n_listed):
    P, y, folds = make_arrays("multiclass", n_models=n_models, n_rows=300)
    r = build_report(P, y, folds, task="multiclass")
    most = {(p.a, p.b) for p in r.most_correlated}
    least = {(p.a, p.b) for p in r.least_correlated}
    assert len(most) == len(least) == n_listed
    assert n_models == 2 or not most & least
    assert min(p.correlation for p in r.most_correlated) >= max(p.correlation for p in r.least_correlated)
