"""``optimize``: any registered optimiser, with nested CV, temperatures, TTA and per-class weights.

The orchestration every method shares:

1. validate the inputs once, before any fitting;
2. turn the predictions into *units* in the rule's additive space (:func:`blend.combine.unit_scores`):
   one per model (TTA views averaged), or one per (model, TTA view) with ``tta_weights``;
3. ``fit(rows)``: optionally fit one temperature per unit on those rows (log loss of
   ``softmax(X / T)``), then call the optimiser on those rows only;
4. the in-sample fit uses every row; the nested CV (:func:`blend.nested.nested_cv`) refits on
   the rows of K-1 folds, predicts the held-out fold, and scores the pooled held-out
   predictions once (fold scores beside);
5. every reported score is computed by the core (:func:`blend.combine.blend_scores` and the
   core metric), not by the optimiser's fast kernel. ``blend.recipe.Recipe`` blends with the
   same two functions, so a recipe written from the result reproduces the in-sample score.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from blend._checks import check_rows
from blend._errors import BlendError
from blend.combine import RULES, as_4d, blend_scores, rule_space, unit_scores
from blend.combine import log_softmax as _log_softmax
from blend.metrics import Metric, get_metric
from blend.nested import nested_cv, train_rows
from blend.optimize._base import (
    Timer,
    WeightsResult,
    as_generator,
    get_optimizer,
    optimizer_capabilities,
)
from oof_common.core import blas_limit

__all__ = ["OptimizeResult", "optimize", "fit_temperatures"]


@dataclass(frozen=True)
class OptimizeResult:
    """Weights fitted by one method, with their in-sample and nested-CV scores.

    Attributes
    ----------
    method, metric, rule : str
    models : list of str
    weights : dict
        Model name -> normalised weight (a model's TTA-view weights summed; with per-class
        weights, the mean over classes).
    score : float
        In-sample score: weights fitted and scored on every OOF row.
    nested_score : float or None
        The metric on the pooled held-out predictions of every row, each fold's predicted
        by weights (and temperatures) fitted on the other folds (None when nested CV was
        skipped). It covers the weights and temperatures; a subset chosen *before* the call
        (e.g. by a search on all rows) is not covered: see ``blend optimize --from-search``.
    fold_ids : list of int
    fold_scores : list of float
        Score of each held-out fold with the weights fitted on the other folds.
    fold_weights : list of dict
        Those weights, one dict (model -> weight) per fold.
    seconds : float
        Wall time of the whole run (in-sample fit and every fold).
    evaluations : int
        Weight vectors scored, over all fits.
    unit_weights : dict or None
        With ``tta_weights``: ``{model: {view: w}}``; with ``per_class``:
        ``{model: {class: w}}`` (each class column sums to one).
    temperatures : dict or None
        Unit name -> temperature fitted on all rows (with ``temperature=True``).
    fit : WeightsResult
        The in-sample fit as the optimiser returned it.
    nested_covers : tuple of str
        Every choice made from the labels that the nested score covers (made again inside
        each outer fold): ``"weights"``, ``"temperatures"``, ``"subset selection"``.
    selected : list of str or None
        With ``select``: the models chosen on all rows (the others weigh 0).
    fold_selected : list of list of str or None
        With ``select``: the models chosen inside each outer fold, on its training rows.
    conditional_nested_score : float or None
        With ``select``: the nested score of the weights alone, the subset fixed to the one
        chosen on all rows. It is *conditional* on that choice (which saw every held-out
        row), so it is optimistic; reported only to show what the selection costs.
    conditional_fold_scores : list of float or None
    announcements : list of str
        What the fits want said, e.g. that a stored Optuna study was resumed.
    """

    method: str
    metric: str
    rule: str
    models: list[str]
    weights: dict[str, float]
    score: float
    nested_score: float | None
    fold_ids: list[int]
    fold_scores: list[float]
    fold_weights: list[dict[str, float]]
    seconds: float
    evaluations: int
    unit_weights: dict[str, dict[str, float]] | None = None
    temperatures: dict[str, float] | None = None
    fit: WeightsResult | None = field(default=None, repr=False)
    nested_covers: tuple[str, ...] = ("weights",)
    selected: list[str] | None = None
    fold_selected: list[list[str]] | None = None
    conditional_nested_score: float | None = None
    conditional_fold_scores: list[float] | None = None
    announcements: list[str] = field(default_factory=list)
    mean_score: float | None = None
    greater_is_better: bool = True

    def versus_mean(self) -> str:
        """``"nested 0.6605 (plain mean 0.6705: below the mean)"``: the nested score beside the bar."""
        from blend.nested import beside_mean

        return beside_mean(self.nested_score, self.mean_score, self.greater_is_better, 6, self.rule)

    def to_dict(self) -> dict[str, Any]:
        """The facts ``blend optimize --json`` writes.

        Always ``method, metric, weights, score, nested_score, fold_scores, fold_weights,
        seconds, evaluations``; ``tta_weights`` / ``per_class_weights`` / ``temperatures``
        are added only when those options were used.
        """
        d: dict[str, Any] = {
            "method": self.method,
            "metric": self.metric,
            "weights": dict(self.weights),
            "score": self.score,
            "nested_score": self.nested_score,
            "fold_scores": list(self.fold_scores),
            "fold_weights": [dict(w) for w in self.fold_weights],
            "seconds": self.seconds,
            "evaluations": self.evaluations,
        }
        if self.unit_weights is not None:
            key = "per_class_weights" if self._per_class else "tta_weights"
            d[key] = {m: dict(v) for m, v in self.unit_weights.items()}
        if self.temperatures is not None:
            d["temperatures"] = dict(self.temperatures)
        d["score_is"] = "in-sample: weights fitted and scored on every OOF row"
        d["nested_score_is"] = (
            None if self.nested_score is None else
            "nested: pooled held-out predictions; each fold's " + " and ".join(self.nested_covers)
            + " chosen without it")
        d["nested_covers"] = list(self.nested_covers)
        d["mean_score"] = self.mean_score
        d["mean_score_is"] = ("the plain mean of the same models under the same rule, pooled "
                              "over the same OOF rows (nothing fitted: already nested)")
        if self.selected is not None:
            d["selected"] = list(self.selected)
            d["fold_selected"] = [list(f) for f in self.fold_selected or []]
            d["conditional_nested_score"] = self.conditional_nested_score
            d["conditional_fold_scores"] = list(self.conditional_fold_scores or [])
            d["conditional_nested_score_is"] = (
                "conditional: the subset fixed to the one chosen on all rows (held-out rows "
                "included), only the weights nested; optimistic")
        return d

    @property
    def per_class(self) -> bool:
        """True when the weights are per (model, class) (``unit_weights`` keyed by class)."""
        return bool(self.fit is not None and np.asarray(self.fit.weights).ndim == 2)

    _per_class = per_class

    def summary(self) -> str:
        w = ", ".join(f"{m} {v:.3f}" for m, v in self.weights.items())
        nested = ("skipped" if self.nested_score is None else
                  f"{self.nested_score:.6g} (covers {', '.join(self.nested_covers)})")
        cond = ("" if self.conditional_nested_score is None else
                f", conditional on the all-rows subset {self.conditional_nested_score:.6g}")
        return (
            f"{self.method} on {self.metric} ({self.rule} rule): in-sample {self.score:.6g}, "
            f"nested {nested}{cond}; weights {w}; {self.evaluations} evaluations in "
            f"{self.seconds:.2f} s"
        )


def _temperature_one(X: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` minimising the log loss of ``softmax(X / T)`` (X: (N, C) logits)."""
    # scipy costs ~0.5 s at start-up: imported where used
    from scipy.optimize import minimize_scalar

    hard = y.ndim == 1
    rows = np.arange(X.shape[0])

    def loss(log_t: float) -> float:
        L = _log_softmax(X / np.exp(log_t))
        return float(-L[rows, y].mean()) if hard else float(-(y * L).sum(1).mean())

    sol = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(sol.x))


