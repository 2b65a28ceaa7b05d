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
from blend.compare._presets import BUDGETS
from blend.metrics import Metric

#: Ordinal candidates added by default when a regression store is compared on ``qwk``:
#: the plain mean and Nelder-Mead weights (on RMSE, as ``blend optimize --metric qwk``),
#: each graded by cut points fitted on the same training rows (``blend.ordinal``).
ORDINAL_DEFAULTS = ("mean+cuts", "nelder-mead+cuts")


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


#: Metrics a temperature is fitted for (the log loss family; a temperature changes no
#: ranking, so it cannot help accuracy or AUC).
TEMPERATURE_METRICS = ("logloss", "kl", "cross-entropy")


def _temperature(S: np.ndarray, y: np.ndarray) -> float:
    """One temperature for blended log-space scores ``S`` (N, C), fitted by log loss."""
    from blend.optimize._api import fit_temperatures

    return float(fit_temperatures(np.asarray(S, np.float64)[None], y)[0])


def _weights_candidate(data: CompareData, method: str, rule: str, metric: Metric,
                       params: dict[str, Any], name: str | None = None,
                       baseline: bool = False, temperature: bool = False) -> Candidate:
    """``method`` weights with ``rule``, optionally with a temperature.

    With ``temperature`` (logit / geo rule) one temperature for the blend is fitted after
    the weights on the same training rows; the state is then ``(weights, T)``: every unit
    divided by ``T``, which for these rules is the blend's logits divided by ``T``.
    """
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
    if temperature and (data.regression or rule not in ("logit", "geo")):
        raise BlendError(f"{method}/{rule}+T: a temperature scales logits; use the logit or "
                         "geo rule on a classification store")
    cname = name or f"{method} {rule}" + ("+T" if temperature else "")

    def fit(eng, held):
        rows = eng.train_rows(held)
        y = eng.labels(rows)
        res = optimize(P[:, :, rows], y, data.folds[rows], method=method,
                       metric=fit_metric, rule=rule, kind=kind, nested=False,
                       rng=_seed_for(eng.seed, cname, held), params=dict(params))
        w = np.asarray(res.fit.weights, dtype=np.float64)
        if not temperature:
            return w
        S = np.tensordot(w / w.sum(), X[:, rows], axes=1)  # the blend's log-space scores
        return w, _temperature(S, y)

    def predict(eng, held, k):
        state = eng.fit(cand, held)
        if temperature:
            w, T = state
            return blend_scores(X[:, eng.fold_rows(k)], w, rule=rule, kind=skind,
                                temperatures=np.full(len(w), T))
        return blend_scores(X[:, eng.fold_rows(k)], state, rule=rule, kind=skind)

    if temperature:
        note = (note + "; " if note else "") + "one temperature for the blend, fitted after the weights"
    cand = Candidate(cname, "weights", fit, predict, baseline=baseline, note=note,
                     extra={"method": method, "rule": rule, "temperature": temperature})
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
        seeds = cand.extra["seeds"]  # read at fit time: --time-limit may add seeds
        rows = eng.train_rows(held)
        y = eng.labels(rows)
        f = data.folds[rows]
        train_folds = sorted(set(np.unique(f).tolist()))
        if not train_folds:
            raise BlendError(f"{name}: no training fold left without folds {sorted(held)}")
        if len(held) == 1:
            # an outer fold: the seeds `stack NAME --seed S` uses for that fold, so the
            # candidate's nested predictions are that command's OOF predictions
            from blend.stack._nested import outer_fold_seed, stack_seed_base

            root = stack_seed_base(np.random.default_rng(eng.seed), len(eng.fold_ids), seeds)
            base = outer_fold_seed(root, eng.fold_ids.index(next(iter(held))), seeds)
        else:
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
                                         seed=base + 10_000 * s))
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
                                         seed=base + 10_000 * s + j))
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
                     extra={"stacker": stacker, "features": features, "params": p, "seeds": seeds,
                            "parallel": st.parallel_fits, "predict_rows": predict_rows,
                            "seeded": st.early_stops,
                            "X": X})
    return cand


