"""The compare engine: nesting (a spy on rows), fit reuse, pooled scores, the recommendation."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blend import BlendError
from blend.compare import (
    COMPLEXITY,
    CandidateScore,
    Comparison,
    compare,
    recommend,
    z_threshold,
)
from blend.metrics import get_metric
from blend.workflows.compare import load_data


def _leaks(res) -> list[str]:
    """Every place where a fold's labels reached a fit or a choice that must not see them."""
    eng = res.engine
    folds = eng.data.folds
    out = []
    for (name, held), rows in eng.fit_rows.items():
        seen = np.isin(folds[rows], list(held))
        if seen.any():
            out.append(f"fit {name} without {sorted(held)} saw {int(seen.sum())} of their rows")
    for k, rows in eng.choice_rows.items():
        if (folds[rows] == k).any():
            out.append(f"the procedure's choice for fold {k} saw fold {k}'s labels")
    return out


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    from oof_store import synthetic

    store = synthetic.make_store(
        tmp_path_factory.mktemp("cmp") / "store", n_models=5, n_rows=300, n_classes=3,
        n_folds=5, accuracy=(0.55, 0.75), correlation=0.5, seed=3,
    )
    few = ["lbfgs/prob", "lbfgs/logit", "stack:linear", "stack:lgbm", "level3"]
    return compare(load_data(store), methods=few, seed=0, n_jobs=1)


def test_no_fold_reaches_its_own_fit_or_choice(tiny_result):
    res = tiny_result
    eng = res.engine
    assert _leaks(res) == []
    # not vacuous: every choice read the labels of every other fold, every fit its training rows
    for k, rows in eng.choice_rows.items():
        assert set(np.unique(eng.data.folds[rows])) == set(eng.fold_ids) - {k}
    for (_, held), rows in eng.fit_rows.items():
        if ("mean", held) != (_, held):
            assert rows.any()


def test_spy_sees_a_planted_leak_in_the_procedure_loop(tiny_store, monkeypatch):
    # the inner comparison of outer fold k using fits that saw fold k (only j left out)
    monkeypatch.setattr(Comparison, "_inner_key", staticmethod(lambda outer, inner: frozenset({inner})))
    res = compare(load_data(tiny_store), methods=["lbfgs/prob"], seed=0, n_jobs=1)
    assert any("procedure's choice" in m for m in _leaks(res))


def test_spy_sees_a_planted_leak_in_a_fit(tiny_store, monkeypatch):
    # a fit that trains on every row instead of the rows of its training folds
    monkeypatch.setattr(Comparison, "train_rows", lambda self, held: np.arange(self.N))
    res = compare(load_data(tiny_store), methods=["lbfgs/prob"], seed=0, n_jobs=1,
                  procedure=False)
    assert any(m.startswith("fit lbfgs prob") for m in _leaks(res))


def test_pair_fits_are_shared_between_outer_folds(tiny_result):
    eng = tiny_result.engine
    K = eng.fold_ids
    keys = {}
    for name, held in eng._fits:
        keys.setdefault(name, set()).add(held)
    singles = {frozenset({k}) for k in K}
    pairs = {frozenset(p) for p in combinations(K, 2)}
    triples = {frozenset(t) for t in combinations(K, 3)}
    # weights: in-sample + K outer + K(K-1)/2 inner fits, not K(K-1)
    assert keys["lbfgs prob"] == {frozenset()} | singles | pairs
    assert len(keys["lbfgs prob"]) == 1 + 5 + 10
    # stackers feed level 3, whose inner fits need stackers without three folds
    assert keys["stack:lgbm"] == singles | pairs | triples
    assert keys["level3 lbfgs"] == {frozenset()} | singles | pairs


def test_scores_are_pooled_over_the_held_out_rows(tiny_store):
    data = load_data(tiny_store)
    res = compare(data, metric="logloss", methods=[], seed=0, procedure=False)
    met = get_metric("logloss")
    mean = next(c for c in res.candidates if c.name == "mean")
    P = data.probs[:, 0].mean(axis=0)
    assert mean.nested_score == pytest.approx(met(data.y, P), rel=1e-7)  # float32 store
    fold_scores = [met(data.y[data.folds == k], P[data.folds == k]) for k in res.fold_ids]
    assert mean.fold_scores == pytest.approx(fold_scores, rel=1e-7)
    # nested predictions of a fitted candidate are those of the fit without each fold
    best = next(c for c in res.candidates if c.name == "best single")
    eng = res.engine
    pooled = np.zeros_like(P)
    for k in res.fold_ids:
        m = eng.fit("best single", {k})
        pooled[data.folds == k] = data.probs[m, 0, data.folds == k]
    assert best.nested_score == pytest.approx(met(data.y, pooled), rel=1e-12)


def test_auc_is_pooled_not_a_mean_of_folds(noise_data):
    data = noise_data(seed=1)
    res = compare(data, metric="auc", methods=[], procedure=False)
    mean = next(c for c in res.candidates if c.name == "mean")
    assert not math.isclose(mean.nested_score, float(np.mean(mean.fold_scores)), rel_tol=1e-9)


def test_recommendation_falls_back_to_the_mean_on_pure_noise(noise_data):
    # 20 models with no signal, 300 rows (the small noisy case). A finite sample gives some
    # model a chance correlation with the labels now and then; the only way away from the
    # mean is a significant gain over it, so the mean must win in most draws.
    picks = []
    for seed in range(8):
        res = compare(noise_data(n_rows=300, n_models=20, seed=seed), metric="auc",
                      methods=["lbfgs/prob"], seed=seed, procedure=seed < 2)
        picks.append(res.recommended.name)
        if res.recommended.name != "mean":
            assert res.recommended.z_vs_mean > z_threshold(len(res.candidates)), res.reason
        else:
            assert "mean" in res.reason
        if seed < 2:
            assert set(res.procedure_choices) <= {"mean", "best single", "best-subset mean"}
    assert picks.count("mean") >= 6, picks


