"""``compare``: every candidate ensemble under the same folds, a recommendation, and an honest score.

The engine
----------
A *candidate* is anything that can be fitted on the rows of some folds and then predict
the rows of a held-out fold: the plain mean, the best single model, the mean of the search's
best subset, a weighting method with a combination rule, a stacker, or *level 3* (weights
fitted on the stackers' out-of-fold predictions). Every fit is identified by the frozenset
``H`` of folds it must not see; the engine fits each ``(candidate, H)`` once and caches it.

Which fits answer which question (``K`` folds):

- nested predictions of fold ``k``: the fit that left out ``{k}``;
- in-sample predictions: the fit on every row (``H`` empty). For a stacker, whose deployed
  form is the bag of its outer-fold models (as ``stack`` writes it), the in-sample
  predictions are its out-of-fold ones, so its in-sample and nested scores coincide;
- the comparison run *inside* outer fold ``k`` (for the procedure score): fold ``j``'s
  predictions come from the fit that left out ``{k, j}``. That fit is also the one outer
  fold ``j`` needs for its inner fold ``k``: ``K(K-1)/2`` pair fits serve all ``K(K-1)``
  inner folds.

Level 3 is nested the same way: its fit that leaves out ``H`` learns its weights on level-2
predictions of each training fold ``i`` made by the stacker fitted without ``H | {i}``, so
for outer fold ``k`` no stacker whose predictions the weights are fitted on ever saw fold
``k``. Inside the procedure loop this needs stackers fitted without three folds; the cache
makes them ``K(K-1)(K-2)/6`` fits.

Every score is the metric of the *pooled* predictions (all held-out rows concatenated, as a
leaderboard computes it); the per-fold scores are reported beside it and give the spread
and the standard error the recommendation rule uses.

Recommendation rule
-------------------
Among the candidates whose nested score is within one standard error of the best
(the standard error of the best candidate's fold scores), take the simplest, in the order
``mean < best single = best-subset mean < weights < stackers < level 3`` (ties: the better
score). The plain mean is always a candidate and the simplest, so the recommendation is never
worse than it unless the mean is more than one standard error below the winner, and the
reason says so whenever the recommendation's nested score is below the mean's.

The procedure score
-------------------
For each outer fold ``k`` the whole comparison and the choice run on the other folds (each
candidate scored by its predictions on fold ``j`` from the fit that left out ``{k, j}``);
the chosen candidate's nested predictions on fold ``k`` (from its fit without ``{k}``) are
the procedure's predictions there. Their pooled score is the honest score of "run compare
and submit what it recommends".

The labels are reachable only through :class:`TracedLabels` (``CompareData.y`` is replaced
by it before the candidates are built; :meth:`Comparison.labels` reads through it), which
records the rows seen by every fit and by every choice, so a test can check that no fold's
labels reach its own fit or choice, and a candidate cannot read them around the spy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import blend_scores, unit_scores
from blend.metrics import Metric, get_metric
from oof_common.core import blas_limit

__all__ = [
    "BUDGETS",
    "COMPLEXITY",
    "Candidate",
    "CandidateScore",
    "CompareData",
    "CompareResult",
    "Comparison",
    "build_candidates",
    "compare",
    "recommend",
    "TracedLabels",
]

#: Complexity order used by the recommendation rule (smaller = simpler).
COMPLEXITY = {"mean": 0, "selection": 1, "cuts": 1, "weights": 2, "stacker": 3, "level3": 4}

#: Ordinal candidates added by default when a regression store is compared on ``qwk``:
#: the plain mean and Nelder-Mead weights (on RMSE, as ``blend optimize --metric qwk``),
#: each graded by cut points fitted on the same training rows (``blend.ordinal``).
ORDINAL_DEFAULTS = ("mean+cuts", "nelder-mead+cuts")

#: LightGBM settings of ``--budget fast``: few, fast rounds (measured in
#: ``benchmarks/bench_compare.py``).
_LGBM_FAST = {
    "learning_rate": 0.15,
    "num_leaves": 15,
    "num_boost_round": 300,
    "early_stopping_rounds": 15,
    "max_bin": 63,
}

#: What each budget runs. ``weights``: (method, rule) pairs; ``stackers``: stacker names.
BUDGETS: dict[str, dict[str, Any]] = {
    "fast": {
        "weights": [("lbfgs", "prob"), ("lbfgs", "logit"), ("hill-climb", "prob")],
        "stackers": ["lgbm", "linear"],
        "level3": True,
        "bag": False,
        "seeds": 1,
        "hpo": 0,
        "params": {"hill-climb": {"n_bags": 5}},
        "stacker_params": {"lgbm": _LGBM_FAST, "linear": {"max_iter": 200}},
    },
    "full": {
        "weights": [(m, r) for m in ("lbfgs", "hill-climb", "de", "nelder-mead")
                    for r in ("prob", "logit")],
        "stackers": ["lgbm", "linear", "mlp", "cnn1d", "cnn2d"],
        "level3": True,
        "bag": True,
        "seeds": 2,
        "hpo": 10,
        "params": {},
        "stacker_params": {},
    },
}

# A weighting method that cannot fit the chosen classification metric (its registry entry's
# capabilities, blend.optimize.optimizer_capabilities) fits log loss as a surrogate, and the
# candidate is scored on the chosen metric.

#: Caruana et al.'s greedy ensemble selection as AutoGluon runs it: 25 picks with
#: replacement, the best ensemble along the path kept.
CARUANA_PARAMS = {"n_init": 1, "max_steps": 24, "n_bags": 1, "bag_fraction": 1.0}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CompareData:
    """The arrays a comparison runs on.

    Attributes
    ----------
    probs : ndarray of shape (M, 1, N, C)
        Probabilities (TTA views averaged); raw predictions ``(M, 1, N, 1)`` for regression.
    y : ndarray of shape (N,) or (N, C)
    folds : ndarray of shape (N,)
    task : str
    models : list of str
    logits : ndarray of shape (M, 1, N, C), optional
        What the store returns for ``output="logits"``; the logit rule uses it (from
        ``probs`` when absent).
    """

    probs: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    task: str
    models: list[str]
    logits: np.ndarray | None = None

    @property
    def regression(self) -> bool:
        """Whether the task is regression (one raw prediction column)."""
        return self.task == "regression"


# --------------------------------------------------------------------------- candidates


@dataclass
class Candidate:
    """One way to build the submission, fitted on folds and predicting a held-out fold.

    Attributes
    ----------
    name : str
        Unique label (leaderboard, JSON, ``--methods``).
    kind : {"mean", "selection", "weights", "stacker", "level3"}
        Sets the complexity order of the recommendation rule.
    fit : callable
        ``fit(engine, held) -> state``; reads labels only through ``engine.labels(rows)``
        for ``rows = engine.train_rows(held)``.
    predict : callable
        ``predict(engine, held, fold) -> (n_fold_rows, C)``: predictions of fold ``fold``'s
        rows by the candidate that never saw the folds in ``held`` (``fold`` in ``held``, or
        ``held`` empty for the in-sample predictions).
    baseline : bool
    note : str
        Shown beside the name (e.g. the surrogate metric a method was fitted on).
    depends : tuple of str
        Names of the candidates whose fits this one uses (level 3: its stackers).
    """

    name: str
    kind: str
    fit: Callable[[Comparison, frozenset], Any] = field(repr=False)
    predict: Callable[[Comparison, frozenset, int], np.ndarray] = field(repr=False)
    baseline: bool = False
    note: str = ""
    depends: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def complexity(self) -> int:
        """Rank in :data:`COMPLEXITY` (smaller is simpler)."""
        return COMPLEXITY[self.kind]


def _seed_for(seed: int, name: str, held: frozenset) -> int:
    return int(np.random.default_rng([seed, zlib.crc32(name.encode()), *sorted(held)])
               .integers(0, 2**31 - 1))


def _as_2d(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    return pred[:, None] if pred.ndim == 1 else pred


def _mean_candidate(data: CompareData) -> Candidate:
    X = unit_scores(data.probs, rule="prob", kind="raw" if data.regression else "probs")
    kind = "raw" if data.regression else "probs"

    def predict(eng, held, k):
        return blend_scores(X[:, eng.fold_rows(k)], None, rule="prob", kind=kind)

    return Candidate("mean", "mean", lambda eng, held: None, predict, baseline=True,
                     note="plain mean of every model's probabilities")


def _best_candidate(data: CompareData) -> Candidate:
    P = data.probs[:, 0]

    def fit(eng, held):
        rows = eng.train_rows(held)
        y = eng.labels(rows)
        scores = [eng.metric(y, _as_2d(P[m, rows])) for m in range(P.shape[0])]
        return int(np.argmax([eng.metric.gain(s) for s in scores]))

    def predict(eng, held, k):
        return _as_2d(P[eng.fit(cand, held), eng.fold_rows(k)])

    cand = Candidate("best single", "selection", fit, predict, baseline=True,
                     note="the best model on the training folds")
    return cand


def _subset_candidate(data: CompareData, n_jobs: int) -> Candidate:
    from blend.search import search_subsets

    kind = "raw" if data.regression else "probs"
    X = unit_scores(data.probs, rule="prob", kind=kind)
    M = data.probs.shape[0]
    # exhaustive up to 10 models (1,023 subsets); beyond, a narrow beam up to 12 models
    method = "exhaustive" if M <= 10 else "beam"
    extra = {} if M <= 10 else {"beam_width": 4, "max_size": 12}

    def fit(eng, held):
        rows = eng.train_rows(held)
        res = search_subsets(data.probs[:, :, rows], eng.labels(rows), None, metric=eng.metric,
                             rule="prob", kind=kind, top=1, method=method, n_jobs=n_jobs,
                             names=data.models, **extra)
        return list(res.best.indices)

    def predict(eng, held, k):
        idx = eng.fit(cand, held)
        return blend_scores(X[idx][:, eng.fold_rows(k)], None, rule="prob", kind=kind)

    cand = Candidate("best-subset mean", "selection", fit, predict, baseline=True,
                     note=f"mean of the subset search's best subset ({method}"
                     + (", width 4, at most 12 models)" if extra else ")"))
    return cand


def _weights_candidate(data: CompareData, method: str, rule: str, metric: Metric,
                       params: dict[str, Any], name: str | None = None,
                       baseline: bool = False) -> Candidate:
    from blend.optimize import optimize, optimizer_capabilities

    fit_metric, note = metric.name, ""
    caps = optimizer_capabilities(method)
    if not caps.fits_metric(metric.name):
        if data.regression or not caps.fits_metric("logloss"):
            raise BlendError(f"{method} cannot fit {metric.name!r} ({caps.describe()})")
        fit_metric, note = "logloss", "weights fitted on logloss"
    if data.regression:
        kind, P = "raw", data.probs
    elif rule in ("logit", "geo"):
        kind = "logits"
        P = data.logits if data.logits is not None else np.log(np.clip(data.probs, 1e-7, 1.0))
    else:
        kind, P = "probs", data.probs
    X = unit_scores(P, rule=rule, kind=kind)
    skind = "raw" if data.regression else ("probs" if rule in ("prob", "rank") else "logits")
    cname = name or f"{method} {rule}"

    def fit(eng, held):
        rows = eng.train_rows(held)
        res = optimize(P[:, :, rows], eng.labels(rows), data.folds[rows], method=method,
                       metric=fit_metric, rule=rule, kind=kind, nested=False,
                       rng=_seed_for(eng.seed, cname, held), params=dict(params))
        return np.asarray(res.fit.weights, dtype=np.float64)

    def predict(eng, held, k):
        return blend_scores(X[:, eng.fold_rows(k)], eng.fit(cand, held), rule=rule, kind=skind)

    cand = Candidate(cname, "weights", fit, predict, baseline=baseline, note=note,
                     extra={"method": method, "rule": rule})
    return cand


def _cuts_candidate(data: CompareData, method: str, params: dict[str, Any],
                    cut_method: str = "coordinate") -> Candidate:
    """Weights (``method`` on RMSE, or the plain mean) and cut points into grades.

    Both are fitted on the training rows of every fit by :func:`blend.ordinal.fit_ordinal`
    (``mode="after"``); the candidate predicts grade values, which the ``qwk`` metric
    scores as they are.
    """
    from blend.ordinal import apply_cuts, fit_ordinal, infer_grades

    grades = infer_grades(traced(data).y.distinct())
    X = unit_scores(data.probs, rule="prob", kind="raw")
    cname = f"{method}+cuts"

    def fit(eng, held):
        rows = eng.train_rows(held)
        res = fit_ordinal(data.probs[:, :, rows], eng.labels(rows), data.folds[rows], method=method,
                          cut_method=cut_method, grades=grades, kind="raw", nested=False,
                          rng=_seed_for(eng.seed, cname, held), params=dict(params))
        w = np.array([res.weights[m] for m in res.models], dtype=np.float64)
        return w, np.asarray(res.cuts, dtype=np.float64)

    def predict(eng, held, k):
        w, cuts = eng.fit(cand, held)
        score = blend_scores(X[:, eng.fold_rows(k)], w, rule="prob", kind="raw")
        return grades.array[apply_cuts(np.asarray(score).reshape(-1), cuts)]

    cand = Candidate(cname, "cuts" if method == "mean" else "weights", fit, predict,
                     note=("plain mean" if method == "mean" else f"{method} weights on RMSE")
                     + f", graded by {cut_method} cut points fitted on the same rows",
                     extra={"method": method, "rule": "prob", "cuts": cut_method,
                            "grades": grades.values})
    return cand


def _tune(st, X, y, f, train_folds, p, *, task, C, metric, trials, seed):
    """Stacker hyper-parameters chosen by ``trials`` Optuna trials.

    Each trial is fitted on the training folds but one and scored on that one: only the
    training rows of the fit are used.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if len(train_folds) < 2:
        return p
    va = f == train_folds[seed % len(train_folds)]
    yv = y[va]

    def objective(trial):
        q = {**p, **st.suggest_params(trial, task, C)}
        m = st.fit_one(X[~va], None, y[~va], X[va], None, yv, task=task, n_classes=C, params=q,
                       seed=seed)
        return float(metric(yv, _as_2d(st.predict_one(m, X[va], None))))

    study = optuna.create_study(direction="maximize" if metric.greater_is_better else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed % (2**31)))
    study.optimize(objective, n_trials=int(trials))
    return {**p, **st.suggest_params(optuna.trial.FixedTrial(study.best_params), task, C)}