def _level3_candidate(data: CompareData, stackers: Sequence[Candidate], metric: Metric,
                      method: str | None = None, rule: str = "prob",
                      temperature: bool = False, base: bool = True) -> Candidate:
    """Weights over the base models and the stackers together (level 3), nested.

    Its fit without the folds ``H`` learns the weights on the rows of the training folds:
    the base models' predictions there as they are (out-of-fold already) and, for each
    training fold ``i``, the stackers' predictions of fold ``i`` by the stacker fitted
    without ``H | {i}``, so no stacker whose predictions the weights see ever saw a fold of
    ``H``. With the logit or geo rule and ``temperature`` one temperature for the blend is
    fitted after the weights on the same rows. ``base=False``: the stackers alone.
    """
    from blend.optimize import optimize, optimizer_capabilities

    if method is None:
        method = "hill-climb" if data.regression else "lbfgs"
    fit_metric = metric.name
    if not optimizer_capabilities(method).fits_metric(metric.name):
        fit_metric = "logloss"
    if data.regression and rule != "prob":
        raise BlendError(f"level3/{rule}: regression blends with the prob rule only")
    if temperature and rule not in ("logit", "geo"):
        raise BlendError(f"level3/{rule}+T: a temperature scales logits; use the logit or geo rule")
    kind = "raw" if data.regression else "probs"
    skind = "raw" if data.regression else ("probs" if rule == "prob" else "logits")
    names = [s.name for s in stackers]
    n_base = data.probs.shape[0] if base else 0
    B = unit_scores(data.probs, rule=rule, kind=kind)[:n_base] if base else None
    cname = f"level3 {method}" + ("" if base and rule == "prob" and not temperature else
                                  f" {rule}" + ("+T" if temperature else ""))
    if not base:
        cname += " (stackers)"

    def level2(eng, held, k):
        return np.stack([s.predict(eng, held, k) for s in stackers])  # (S, n_k, C)

    def units(eng, held, k):
        """The units' scores of fold ``k`` in the rule's space: base models, then stackers."""
        Z = unit_scores(level2(eng, held, k)[:, None], rule=rule, kind=kind)
        return Z if B is None else np.concatenate([B[:, eng.fold_rows(k)], Z])

    def fit(eng, held):
        rows = eng.train_rows(held)
        train_folds = sorted(set(np.unique(data.folds[rows]).tolist()))
        # level-2 predictions of each training fold i by stackers fitted without held | {i}
        Z = np.zeros((len(stackers), len(rows), data.probs.shape[-1]))
        for i in train_folds:  # rows is sorted: find each fold's rows in it
            Z[:, np.searchsorted(rows, eng.fold_rows(i))] = level2(eng, held, i)
        U = Z[:, None] if B is None else np.concatenate([data.probs[:n_base, :, rows], Z[:, None]])
        y = eng.labels(rows)
        res = optimize(U, y, data.folds[rows], method=method, metric=fit_metric,
                       rule=rule, kind=kind, nested=False,
                       rng=_seed_for(eng.seed, cname, held))
        w = np.asarray(res.fit.weights, dtype=np.float64)
        if not temperature:
            return w
        X = unit_scores(U, rule=rule, kind=kind)
        return w, _temperature(np.tensordot(w / w.sum(), X, axes=1), y)

    def predict(eng, held, k):
        state = eng.fit(cand, held)
        w, T = state if temperature else (state, None)
        return blend_scores(units(eng, held, k), w, rule=rule, kind=skind,
                            temperatures=None if T is None else np.full(len(w), T))

    cand = Candidate(cname, "level3", fit, predict,
                     note=f"{method} {rule} weights over "
                     + ("the base models and " if base else "") + ", ".join(names)
                     + (", one temperature for the blend" if temperature else "")
                     + (" (fitted on logloss)" if fit_metric != metric.name else ""),
                     depends=tuple(names),
                     extra={"method": method, "rule": rule, "temperature": temperature,
                            "base": base})
    # the same blend over fewer stackers (``--time-limit`` skipped one of them)
    cand.extra["rebuild"] = lambda kept: _level3_candidate(
        data, kept, metric, method, rule=rule, temperature=temperature, base=base)
    return cand