def _score(name, kind, nested, se=0.01):
    return CandidateScore(name, kind, kind == "mean", "", nested, (nested,) * 4, se * 2, se,
                          nested, 0.0)


def test_recommend_takes_the_simplest_within_one_standard_error():
    met = get_metric("accuracy")
    s = [_score("mean", "mean", 0.70), _score("w", "weights", 0.795),
         _score("stack", "stacker", 0.80, se=0.01), _score("l3", "level3", 0.799)]
    chosen, reason = recommend(s, met)
    assert chosen.name == "w"
    assert "simplest" in reason
    chosen, reason = recommend([_score("mean", "mean", 0.70), _score("stack", "stacker", 0.80)], met)
    assert chosen.name == "stack"
    assert "no simpler" in reason
    chosen, _ = recommend([_score("mean", "mean", 0.795), _score("stack", "stacker", 0.80)], met)
    assert chosen.name == "mean"
    # losses: smaller is better
    ll = get_metric("logloss")
    chosen, _ = recommend([_score("mean", "mean", 0.50), _score("w", "weights", 0.40, se=0.001)], ll)
    assert chosen.name == "w"


@given(st.lists(st.tuples(st.sampled_from(sorted(COMPLEXITY)), st.floats(0.0, 1.0),
                          st.floats(0.0, 0.1)), min_size=1, max_size=8),
       st.floats(0.0, 1.0), st.floats(0.0, 0.1))
def test_recommendation_is_within_one_se_nothing_simpler_is_and_never_below_the_mean(
        rows, mean_score, mean_se):
    met = get_metric("accuracy")
    scores = [CandidateScore(f"c{i}", kind, False, "", v, (v,), se, se, v, 0.0)
              for i, (kind, v, se) in enumerate(rows) if kind != "mean"]
    scores.append(CandidateScore("mean", "mean", True, "", mean_score, (mean_score,), mean_se,
                                 mean_se, mean_score, 0.0))
    chosen, reason = recommend(scores, met)
    best = max(scores, key=lambda s: (s.nested_score, -COMPLEXITY[s.kind]))
    assert chosen.nested_score >= best.nested_score - best.se - 1e-12
    for s in scores:
        if s.nested_score >= best.nested_score - best.se:
            assert COMPLEXITY[s.kind] >= COMPLEXITY[chosen.kind]
    assert chosen.nested_score >= mean_score
    assert "WORSE" not in reason


def test_unknown_method_and_too_few_folds_raise(tiny_store):
    data = load_data(tiny_store)
    with pytest.raises(BlendError, match="unknown method 'nope'"):
        compare(data, methods=["nope"])
    with pytest.raises(BlendError, match="unknown stacker"):
        compare(data, methods=["stack:nope"])
    two = data.__class__(data.probs, data.y, data.folds % 2, data.task, data.models)
    with pytest.raises(BlendError, match="at least 3 folds"):
        compare(two, methods=[])
    bad = data.probs.copy()
    bad[2, 0, 7, 1] = np.nan
    with pytest.raises(BlendError, match="model 'm02' has NaN"):
        compare(data.__class__(bad, data.y, data.folds, data.task, data.models), methods=[])
    with pytest.raises(BlendError, match="y has 299 rows but the predictions have 300"):
        compare(data.__class__(data.probs, data.y[:-1], data.folds, data.task, data.models),
                methods=[])


def test_level3_needs_two_stackers(tiny_store):
    res = compare(load_data(tiny_store), methods=["stack:linear", "level3"], procedure=False)
    assert not any(c.kind == "level3" for c in res.candidates)
    assert any("level3: left out" in n for n in res.notes)


def test_stacker_hpo_sees_only_the_training_folds(tiny_store):
    import blend.compare._candidates as bc

    data = load_data(tiny_store)
    met = get_metric("accuracy")
    cand = bc._stacker_candidate(data, "linear", bag=False, seeds=1, params={}, hpo=3)
    eng = Comparison(data, [bc._mean_candidate(data), cand], met)
    assert "3 HPO trials" in cand.note
    for held in ({0}, {1, 2}):
        models = eng.fit(cand, held)
        assert len(models) == 1
        rows = eng.fit_rows[(cand.name, frozenset(held))]
        assert not np.isin(data.folds[rows], list(held)).any()
        assert np.isin(data.folds[rows], [k for k in eng.fold_ids if k not in held]).all()


def test_recommend_drops_a_winner_that_does_not_beat_the_mean_significantly():
    met = get_metric("accuracy")

    def sc(name, kind, v, z):
        return CandidateScore(name, kind, False, "", v, (v,), 0.0, 0.001, v, 0.0, z)

    s = [sc("mean", "mean", 0.70, float("nan")), sc("lucky", "weights", 0.80, 1.0),
         sc("solid", "stacker", 0.78, 5.0)]
    chosen, reason = recommend(s, met)
    assert chosen.name == "solid"
    assert "lucky scores higher" in reason
    s[2] = sc("solid", "stacker", 0.78, 1.2)
    chosen, reason = recommend(s, met)
    assert chosen.name == "mean"
    assert "does not beat the mean significantly" in reason