def _stacker_candidate(data: CompareData, stacker: str, *, bag: bool, seeds: int,
                       params: dict[str, Any], hpo: int = 0) -> Candidate:
    from blend.stack import check_params, get_stacker, make_features

    st = get_stacker(stacker)
    C = data.probs.shape[-1]
    check_params(st, params, data.task, C)
    p = {**st.default_params(data.task, C), **params}
    features = "probs" if data.regression else st.preferred_features
    X = make_features(data.probs, features=features, task=data.task)
    name = f"stack:{stacker}"

    def fit(eng, held):
        rows = eng.train_rows(held)
        y = eng.labels(rows)
        f = data.folds[rows]
        train_folds = sorted(set(np.unique(f).tolist()))
        if not train_folds:
            raise BlendError(f"{name}: no training fold left without folds {sorted(held)}")
        base = _seed_for(eng.seed, name, held)
        pk = p
        if hpo > 0:
            pk = _tune(st, X[rows], y, f, train_folds, p, task=data.task, C=C, metric=eng.metric,
                       trials=hpo, seed=base)
        models = []
        for s in range(seeds):
            if not st.early_stops:
                empty = rows[:0]
                models.append(st.fit_one(X[rows], None, y, X[empty], None, y[:0],
                                         task=data.task, n_classes=C, params=pk,
                                         seed=base + 1000 * s))
                continue
            if len(train_folds) == 1:
                # one training fold: early-stop on a seeded fifth of its rows
                r = np.random.default_rng(base).random(len(rows)) < 0.2
                splits = [r]
            else:
                vals = train_folds if bag else [train_folds[base % len(train_folds)]]
                splits = [f == v for v in vals]
            for j, va in enumerate(splits):
                models.append(st.fit_one(X[rows[~va]], None, y[~va], X[rows[va]], None, y[va],
                                         task=data.task, n_classes=C, params=pk,
                                         seed=base + 1000 * s + j))
        return models

    def predict_rows(models, rows):
        return _as_2d(np.mean([st.predict_one(m, X[rows], None) for m in models], axis=0))

    def predict(eng, held, k):
        # the deployed stacker is the bag of its outer-fold models, so the in-sample
        # (held empty) prediction of fold k is the one of the fit without fold k
        return predict_rows(eng.fit(cand, held | {k}), eng.fold_rows(k))

    cand = Candidate(name, "stacker", fit, predict,
                     note=f"{features} features" + (", bagged over folds" if bag else "")
                     + (f", {hpo} HPO trials per fit" if hpo else ""),
                     extra={"stacker": stacker, "features": features, "params": p,
                            "parallel": st.parallel_fits, "predict_rows": predict_rows,
                            "X": X})
    return cand