def _rule_spec(spec: str, head: str, tail: str, data: CompareData,
               notes: list[str]) -> tuple[str, bool] | None:
    """``RULE[+T]`` of a ``--methods`` entry -> ``(rule, temperature)``; None: left out."""
    rule, plus, _ = tail.partition("+T")
    rule = rule or "prob"
    if rule not in LINEAR_RULES:
        raise BlendError(f"rule {rule!r} in {spec!r}: compare weights with "
                         f"{', '.join(LINEAR_RULES)}")
    if data.regression and (rule != "prob" or plus):
        notes.append(f"{spec}: left out (regression blends with the prob rule only)")
        return None
    if plus and rule == "prob":
        raise BlendError(f"{spec!r}: a temperature scales logits; use {head}/logit+T or "
                         f"{head}/geo+T")
    return rule, bool(plus)


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
        ``METHOD/RULE+T`` (a temperature for the blend after the weights; logit or geo rule),
        ``stack:NAME`` and ``level3[:METHOD][/RULE][+T]`` (weights over the base models and
        the listed stackers together), and with ``qwk`` on a regression store ``mean+cuts`` or
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
        tempered = not data.regression and metric.name in TEMPERATURE_METRICS
        specs = [f"{m}/{r}" for m, r in B["weights"]]
        specs += [s for s in B.get("tempered", ()) if tempered]
        specs += [f"stack:{s}" for s in B["stackers"]]
        if B["level3"]:
            specs += [s for s in B["level3_specs"] if tempered or not s.endswith("+T")]
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
    level3: list[tuple[str | None, str, bool]] = []
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
        elif spec == "level3" or spec.startswith(("level3:", "level3/")):
            head, _, rule = spec.partition("/")
            parsed = _rule_spec(spec, "level3", rule, data, notes)
            if parsed is not None:
                level3.append((head.split(":", 1)[1] if ":" in head else None, *parsed))
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
            if method not in available_optimizers():
                raise BlendError(
                    f"unknown method {spec!r} in --methods; choose from the weighting methods "
                    f"{', '.join(available_optimizers())} (optionally /RULE), caruana, "
                    "stack:NAME, level3 or (qwk on a regression store) mean+cuts / METHOD+cuts"
                )
            parsed = _rule_spec(spec, method, rule, data, notes)
            if parsed is None:
                continue
            rule, plus = parsed
            caps = optimizer_capabilities(method)
            if not caps.fits_rule(rule):
                notes.append(f"{spec}: left out ({method} fits {caps.describe()})")
                continue
            if not caps.fits_metric(metric.name) and (data.regression or not caps.fits_metric("logloss")):
                notes.append(f"{spec}: left out ({method} cannot fit {metric.name}: {caps.describe()})")
                continue
            c = _weights_candidate(data, method, rule, metric, dict(B["params"].get(method, {})),
                                   temperature=bool(plus))
        if c.name in seen:
            raise BlendError(f"candidate {c.name!r} named twice in --methods")
        seen.add(c.name)
        cands.append(c)
    for method, rule, plus in level3:
        if len(stackers) < 2:
            notes.append("level3: left out (it blends at least two stackers; list them with stack:NAME)")
            continue
        c = _level3_candidate(data, stackers, metric, method, rule=rule, temperature=plus)
        if c.name in seen:
            raise BlendError(f"candidate {c.name!r} named twice in --methods")
        seen.add(c.name)
        cands.append(c)
    return cands, notes