def fit_temperatures(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One temperature per unit, fitted by log loss.

    Parameters
    ----------
    X : ndarray of shape (U, N, C)
        Logits (or log-probabilities).
    y : ndarray of shape (N,) int or (N, C) soft targets

    Returns
    -------
    ndarray of shape (U,)
        ``softmax(X[u] / T[u])`` is the best-calibrated version of unit ``u``; ``T > 1``
        softens an over-confident model.
    """
    y = np.asarray(y)
    y = y.astype(np.int64) if y.ndim == 1 else y.astype(np.float64)
    return np.array([_temperature_one(np.asarray(x, np.float64), y) for x in X])


def _limited_fit(fit_and_threads: tuple, idx: np.ndarray, held: int | None,
                 chosen: Sequence[int] | None) -> Any:
    fit, threads = fit_and_threads
    with blas_limit(threads):
        return fit(idx, held, chosen)


def _fits_as_tasks(fit, jobs, executor, blas_threads, progress=None, done0=0, total=0):
    """Run ``fit(idx, held, chosen)`` for each job as tasks; a lookup in ``fit``'s place.

    The lookup answers a call with the same arguments from the tasks' results (the rows
    compared by value) and fits anything else here, so the engine calling it decides the
    rows exactly as without an executor.
    """
    def on_done(i, _out):
        if progress is not None:
            on_done.n += 1
            progress(done0 + on_done.n, total, "fits as tasks")
    on_done.n = 0
    done = executor.map(_limited_fit, jobs, shared=(fit, blas_threads), on_done=on_done)

    def key(idx, held, chosen):
        return (np.asarray(idx, dtype=np.int64).tobytes(), held,
                None if chosen is None else tuple(int(i) for i in chosen))

    table = {key(*job): out for job, out in zip(jobs, done, strict=True)}

    def lookup(idx: np.ndarray, held: int | None = None, chosen: Sequence[int] | None = None):
        k = key(idx, held, chosen)
        return table[k] if k in table else fit(idx, held, chosen)

    return lookup


def _reporting(fitter: Callable[..., WeightsResult], progress: Callable[..., None],
               n_fits: int) -> Callable[..., WeightsResult]:
    """``fitter`` that reports each fit (and, if it takes ``progress``, its inner steps)."""
    calls = [0]
    inner = "progress" in inspect.signature(fitter).parameters

    def fit(*args: Any, **kwargs: Any) -> WeightsResult:
        i, total = calls[0], max(n_fits, calls[0] + 1)
        what = "in-sample fit" if i == 0 else f"nested CV fit {i}/{total - 1}"
        progress(i, total, what)
        if inner:
            kwargs["progress"] = lambda d, t: progress(i + (min(d / t, 1.0) if t else 0.0),
                                                       total, what)
        res = fitter(*args, **kwargs)
        calls[0] += 1
        progress(i + 1, total, what)
        return res

    return fit


def _validate(P, y, folds, models, tta_views, rule, kind, metric, task, tta_weights,
              per_class, temperature, nested):
    P = as_4d(P)
    M, T, N, C = P.shape
    if M < 2:
        raise BlendError(f"weights need at least 2 models; got {M}. Pass more --models")
    y, folds = check_rows(y, folds, N)
    if nested and len(np.unique(folds)) < 2:
        raise BlendError("nested CV needs at least 2 folds; the fold column has only one")
    models = [f"m{i}" for i in range(M)] if models is None else [str(m) for m in models]
    if len(models) != M or len(set(models)) != M:
        raise BlendError(f"need {M} distinct model names; got {models}")
    tta_views = [f"tta{t}" for t in range(T)] if tta_views is None else list(tta_views)
    if len(tta_views) != T:
        raise BlendError(f"need {T} TTA view names; got {tta_views}")
    bad = ~np.isfinite(P)
    if bad.any():
        m = int(np.argwhere(bad)[0][0])
        raise BlendError(
            f"model {models[m]!r} has {int(bad[m].sum())} NaN or infinite values; "
            f"re-export it or leave it out of --models"
        )
    if rule not in RULES:
        raise BlendError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    metric = get_metric(metric, task)
    if tta_weights and T < 2:
        raise BlendError("--tta-weights needs several TTA views; the models have one")
    if per_class and (C < 2 or kind == "raw"):
        raise BlendError("--per-class needs a classification task (>= 2 classes)")
    if per_class and tta_weights:
        raise BlendError("choose one of --per-class and --tta-weights, not both")
    if per_class and rule == "rank":
        raise BlendError("--per-class works with the prob, logit and geo rules, not rank")
    if temperature and rule in RULES and RULES[rule].space != "logits":
        raise BlendError(
            f"--temperature scales logits: use it with --rule logit (or geo), not {rule!r}"
        )
    return P, y, folds, models, tta_views, metric


def _fit_metric(method: str, metric: Metric, y: np.ndarray) -> tuple[Metric, str | None]:
    """The metric the weights are fitted on, and what to say when it is not ``metric``.

    A gradient method (lbfgs) cannot fit AUC, accuracy or F1 (no gradient); on a
    classification store it fits log loss, the smooth loss of the same probabilities, and the
    result is scored (in-sample, nested) on ``metric``, as ``blend compare`` does.
    """
    caps = optimizer_capabilities(method)
    if caps.fits_metric(metric.name) or "logloss" not in (caps.metrics or ()):
        return metric, None
    if np.asarray(y).dtype.kind == "f":  # regression or soft targets: no class labels
        return metric, None
    return get_metric("logloss"), (
        f"{method} fits the weights on log loss ({metric.name} has no gradient) and scores "
        f"them on {metric.name}, as blend compare does"
    )


def optimize(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    method: str = "de",
    metric: str | Metric = "accuracy",
    rule: str = "prob",
    kind: str = "probs",
    task: str | None = None,
    models: list[str] | None = None,
    tta_views: list[str] | None = None,
    tta_weights: bool = False,
    per_class: bool = False,
    temperature: bool = False,
    nested: bool = True,
    rng: np.random.Generator | int | None = None,
    params: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
    executor: Any = None,
    progress: Callable[..., None] | None = None,
    select: Callable[[np.ndarray], Sequence[int]] | None = None,
) -> OptimizeResult:
    """Fit blend weights with a registered method and score them in-sample and nested.

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes) or (n_models, n_rows, n_classes)
        OOF predictions as ``Store.load_oof(...).preds``; ``kind`` says what they hold.
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Labels as ``Store.y``.
    folds : ndarray of shape (n_rows,)
        The store's fold id of each row; the nested CV holds out one fold at a time.
    method : str
        A name from :func:`available_optimizers` (an unknown name lists them).
    metric : str or Metric
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
    task : str, optional
        When given, the metric must fit it.
    models, tta_views : list of str, optional
        Names used in the result (default ``m0..``, ``tta0..``).
    tta_weights : bool
        One weight per (model, TTA view) instead of averaging the views.
    per_class : bool
        One weight per (model, class).
    temperature : bool
        Fit a temperature per unit (logit/geo rule) before the weights, inside each fit.
    nested : bool
        Run the nested CV (default True).
    rng : numpy.random.Generator or int, optional
        Seed of every fit; the same seed repeats the same weights.
    params : dict, optional
        Method parameters (e.g. ``{"maxiter": 20}`` for de, ``{"trials": 200}`` for optuna).
        With ``study_name``, each fit gets its own study ``<name>-all`` / ``<name>-fold<k>``.
    blas_threads : int or None
        BLAS threads during the fits (default 1: the kernels are many small matrix products,
        for which thread start-up costs more than it saves; None leaves BLAS alone).
    executor : oof_store.distributed.Executor, optional
        Runs the in-sample fit and the nested-CV fits as independent tasks (e.g. Ray
        tasks). Each fit's seed is derived from ``rng`` and the fold, never from the worker,
        so the weights and scores are those of the plain run. With ``method="optuna"`` and
        ``params["workers"] > 1`` the fits run one after the other instead, each as that
        many Optuna workers sharing one study (see :func:`blend.optimize.fit_optuna`).
    progress : callable, optional
        ``progress(done, total, message)``, called as the work advances: ``total`` is the
        number of fits (1 in-sample + one per fold with ``nested``), ``done`` counts them,
        with fractions inside a fit for the methods that report (de generations, Optuna
        trials, hill-climb bags). Nothing is printed here; the CLI draws the bar.
    select : callable, optional
        ``select(rows) -> model indices``: a choice of models made from the labels of
        ``rows`` (e.g. a subset search). It runs inside every fit, so the nested score
        covers it; the models it leaves out weigh 0. The result also carries the
        *conditional* nested score, the subset fixed to the one chosen on all rows.

    Returns
    -------
    OptimizeResult
    """
    fitter = get_optimizer(method)
    # with an executor the fits run as tasks (unless Optuna workers share each fit's study):
    # progress then advances per finished task, in this process
    use_tasks = executor is not None and not (method == "optuna"
                                              and int((params or {}).get("workers", 1)) > 1)
    task_progress = progress if use_tasks else None
    if progress is not None and not use_tasks:
        fitter = _reporting(fitter, progress, 1 + (len(np.unique(folds)) if nested else 0))
    P, y, folds, models, tta_views, metric = _validate(
        P, y, folds, models, tta_views, rule, kind, metric, task, tta_weights, per_class,
        temperature, nested,
    )
    fit_metric, surrogate_note = _fit_metric(method, metric, y)
    params = dict(params or {})
    M, T, N, C = P.shape
    # units in the rule's additive space
    if tta_weights:
        unit_names = [f"{m}[{v}]" for m in models for v in tta_views]
    else:
        unit_names = list(models)
    X = unit_scores(P, rule=rule, kind=kind, per_view=tta_weights)  # (U, N, C)
    skind = "raw" if (kind == "raw" or C == 1) else rule_space(rule)
    seed_root = as_generator(rng).integers(2**63 - 1)
    fold_ids = [int(k) for k in np.unique(folds)]

    def blend(Xs: np.ndarray, w: np.ndarray, temps: np.ndarray | None) -> np.ndarray:
        # the one blend function, shared with blend.recipe.Recipe
        return blend_scores(Xs, w, rule=rule, kind=skind, temperatures=temps)

    per_model_units = T if tta_weights else 1

    def fit(idx: np.ndarray, held: int | None = None,
            chosen: Sequence[int] | None = None) -> tuple[WeightsResult, np.ndarray | None]:
        # ``held``: the outer fold left out (None: the in-sample fit on every row). Each fit
        # gets its own seed and its own Optuna study, named after the held-out fold.
        # ``chosen``: the models to weight; by default ``select(idx)`` (run here, on these
        # rows only, so the nested score covers the selection) or every model.
        tag = "all" if held is None else f"fold{held}"
        key = 0 if held is None else fold_ids.index(held) + 1
        fold_rng = np.random.default_rng([int(seed_root), key])
        p = dict(params)
        if p.get("study_name"):
            p["study_name"] = f"{p['study_name']}-{tag}"
        if chosen is None:
            chosen = range(M) if select is None else select(idx)
        chosen = sorted({int(i) for i in chosen})
        units = [i * per_model_units + t for i in chosen for t in range(per_model_units)]
        Xi = X[units][:, idx]
        temps = None
        if temperature:  # chosen from the labels: inside the fit, so nested with the weights
            temps = fit_temperatures(Xi, y[idx])
            Xi = Xi / temps[:, None, None]
        if len(units) == 1:  # one model chosen: nothing to weigh
            res = WeightsResult(method, np.ones((1, C)) if per_class else np.ones(1),
                                float(metric(y[idx], blend(Xi, np.ones(1), None))), 0, 0.0)
        else:
            res = fitter(Xi, y[idx], metric=fit_metric, rule=rule, kind=skind, rng=fold_rng,
                         per_class=per_class, **p)
        res = replace(res, info={**res.info, "chosen": chosen})
        if len(units) == X.shape[0]:
            return res, temps
        # embed in the full unit space: the models left out weigh 0 (temperature 1)
        w = np.zeros((X.shape[0],) + np.shape(res.weights)[1:])
        w[units] = res.weights
        full_t = None
        if temps is not None:
            full_t = np.ones(X.shape[0])
            full_t[units] = temps
        return replace(res, weights=w), full_t

    def predict(fitted: tuple[WeightsResult, np.ndarray | None], idx: np.ndarray) -> np.ndarray:
        res, temps = fitted
        return blend(X[:, idx], res.weights, temps)

    def _chosen(res: WeightsResult) -> list[int]:
        """The models a fit was allowed to weigh (chosen by ``select`` on its rows)."""
        return list(res.info["chosen"])

    def by_model(w: np.ndarray) -> dict[str, float]:
        w = np.asarray(w)
        per_model = w.mean(axis=1) if per_class else (w.reshape(M, T).sum(1) if tta_weights else w)
        return {m: float(v) for m, v in zip(models, per_model, strict=True)}

    run_fit = fit
    if executor is not None and not use_tasks:
        params["executor"] = executor
    n_fits = 1 + (len(fold_ids) if nested else 0)
    with blas_limit(blas_threads), Timer() as t:
        if use_tasks:
            jobs = [(np.arange(N), None, None)]
            if nested:
                jobs += [(train_rows(folds, k), k, None) for k in fold_ids]
            run_fit = _fits_as_tasks(fit, jobs, executor, blas_threads, task_progress, 0,
                                     2 * n_fits - 1 if select is not None and nested else n_fits)
        full = run_fit(np.arange(N))
        score = float(metric(y, predict(full, np.arange(N))))
        mean_score = float(metric(y, blend(X, np.full(X.shape[0], 1.0 / X.shape[0]), None)))
        cv = nested_cv(run_fit, predict, folds, y, metric) if nested else None
        cond = None
        if select is not None and nested:
            # the same weights fits with the subset fixed to the all-rows choice: conditional
            chosen_all = _chosen(full[0])
            cond_fit = fit
            if use_tasks:
                cond_fit = _fits_as_tasks(fit, [(train_rows(folds, k), k, chosen_all)
                                                for k in fold_ids],
                                          executor, blas_threads, task_progress, n_fits,
                                          2 * n_fits - 1)
            cond = nested_cv(lambda idx, held: cond_fit(idx, held, chosen_all), predict, folds,
                             y, metric)
    res, temps = full
    unit_weights = None
    if tta_weights:
        W = np.asarray(res.weights).reshape(M, T)
        unit_weights = {m: {v: float(W[i, j]) for j, v in enumerate(tta_views)}
                        for i, m in enumerate(models)}
    elif per_class:
        W = np.asarray(res.weights)
        unit_weights = {m: {str(c): float(W[i, c]) for c in range(C)}
                        for i, m in enumerate(models)}
    evaluations = res.evaluations + (sum(r.evaluations for r, _ in cv.fold_results) if cv else 0)
    fits = [res] + ([r for r, _ in cv.fold_results] if cv else [])
    announcements = [r.info["announce"] for r in fits if r.info.get("announce")]
    if surrogate_note:
        announcements.insert(0, surrogate_note)
    covers = ["weights"] + (["temperatures"] if temperature else [])
    if select is not None:
        covers.insert(0, "subset selection")
    return OptimizeResult(
        method=method,
        metric=metric.name,
        rule=rule,
        models=list(models),
        weights=by_model(res.weights),
        score=score,
        nested_score=None if cv is None else cv.nested_score,
        fold_ids=[] if cv is None else list(cv.fold_ids),
        fold_scores=[] if cv is None else list(cv.fold_scores),
        fold_weights=[] if cv is None else [by_model(r.weights) for r, _ in cv.fold_results],
        seconds=t.seconds,
        evaluations=int(evaluations),
        unit_weights=unit_weights,
        temperatures=None if temps is None else dict(zip(unit_names, map(float, temps), strict=True)),
        fit=res,
        nested_covers=tuple(covers),
        selected=None if select is None else [models[i] for i in _chosen(res)],
        fold_selected=None if (select is None or cv is None) else
        [[models[i] for i in _chosen(r)] for r, _ in cv.fold_results],
        conditional_nested_score=None if cond is None else cond.nested_score,
        conditional_fold_scores=None if cond is None else list(cond.fold_scores),
        announcements=announcements,
        mean_score=mean_score,
        greater_is_better=metric.greater_is_better,
    )
