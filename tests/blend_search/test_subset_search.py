"""Subset search: identical to the brute-force reference, tie order, budget, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blend import BlendError
from blend.combine import combine
from blend.metrics import get_metric
from blend.search import brute_force_search, plan_search, search_subsets


def _pairs(result):
    return [(r.indices, r.score) for r in result.results]


@st.composite
def grid_cases(draw):
    """Small problems whose values lie on a 1/8 grid, so exact ties happen often and float
    sums are exact: the search and the reference must agree on every tie."""
    M = draw(st.integers(2, 6))
    N = draw(st.integers(1, 25))
    C = draw(st.integers(2, 4))
    P = np.array(draw(st.lists(st.integers(0, 8), min_size=M * N * C, max_size=M * N * C)),
                 dtype=np.float32).reshape(M, N, C) / 8
    y = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    forced = draw(st.lists(st.integers(0, M - 1), max_size=2, unique=True))
    exclude = draw(st.lists(st.integers(0, M - 1).filter(lambda i: i not in forced), max_size=1, unique=True))
    n_avail = M - len(exclude)
    min_size = draw(st.integers(1, n_avail))
    max_size = draw(st.integers(max(min_size, len(forced)), n_avail))
    top = draw(st.integers(1, 70))
    return P, y, dict(must_include=forced, exclude=exclude, min_size=min_size, max_size=max_size, top=top)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grid_cases(), rule=st.sampled_from(["prob", "rank"]))
def test_accuracy_search_matches_brute_force_including_ties(case, rule):
    P, y, kw = case
    got = search_subsets(P, y, rule=rule, method="exhaustive", n_jobs=1, **kw)
    ref = brute_force_search(P, y, rule=rule, **kw)
    assert _pairs(got) == ref


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grid_cases())
def test_torch_path_matches_brute_force_including_ties(case):
    pytest.importorskip("torch")
    P, y, kw = case
    got = search_subsets(P, y, method="exhaustive", device="cpu", **kw)
    assert _pairs(got) == brute_force_search(P, y, **kw)


@pytest.mark.parametrize("rule", ["prob", "logit", "geo", "rank"])
@pytest.mark.parametrize("seed", [0, 1])
def test_accuracy_search_matches_brute_force_on_continuous_logits(rule, seed):
    rng = np.random.default_rng(seed)
    M, N, C = 12, 400, 5  # 12 > 10 inner bits: the outer Gray-code walk is used
    y = rng.integers(0, C, N)
    shared = rng.normal(size=(N, C))
    L = (1.5 * np.eye(C)[y] + 0.8 * shared + 0.6 * rng.normal(size=(M, N, C))).astype(np.float32)
    got = search_subsets(L, y, rule=rule, kind="logits", top=300, method="exhaustive", n_jobs=2)
    ref = brute_force_search(L, y, rule=rule, kind="logits", top=300)
    assert [r.indices for r in got.results] == [r[0] for r in ref]
    assert np.allclose([r.score for r in got.results], [r[1] for r in ref])


@pytest.mark.parametrize("metric", ["logloss", "auc", "f1_macro", "qwk"])
def test_other_metrics_match_brute_force(metric, rng):
    M, N, C = 6, 300, 3
    y = rng.integers(0, C, N)
    L = (1.2 * np.eye(C)[y] + rng.normal(size=(M, N, C))).astype(np.float32)
    got = search_subsets(L, y, metric=metric, kind="logits", rule="logit", top=20, method="exhaustive")
    ref = brute_force_search(L, y, metric=metric, kind="logits", rule="logit", top=20)
    assert [r.indices for r in got.results] == [r[0] for r in ref]
    assert np.allclose([r.score for r in got.results], [r[1] for r in ref])


def test_regression_rmse_search(rng):
    y = rng.normal(size=200)
    P = (y[None, :, None] + rng.normal(size=(5, 200, 1)) * np.arange(1, 6)[:, None, None]).astype(np.float32)
    got = search_subsets(P, y, metric="rmse", kind="raw", top=5)
    ref = brute_force_search(P, y, metric="rmse", kind="raw", top=5)
    assert [r.indices for r in got.results] == [r[0] for r in ref]


def test_ties_put_smaller_then_lexicographically_first_subsets_first():
    # three identical perfect models: every subset scores 1.0
    y = np.array([0, 1, 1, 0])
    P = np.repeat(np.eye(2)[y][None], 3, axis=0)
    got = search_subsets(P, y, top=10)
    assert [r.indices for r in got.results] == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


def test_fold_scores_and_names(rng):
    y = rng.integers(0, 3, 90)
    folds = np.arange(90) % 3
    P = rng.dirichlet(np.ones(3), (4, 90))
    res = search_subsets(P, y, folds, names=["a", "b", "c", "d"], top=3)
    best = res.best
    pred = combine(P[list(best.indices)])
    for k, s in zip(res.fold_ids, best.fold_scores, strict=False):
        assert s == pytest.approx(np.mean(pred[folds == k].argmax(1) == y[folds == k]))
    assert best.models == tuple("abcd"[i] for i in best.indices)
    d = res.to_dict()
    assert d["metric"] == "accuracy"
    assert d["results"][0]["models"] == list(best.models)
    assert d["results"][0]["size"] == best.size
    assert d["nested_score"] is None


def test_nested_runs_the_selection_inside_the_folds(rng):
    M, N, C = 5, 250, 3
    y = rng.integers(0, C, N)
    folds = np.arange(N) % 5
    L = (1.0 * np.eye(C)[y] + rng.normal(size=(M, N, C))).astype(np.float32)
    res = search_subsets(L, y, folds, kind="logits", nested=True, top=3)
    acc = get_metric("accuracy")
    scores = []
    for k in range(5):
        tr, te = folds != k, folds == k
        best = brute_force_search(L[:, tr], y[tr], kind="logits", top=1)[0][0]
        assert res.nested_choices[k] == tuple(f"m{i}" for i in best)
        scores.append(acc(y[te], combine(L[list(best)][:, te], kind="logits")))
    # pooled: the metric of every fold's held-out blend put together (accuracy: weighted mean)
    assert res.nested_score == pytest.approx(np.average(scores, weights=np.bincount(folds)))


def test_over_budget_switches_to_beam_and_says_so(rng):
    y = rng.integers(0, 3, 100)
    P = rng.dirichlet(np.ones(3), (10, 100))
    res = search_subsets(P, y, time_budget=0.0, top=5)
    assert res.method == "beam"
    assert "beam search" in res.note
    assert "1,023 subsets" in res.note
    ref = {s: v for s, v in brute_force_search(P, y, top=1023)}
    for r in res.results:  # beam scores are real scores of real subsets
        assert r.score == pytest.approx(ref[r.indices])
    assert [r.score for r in res.results] == sorted((r.score for r in res.results), reverse=True)


def test_beam_finds_the_planted_best_subset(rng):
    # models 0-2 carry signal, the others are noise: beam search must find {0, 1, 2}
    y = rng.integers(0, 4, 600)
    signal = np.eye(4)[y]
    L = rng.normal(size=(45, 600, 4))
    L[:3] += 2.0 * signal
    res = search_subsets(L.astype(np.float32), y, kind="logits", rule="logit", top=3, max_size=5)
    assert res.method == "beam"
    assert "cannot be enumerated" in res.note
    assert res.best.indices == (0, 1, 2)


def test_plan_counts_subsets_with_size_limits(rng):
    P = rng.dirichlet(np.ones(3), (6, 50))
    y = rng.integers(0, 3, 50)
    plan = plan_search(P, y, min_size=2, max_size=3, must_include=[0])
    # {0} plus 1 or 2 of the other 5: C(5,1) + C(5,2)
    assert plan.n_subsets == 15
    assert plan.method == "exact"  # accuracy has a bound: auto prunes
    assert plan.est_seconds >= 0
    assert "exact (pruned) search over 15 subsets of 6 models" in plan.summary()


@pytest.mark.parametrize(
    ("P_shape", "kwargs", "message"),
    [
        ((1, 20, 3), {}, "subset search needs at least 2 models, the input has 1 \\(m0\\)"),
        ((3, 20, 3), {"min_size": 3, "max_size": 2}, "min_size <= max_size must hold"),
        ((3, 20, 3), {"must_include": [1], "exclude": [1]}, "models m1 are both required and excluded"),
        ((3, 20, 3), {"exclude": ["zz"]}, "exclude: unknown model 'zz'; models are m0, m1, m2"),
        ((3, 20, 3), {"must_include": [7]}, "model index 7 out of range"),
        ((3, 20, 3), {"metric": "accu"}, "unknown metric 'accu'"),
        ((3, 20, 3), {"rule": "median"}, "unknown rule 'median'"),
        ((3, 20, 3), {"nested": True}, "nested=True needs the fold assignment"),
        ((3, 20, 3), {"top": 0}, "top must be >= 1"),
        ((3, 20, 3), {"method": "greedy"}, "unknown method 'greedy'"),
        ((3, 21, 3), {}, "targets have 20 rows but predictions have 21"),
        ((3, 20, 3), {"max_size": 1, "must_include": [0, 1]}, "max_size 1 is smaller than the 2 required"),
    ],
)
def test_bad_input_is_named(P_shape, kwargs, message, rng):
    P = rng.dirichlet(np.ones(3), P_shape[:2]).astype(np.float32)
    y = rng.integers(0, 3, 20)
    with pytest.raises(BlendError, match=message):
        search_subsets(P, y, **kwargs)


@pytest.mark.parametrize(("metric", "kwargs"), [("accuracy", {}), ("accuracy", {"max_size": 4}),
                                                ("logloss", {"must_include": [2]})])
def test_progress_counts_every_subset_once(metric, kwargs, rng):
    P = rng.dirichlet(np.ones(3), (12, 60)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    seen = []
    res = search_subsets(P, y, metric=metric, top=3, method="exhaustive",
                         progress=seen.append, **kwargs)
    assert sum(seen) == res.n_subsets == res.n_evaluated


@pytest.mark.parametrize("device", [None, "cpu"])
def test_very_confident_logits_switch_to_int64_and_still_match(device, rng):
    if device:
        pytest.importorskip("torch")
    from blend.search._kernels import AccuracyKernel

    M, N, C = 7, 300, 4
    y = rng.integers(0, C, N)
    L = (60 * (np.eye(C)[y] + 0.9 * rng.normal(size=(M, N, C)))).astype(np.float32)
    k = AccuracyKernel(L - L.max(-1, keepdims=True), y, list(range(M)), [], 1, M)
    assert k.dtype == np.int64
    got = search_subsets(L, y, rule="logit", kind="logits", top=127, method="exhaustive", device=device)
    ref = brute_force_search(L, y, rule="logit", kind="logits", top=127)
    assert [r.indices for r in got.results] == [r[0] for r in ref]


def _masks_to_subsets(masks, cand, forced):
    return [tuple(sorted(forced + [cand[p] for p in range(len(cand)) if (int(m) >> p) & 1]))
            for m in masks]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grid_cases(), inner_bits=st.integers(0, 6), n_jobs=st.integers(1, 3),
       device=st.sampled_from([None, "cpu"]))
def test_gray_walk_and_every_outer_inner_split_match_brute_force(case, inner_bits, n_jobs, device):
    # the public search uses 10 inner bits, so small cases never walk the outer part:
    # force every split here (0 inner bits = all models walked in Gray-code order)
    from blend.combine import to_scores
    from blend.search._kernels import AccuracyKernel

    P, y, kw = case
    M = P.shape[0]
    forced = sorted(kw["must_include"])
    cand = [i for i in range(M) if i not in forced and i not in kw["exclude"]]
    S = to_scores(P, rule="prob", kind="probs")
    k = AccuracyKernel(S, y, cand, forced, kw["min_size"], kw["max_size"], inner_bits=inner_bits)
    if device is None:
        gains, masks = k.run(kw["top"], n_jobs=n_jobs)
    else:
        pytest.importorskip("torch")
        from blend.search._torch import torch_accuracy_search

        gains, masks = torch_accuracy_search(k, kw["top"], device=device, chunk=7)
    ref = brute_force_search(P, y, **kw)
    assert _masks_to_subsets(masks, cand, forced) == [s for s, _ in ref]
    assert np.allclose(gains / len(y), [v for _, v in ref])