def _level3_candidate(data: CompareData, stackers: Sequence[Candidate], metric: Metric,
                      method: str | None = None) -> Candidate:
    from blend.optimize import optimize, optimizer_capabilities

    if method is None:
        method = "hill-climb" if data.regression else "lbfgs"
    fit_metric = metric.name
    if not optimizer_capabilities(method).fits_metric(metric.name):
        fit_metric = "logloss"
    kind = "raw" if data.regression else "probs"
    names = [s.name for s in stackers]
    cname = f"level3 {method}"

    def level2(eng, held, k):
        return np.stack([s.predict(eng, held, k) for s in stackers])  # (S, n_k, C)

    def fit(eng, held):
        rows = eng.train_rows(held)
        train_folds = sorted(set(np.unique(data.folds[rows]).tolist()))
        # level-2 predictions of each training fold i by stackers fitted without held | {i}
        Z = np.zeros((len(stackers), len(rows), data.probs.shape[-1]))
        for i in train_folds:  # rows is sorted: find each fold's rows in it
            Z[:, np.searchsorted(rows, eng.fold_rows(i))] = level2(eng, held, i)
        y = eng.labels(rows)
        res = optimize(Z[:, None], y, data.folds[rows], method=method, metric=fit_metric,
                       rule="prob", kind=kind, nested=False,
                       rng=_seed_for(eng.seed, cname, held))
        return np.asarray(res.fit.weights, dtype=np.float64)

    def predict(eng, held, k):
        Zk = level2(eng, held, k)
        return blend_scores(Zk, eng.fit(cand, held), rule="prob", kind=kind)

    cand = Candidate(cname, "level3", fit, predict,
                     note=f"{method} weights over {', '.join(names)}"
                     + (" (fitted on logloss)" if fit_metric != metric.name else ""),
                     depends=tuple(names), extra={"method": method})
    return cand


