"""The candidates: budgets, one adapter per kind (mean, subset, weights, cuts, stackers, level 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import LINEAR_RULES, blend_scores, rule_space, unit_scores
from blend.compare._data import CompareData, _seed_for
from blend.compare._engine import Candidate, _as_2d
from blend.compare._labels import traced
from blend.metrics import Metric

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
    elif rule_space(rule) == "logits":
        kind = "logits"
        P = data.logits if data.logits is not None else np.log(np.clip(data.probs, 1e-7, 1.0))
    else:
        kind, P = "probs", data.probs
    X = unit_scores(P, rule=rule, kind=kind)
    skind = "raw" if data.regression else rule_space(rule)
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
            if rule not in LINEAR_RULES:
                raise BlendError(f"rule {rule!r} in {spec!r}: compare weights with "
                                 f"{', '.join(LINEAR_RULES)}")
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