def build_candidates(
    data: CompareData,
    metric: Metric,
    *,
    methods: Sequence[str] | None = None,
    budget: str = "fast",
    n_jobs: int = 1,
) -> tuple[list[Candidate], list[str]]:
    """The candidates of a comparison, baselines first, and notes on what was left out.

    Parameters
    ----------
    methods : list of str, optional
        Beside the baselines (always run): ``METHOD`` or ``METHOD/RULE`` (a weighting
        method, rule ``prob`` by default), ``caruana`` (greedy selection, 25 steps),
        ``stack:NAME`` and ``level3`` or ``level3:METHOD`` (a blend of the listed
        stackers), and with ``qwk`` on a regression store ``mean+cuts`` or
        ``METHOD+cuts`` (weights on RMSE and cut points into grades, both fitted by
        :func:`blend.ordinal.fit_ordinal` on each fit's training rows). Default: the
        ``budget``'s list (with ``qwk`` on a regression store, :data:`ORDINAL_DEFAULTS` first).
    budget : {"fast", "full"}

    Returns
    -------
    candidates : list of Candidate
    notes : list of str
    """
    from blend.optimize import available_optimizers, optimizer_capabilities
    from blend.stack import available_stackers

    if budget not in BUDGETS:
        raise BlendError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    data = traced(data)  # the candidates reach the labels only through the tracer
    B = BUDGETS[budget]
    notes: list[str] = []
    if methods is None:
        specs = [f"{m}/{r}" for m, r in B["weights"]] + [f"stack:{s}" for s in B["stackers"]]
        if B["level3"]:
            specs.append("level3")
    else:
        specs = list(methods)
    ordinal = data.regression and metric.name == "qwk"
    if ordinal and methods is None:
        specs = list(ORDINAL_DEFAULTS) + specs
    if not data.regression and metric.name == "qwk":
        raise BlendError(
            "compare scores qwk on a regression store only (grades = the rounded or cut "
            "score); for ordered classes use `blend optimize --ordinal` or `stack NAME "
            "--ordinal`, which grade the expected class"
        )
    cands = [_mean_candidate(data), _best_candidate(data), _subset_candidate(data, n_jobs)]
    stackers: list[Candidate] = []
    level3: list[str | None] = []
    seen = {c.name for c in cands}
    for spec in specs:
        spec = str(spec)
        if spec in ("mean", "best", "best-subset"):
            continue  # baselines run anyway
        if spec.startswith("stack:"):
            sname = spec.split(":", 1)[1]
            if sname not in available_stackers():
                raise BlendError(f"unknown stacker {sname!r} in --methods; choose one of "
                                 f"{', '.join(available_stackers())}")
            c = _stacker_candidate(data, sname, bag=B["bag"], seeds=B["seeds"],
                                   params=dict(B["stacker_params"].get(sname, {})),
                                   hpo=B["hpo"])
            stackers.append(c)
        elif spec == "level3" or spec.startswith("level3:"):
            level3.append(spec.split(":", 1)[1] if ":" in spec else None)
            continue
        elif spec.endswith("+cuts"):
            method = spec[: -len("+cuts")]
            if not ordinal:
                raise BlendError(f"{spec!r} in --methods: cut points need --metric qwk on a "
                                 "regression store")
            if method != "mean" and method not in available_optimizers():
                raise BlendError(f"unknown method {spec!r} in --methods; METHOD+cuts takes mean "
                                 f"or one of {', '.join(available_optimizers())}")
            c = _cuts_candidate(data, method, dict(B["params"].get(method, {})))
        elif spec == "caruana":
            c = _weights_candidate(data, "hill-climb", "prob", metric, CARUANA_PARAMS,
                                   name="caruana", baseline=True)
            c.note = "greedy ensemble selection, 25 steps with replacement"
            c.kind = "weights"
        else:
            method, _, rule = spec.partition("/")
            rule = rule or "prob"
            if method not in available_optimizers():
                raise BlendError(
                    f"unknown method {spec!r} in --methods; choose from the weighting methods "
                    f"{', '.join(available_optimizers())} (optionally /RULE), caruana, "
                    "stack:NAME, level3 or (qwk on a regression store) mean+cuts / METHOD+cuts"
                )
            if rule not in ("prob", "logit", "geo"):
                raise BlendError(f"rule {rule!r} in {spec!r}: compare weights with prob, logit or geo")
            if data.regression and rule != "prob":
                notes.append(f"{spec}: left out (regression blends with the prob rule only)")
                continue
            caps = optimizer_capabilities(method)
            if not caps.fits_rule(rule):
                notes.append(f"{spec}: left out ({method} fits {caps.describe()})")
                continue
            if not caps.fits_metric(metric.name) and (data.regression or not caps.fits_metric("logloss")):
                notes.append(f"{spec}: left out ({method} cannot fit {metric.name}: {caps.describe()})")
                continue
            c = _weights_candidate(data, method, rule, metric, dict(B["params"].get(method, {})))
        if c.name in seen:
            raise BlendError(f"candidate {c.name!r} named twice in --methods")
        seen.add(c.name)
        cands.append(c)
    for method in level3:
        if len(stackers) < 2:
            notes.append("level3: left out (it blends at least two stackers; list them with stack:NAME)")
            continue
        c = _level3_candidate(data, stackers, metric, method)
        if c.name in seen:
            raise BlendError(f"candidate {c.name!r} named twice in --methods")
        seen.add(c.name)
        cands.append(c)
    return cands, notes


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class CandidateScore:
    """One leaderboard row.

    Attributes
    ----------
    name, kind, note : str
    baseline : bool
    nested_score : float
        The metric of the pooled nested predictions (every row predicted by the fit that
        never saw its fold).
    fold_scores : tuple of float
    spread : float
        Standard deviation of the fold scores.
    se : float
        ``spread / sqrt(K)``: the standard error the recommendation rule uses.
    in_sample_score : float
        The metric of the in-sample predictions (for stackers: their out-of-fold ones).
    seconds : float
        Time spent fitting and predicting this candidate (summed over its fits).
    z_vs_mean : float
        Its gain over the plain mean divided by the standard error of that gain (paired
        bootstrap over the pooled held-out rows); NaN for the mean itself or when unknown.
    """

    name: str
    kind: str
    baseline: bool
    note: str
    nested_score: float
    fold_scores: tuple[float, ...]
    spread: float
    se: float
    in_sample_score: float
    seconds: float
    z_vs_mean: float = float("nan")

    def optimism(self, metric: Metric) -> float:
        """In-sample minus nested, signed so that positive means optimistic."""
        return float(metric.gain(self.in_sample_score) - metric.gain(self.nested_score))


def _fold_stats(scores: Sequence[float]) -> tuple[float, float]:
    s = np.asarray(scores, dtype=np.float64)
    if len(s) < 2:
        return float("nan"), float("nan")
    sd = float(np.std(s, ddof=1))
    return sd, sd / math.sqrt(len(s))


#: The significance check against the mean: one-sided level, and whether it is shared
#: (Bonferroni) by the candidates. Not shared: with Bonferroni the inner comparisons of the
#: procedure loop (fewer rows) fell back to the mean where a stacker's gain was real, and
#: mixing candidates across folds cost the procedure more than it saved (measured in
#: ``benchmarks/bench_compare.py``, see ``docs/benchmarks/compare.md``).
GATE = {"alpha": 0.05, "bonferroni": False}


def z_threshold(n_candidates: int) -> float:
    """One-sided normal quantile of the check against the mean (:data:`GATE`)."""
    from statistics import NormalDist

    m = max(1, n_candidates - 1) if GATE["bonferroni"] else 1
    return float(NormalDist().inv_cdf(1.0 - GATE["alpha"] / m))


def recommend(scores: Sequence[CandidateScore], metric: Metric) -> tuple[CandidateScore, str]:
    """The simplest candidate within one standard error of the best, with a one-line reason.

    Two steps, made for small noisy data:

    1. a candidate other than the plain mean stays in the running only when it beats the
       mean significantly: ``z_vs_mean`` above the one-sided threshold
       (:func:`z_threshold`: one-sided 5 %, z > 1.645; a NaN ``z_vs_mean`` skips this
       check);
    2. among those, the best nested score sets the bar and the simplest candidate
       (:data:`COMPLEXITY`) within one standard error of it (the standard error of the
       best's fold scores) is chosen; ties go to the better score.

    Parameters
    ----------
    scores : list of CandidateScore
        Normally includes the candidate named ``"mean"``.
    metric : Metric

    Returns
    -------
    chosen : CandidateScore
    reason : str
    """
    if not scores:
        raise BlendError("nothing to recommend: no candidate was scored")
    g = {s.name: metric.gain(s.nested_score) for s in scores}
    valid = [s for s in scores if not math.isnan(g[s.name])]
    if not valid:
        raise BlendError("every candidate's nested score is NaN; check the metric and the labels")
    mean = next((s for s in valid if s.name == "mean"), None)
    zc = z_threshold(len(valid))
    running = [s for s in valid if s is mean or math.isnan(s.z_vs_mean) or s.z_vs_mean > zc]
    top = max(valid, key=lambda s: (g[s.name], -COMPLEXITY[s.kind]))
    best = max(running, key=lambda s: (g[s.name], -COMPLEXITY[s.kind]))
    se = 0.0 if math.isnan(best.se) else best.se
    near = [s for s in running if g[s.name] >= g[best.name] - se]
    chosen = min(near, key=lambda s: (COMPLEXITY[s.kind], -g[s.name]))
    if top is not best and chosen is mean:
        reason = (f"the plain mean: {top.name} scores best ({top.nested_score:.5g} vs "
                  f"{mean.nested_score:.5g}) but does not beat the mean significantly "
                  f"(z = {top.z_vs_mean:.2f} <= {zc:.2f}, paired bootstrap over the rows)")
    elif chosen is best:
        reason = (f"{chosen.name} has the best nested {metric.name} ({chosen.nested_score:.5g}) "
                  f"and no simpler candidate is within one standard error ({se:.3g})")
    else:
        reason = (f"{chosen.name} is the simplest candidate within one standard error ({se:.3g}) "
                  f"of the best, {best.name} ({best.nested_score:.5g} vs "
                  f"{chosen.nested_score:.5g})")
    if top is not best and chosen is not mean:
        reason += (f"; {top.name} scores higher ({top.nested_score:.5g}) but does not beat the "
                   f"plain mean significantly (z = {top.z_vs_mean:.2f} <= {zc:.2f})")
    if mean is not None and chosen is not mean and g[chosen.name] < g["mean"]:
        reason += (f"; NOTE: it is WORSE than the plain mean ({mean.nested_score:.5g}) on the "
                   "nested score")
    return chosen, reason


# --------------------------------------------------------------------------- labels


class TracedLabels:
    """The labels of a comparison; every read is recorded for the fits and choices under way.

    The comparison holds no raw label array: :func:`build_candidates` and
    :class:`Comparison` replace ``CompareData.y`` by this object, so a candidate reaches the
    labels only through it and cannot bypass the row spy. ``labels[rows]`` records
    ``rows``; anything that turns the whole object into an array (``np.asarray``, a metric
    called on it) records every row. ``shape``, ``ndim``, ``dtype``, ``len`` and
    :meth:`distinct` (the set of label values, known like the class names) record nothing.

    Parameters
    ----------
    y : ndarray of shape (N,) or (N, C)
    """

    def __init__(self, y: np.ndarray) -> None:
        self._y = np.asarray(y)
        self._local = threading.local()

    @property
    def shape(self) -> tuple[int, ...]:
        """The labels' shape."""
        return self._y.shape

    @property
    def ndim(self) -> int:
        """The labels' number of dimensions."""
        return self._y.ndim

    @property
    def dtype(self) -> np.dtype:
        """The labels' dtype."""
        return self._y.dtype

    def __len__(self) -> int:
        return len(self._y)

    def _stack(self) -> list[np.ndarray]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def mark(self, rows: Any) -> None:
        """Record ``rows`` (indices, a mask or a slice) as read by every trace under way."""
        for m in self._stack():
            m[rows] = True

    @contextlib.contextmanager
    def trace(self):
        """Record the rows read inside the ``with`` block (this thread) in a boolean mask."""
        mask = np.zeros(len(self._y), dtype=bool)
        stack = self._stack()
        stack.append(mask)
        try:
            yield mask
        finally:
            stack.pop()

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = rows if isinstance(rows, slice) else np.asarray(rows)
        self.mark(rows)
        return self._y[rows]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.mark(slice(None))
        return self._y.astype(dtype) if dtype is not None else self._y.copy()

    def distinct(self) -> np.ndarray:
        """The distinct label values (no row is recorded: the value set is part of the task)."""
        return np.unique(self._y)

    def __getstate__(self) -> dict[str, Any]:
        return {"_y": self._y}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._y = state["_y"]
        self._local = threading.local()


def traced(data: CompareData) -> CompareData:
    """``data`` with its labels behind a :class:`TracedLabels` (unchanged if already)."""
    if isinstance(data.y, TracedLabels):
        return data
    return dataclasses.replace(data, y=TracedLabels(data.y))


# --------------------------------------------------------------------------- engine


class Comparison:
    """Fits candidates on fold subsets, caches them and scores them pooled.

    Parameters
    ----------
    data : CompareData
    candidates : list of Candidate
    metric : Metric
    seed : int
    n_jobs : int
        Threads for the stackers' fits (those whose fits release the GIL).
    progress : callable, optional
        ``progress(done, total, label)`` after every fit.
    """

    def __init__(self, data: CompareData, candidates: Sequence[Candidate], metric: Metric, *,
                 seed: int = 0, n_jobs: int = 1,
                 progress: Callable[[int, int, str], None] | None = None) -> None:
        self.data = data = traced(data)
        #: the only way to the labels (see :class:`TracedLabels`)
        self.y: TracedLabels = data.y
        self.candidates = list(candidates)
        self.by_name = {c.name: c for c in self.candidates}
        self.metric = metric
        self.seed = int(seed)
        self.n_jobs = max(1, int(n_jobs))
        self.progress = progress
        folds = np.asarray(data.folds)
        self.fold_ids = [int(k) for k in np.unique(folds)]
        if len(self.fold_ids) < 3:
            raise BlendError(
                f"compare needs at least 3 folds (the procedure score compares on K-1 folds "
                f"with a held-out fold inside); the store has {len(self.fold_ids)}"
            )
        self._rows = {k: np.flatnonzero(folds == k) for k in self.fold_ids}
        self.N = len(folds)
        self._fits: dict[tuple[str, frozenset], Any] = {}
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {c.name: 0.0 for c in self.candidates}
        #: rows whose labels each fit saw (its own reads and those of the fits it used)
        self.fit_rows: dict[tuple[str, frozenset], np.ndarray] = {}
        #: rows whose labels reached the procedure's choice for each outer fold
        self.choice_rows: dict[int, np.ndarray] = {}
        self.total = 0
        self.done = 0
        #: bootstrap replicates of the significance check against the mean
        self.n_boot = 200

    # -- rows and labels ----------------------------------------------------------------------
    def fold_rows(self, k: int) -> np.ndarray:
        """Row indices of fold ``k``."""
        return self._rows[int(k)]

    def train_rows(self, held: frozenset) -> np.ndarray:
        """Row indices of every fold not in ``held``."""
        keep = [self._rows[k] for k in self.fold_ids if k not in held]
        return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)

    def labels(self, rows: np.ndarray) -> np.ndarray:
        """The labels of ``rows``; the read is recorded for the fit or choice under way."""
        return self.y[np.asarray(rows)]

    # -- fits ---------------------------------------------------------------------------------
    def fit(self, cand: Candidate | str, held: frozenset | set) -> Any:
        """The state of ``cand`` fitted without the folds ``held`` (cached)."""
        cand = self.by_name[cand] if isinstance(cand, str) else cand
        key = (cand.name, frozenset(int(h) for h in held))
        with self._lock:
            hit = key in self._fits
        if hit:
            self.y.mark(self.fit_rows[key])
            return self._fits[key]
        state, mask, dt = self._fit_fresh(cand, key[1])
        self._keep(key, state, mask, dt)
        self.y.mark(mask)
        return state

    def _fit_fresh(self, cand: Candidate, held: frozenset) -> tuple[Any, np.ndarray, float]:
        """Fit ``cand`` without ``held``: ``(state, rows whose labels it saw, seconds)``."""
        t0 = time.perf_counter()
        with self.y.trace() as mask:
            state = cand.fit(self, held)
        return state, mask, time.perf_counter() - t0

    def _keep(self, key: tuple[str, frozenset], state: Any, mask: np.ndarray, dt: float) -> None:
        """Cache one fit and report it."""
        with self._lock:
            self._fits[key] = state
            self.fit_rows[key] = mask
            self.seconds[key[0]] += dt
            self.done += 1
            done, total = self.done, self.total
        if self.progress is not None:
            self.progress(done, max(total, done), key[0])

    def __getstate__(self) -> dict[str, Any]:
        # sent to an executor's tasks: no cache, lock, thread state or progress callback
        return {**self.__dict__, "_fits": {}, "fit_rows": {}, "_lock": None, "progress": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def prefit_on(self, executor: Any, plan: dict[str, list[frozenset]]) -> None:
        """Fit every planned fit of the candidates that use no other fit, as executor tasks.

        The engine (data and candidates) is shared once; each task fits one (candidate,
        held folds) pair with the seed derived from them, so the states are the plain run's.
        The states and the rows each fit read come back into the cache here. Candidates
        built on other fits (level 3, on its stackers) are fitted here afterwards, from
        the cache.
        """
        jobs = [(c.name, tuple(sorted(h))) for c in self.candidates
                if not c.depends and c.kind != "mean" for h in plan[c.name]
                if len(h) < len(self.fold_ids)
                and (c.name, frozenset(h)) not in self._fits]

        def on_done(i: int, out: tuple[Any, np.ndarray, float]) -> None:
            name, held = jobs[i]
            self._keep((name, frozenset(held)), *out)

        executor.map(_fit_task, jobs, shared=self, on_done=on_done)

    def predict(self, cand: Candidate | str, held: frozenset | set, k: int) -> np.ndarray:
        """Predictions of fold ``k`` by ``cand`` fitted without ``held``."""
        cand = self.by_name[cand] if isinstance(cand, str) else cand
        t0 = time.perf_counter()
        out = _as_2d(cand.predict(self, frozenset(int(h) for h in held), int(k)))
        with self._lock:
            self.seconds[cand.name] += time.perf_counter() - t0
        return out

    @staticmethod
    def _inner_key(outer: int, inner: int) -> frozenset:
        """The folds left out by the fit that predicts fold ``inner`` inside outer fold ``outer``."""
        return frozenset({outer, inner})

    def _plan(self, procedure: bool) -> dict[str, list[frozenset]]:
        """Every ``held`` set each candidate will be fitted for."""
        K = self.fold_ids
        singles = [frozenset({k}) for k in K]
        pairs = [frozenset(p) for p in combinations(K, 2)] if procedure else []
        triples = [frozenset(t) for t in combinations(K, 3)] if procedure else []
        plan: dict[str, list[frozenset]] = {}
        for c in self.candidates:
            if c.kind == "stacker":
                needs_l3 = any(c.name in d.depends for d in self.candidates)
                plan[c.name] = singles + pairs + (triples if needs_l3 else [])
            elif c.kind == "mean":
                plan[c.name] = []  # nothing to fit
            else:
                plan[c.name] = [frozenset()] + singles + pairs
        return plan

    def prefit_stackers(self, plan: dict[str, list[frozenset]]) -> None:
        """Fit every planned stacker fit up front, in threads where the stacker allows it."""
        jobs = [(c, h) for c in self.candidates if c.kind == "stacker" for h in plan[c.name]
                if len(h) < len(self.fold_ids)]
        par = [(c, h) for c, h in jobs if c.extra.get("parallel")]
        seq = [(c, h) for c, h in jobs if not c.extra.get("parallel")]
        if self.n_jobs > 1 and len(par) > 1:
            with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
                list(pool.map(lambda ch: self.fit(*ch), par))
        else:
            for c, h in par:
                self.fit(c, h)
        for c, h in seq:
            self.fit(c, h)

    # -- scoring ------------------------------------------------------------------------------
    def _pooled(self, preds: dict[int, np.ndarray]) -> tuple[float, tuple[float, ...]]:
        # the one pooled-score definition (blend.nested.pooled_scores), as optimize/stack/search
        from blend.nested import pooled_scores

        ks = sorted(preds)
        return pooled_scores(self.metric, [(self.fold_rows(k), self.labels(self.fold_rows(k)), preds[k])
                                           for k in ks])

    def _bootstrap_z(self, preds: dict[str, dict[int, np.ndarray]], outer: int | None) -> dict[str, float]:
        """Gain over the mean / its standard error, paired bootstrap over the pooled rows."""
        if "mean" not in preds:
            return {}
        ks = sorted(preds["mean"])
        rows = np.concatenate([self.fold_rows(k) for k in ks])
        y = self.labels(rows)
        P = {n: np.concatenate([p[k] for k in ks]) for n, p in preds.items()}
        rng = np.random.default_rng([self.seed, 7919, 0 if outer is None else 1 + outer])
        boots = [rng.integers(0, len(rows), len(rows)) for _ in range(self.n_boot)]
        gain = self.metric.gain
        base = np.array([gain(self.metric(y[b], P["mean"][b])) for b in boots])
        out = {}
        for n, p in P.items():
            if n == "mean":
                continue
            d = np.array([gain(self.metric(y[b], p[b])) for b in boots]) - base
            d = d[np.isfinite(d)]
            full = gain(self.metric(y, p)) - gain(self.metric(y, P["mean"]))
            sd = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
            if math.isnan(sd):
                out[n] = float("nan")
            elif sd > 0:
                out[n] = full / sd
            else:  # identical to the mean on every replicate, or better on all of them
                out[n] = math.inf if full > 0 else -math.inf
        return out

    def _score_set(self, key: Callable[[int], frozenset], ks: Sequence[int],
                   outer: int | None) -> list[CandidateScore]:
        preds = {c.name: {k: self.predict(c, key(k), k) for k in ks} for c in self.candidates}
        z = self._bootstrap_z(preds, outer)
        out = []
        for c in self.candidates:
            score, fold_scores = self._pooled(preds[c.name])
            ins = float("nan")
            if outer is None:
                ins, _ = self._pooled({k: self.predict(c, frozenset(), k) for k in ks})
            spread, se = _fold_stats(fold_scores)
            out.append(CandidateScore(c.name, c.kind, c.baseline, c.note, score, fold_scores,
                                      spread, se, ins,
                                      self.seconds[c.name] if outer is None else 0.0,
                                      z.get(c.name, float("nan"))))
        return out

    def score_all(self) -> list[CandidateScore]:
        """Nested (pooled), fold and in-sample scores of every candidate."""
        return self._score_set(lambda k: frozenset({k}), self.fold_ids, None)

    def compare_inside(self, outer: int) -> list[CandidateScore]:
        """The comparison run on every fold but ``outer`` (fold ``j`` predicted without ``{outer, j}``)."""
        inner = [j for j in self.fold_ids if j != outer]
        return self._score_set(lambda j: self._inner_key(outer, j), inner, outer)


def _fit_task(eng: Comparison, name: str, held: tuple[int, ...]) -> tuple[Any, np.ndarray, float]:
    """One fit as an executor task (one BLAS thread, as in :func:`compare`)."""
    with blas_limit(1):
        return eng._fit_fresh(eng.by_name[name], frozenset(held))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class CompareResult:
    """What :func:`compare` found.

    Attributes
    ----------
    metric : str
    greater_is_better : bool
    candidates : list of CandidateScore
        Best nested score first.
    recommended : CandidateScore
    reason : str
    procedure_nested_score : float or None
        Pooled score of "run the comparison on K-1 folds and take its recommendation".
    procedure_fold_scores : list of float
    procedure_choices : list of str
        The candidate chosen inside each outer fold.
    fold_ids : list of int
    notes : list of str
    seconds : float
    engine : Comparison
        The fitted engine (fits, row traces), for recipes and tests.
    """

    metric: str
    greater_is_better: bool
    candidates: list[CandidateScore]
    recommended: CandidateScore
    reason: str
    procedure_nested_score: float | None
    procedure_fold_scores: list[float]
    procedure_choices: list[str]
    fold_ids: list[int]
    notes: list[str]
    seconds: float
    engine: Comparison = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``blend compare --json`` writes (the schema of issue 11, nothing more)."""
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "candidates": [
                {"name": c.name, "nested_score": _num(c.nested_score),
                 "fold_scores": [_num(s) for s in c.fold_scores],
                 "in_sample_score": _num(c.in_sample_score), "seconds": float(c.seconds)}
                for c in self.candidates
            ],
            "recommended": {"name": self.recommended.name,
                            "nested_score": _num(self.recommended.nested_score),
                            "reason": self.reason},
            "procedure_nested_score": _num(self.procedure_nested_score),
            "procedure_fold_scores": [_num(s) for s in self.procedure_fold_scores],
            "seconds": float(self.seconds),
        }

    def in_sample_predictions(self, name: str | None = None) -> np.ndarray:
        """``(N, C)`` in-sample predictions of a candidate (default: the recommended one)."""
        eng = self.engine
        name = name or self.recommended.name
        out = np.zeros((eng.N, eng.data.probs.shape[-1]))
        for k in eng.fold_ids:
            out[eng.fold_rows(k)] = eng.predict(name, frozenset(), k)
        return out


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def compare(
    data: CompareData,
    *,
    metric: str | Metric | None = None,
    methods: Sequence[str] | None = None,
    budget: str = "fast",
    procedure: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    executor: Any = None,
) -> CompareResult:
    """Score every candidate under the same folds, recommend one, and score the procedure.

    Parameters
    ----------
    data : CompareData
    metric : str or Metric, optional
        Default: the task's default metric.
    methods : list of str, optional
        See :func:`build_candidates` (default: the budget's list).
    budget : {"fast", "full"}
    procedure : bool
        Also run the doubly nested procedure score (default True).
    seed : int
    n_jobs : int, optional
        Threads for stacker fits (default: the number of CPUs).
    progress : callable, optional
        ``progress(done, total, label)`` after every fit.
    executor : oof_store.distributed.Executor, optional
        Runs the candidates' fits (every candidate x held-out fold set of the plan) as
        tasks, e.g. on Ray. Seeds are derived from ``seed``, the candidate and the folds,
        never from the worker, so the result is the plain run's (``seconds`` aside).

    Returns
    -------
    CompareResult
    """
    with blas_limit(1):
        return _compare(data, metric=metric, methods=methods, budget=budget,
                        procedure=procedure, seed=seed, n_jobs=n_jobs, progress=progress,
                        executor=executor)


def _check_data(data: CompareData) -> None:
    P = np.asarray(data.probs)
    if P.ndim != 4 or P.shape[1] != 1:
        raise BlendError(f"compare needs predictions of shape (models, 1, rows, classes) (TTA "
                         f"views averaged); got shape {P.shape}")
    M, _, N, _ = P.shape
    if M < 2:
        raise BlendError(f"compare needs at least 2 models; got {M}")
    if len(data.models) != M:
        raise BlendError(f"{len(data.models)} model names for {M} models")
    if np.shape(data.y)[0] != N or np.shape(data.folds) != (N,):
        raise BlendError(f"labels ({np.shape(data.y)[0]} rows) and folds (shape "
                         f"{np.shape(data.folds)}) must match the predictions' {N} rows")
    bad = ~np.isfinite(P).all(axis=(1, 2, 3))
    if bad.any():
        raise BlendError(f"model {data.models[int(np.flatnonzero(bad)[0])]!r} has NaN or "
                         "infinite predictions; re-export it or leave it out of --models")


def _compare(data, *, metric, methods, budget, procedure, seed, n_jobs, progress, executor=None):
    from blend.metrics import default_metric

    _check_data(data)
    data = traced(data)  # from here on no raw label array: every read is recorded
    t0 = time.perf_counter()
    met = get_metric(metric if metric is not None else default_metric(data.task), data.task)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    cands, notes = build_candidates(data, met, methods=methods, budget=budget, n_jobs=1)
    eng = Comparison(data, cands, met, seed=seed, n_jobs=n_jobs, progress=progress)
    K = len(eng.fold_ids)
    if procedure and K < 4 and any(c.kind == "level3" for c in cands):
        cands = [c for c in cands if c.kind != "level3"]
        notes.append(f"level3: left out (with {K} folds the procedure loop leaves its "
                     "stackers no training fold)")
        eng = Comparison(data, cands, met, seed=seed, n_jobs=n_jobs, progress=progress)
    plan = eng._plan(procedure)
    eng.total = sum(len(v) for v in plan.values())
    if executor is not None:
        eng.prefit_on(executor, plan)
    eng.prefit_stackers(plan)
    scores = eng.score_all()
    scores.sort(key=lambda s: -met.gain(s.nested_score) if not math.isnan(s.nested_score) else math.inf)
    chosen, reason = recommend(scores, met)
    proc_score, proc_folds, choices = None, [], []
    if procedure:
        preds = {}
        for k in eng.fold_ids:
            with eng.y.trace() as mask:
                inner = eng.compare_inside(k)
                pick, _ = recommend(inner, met)
            eng.choice_rows[k] = mask
            choices.append(pick.name)
            preds[k] = eng.predict(pick.name, {k}, k)
        proc_score, folds_t = eng._pooled(preds)
        proc_folds = list(folds_t)
    return CompareResult(
        metric=met.name,
        greater_is_better=bool(met.greater_is_better),
        candidates=scores,
        recommended=chosen,
        reason=reason,
        procedure_nested_score=proc_score,
        procedure_fold_scores=proc_folds,
        procedure_choices=choices,
        fold_ids=list(eng.fold_ids),
        notes=notes,
        seconds=time.perf_counter() - t0,
        engine=eng,
    )
