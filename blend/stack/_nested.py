"""The nested-CV engine every stacker runs: input checks, the outer and inner loops, HPO.

Nested CV, as every stacker runs it
-----------------------------------
The **outer** loop is the store's fold assignment. For outer fold ``k`` the stacker sees
only the rows of the other folds; it never sees a label (or a feature) of fold ``k`` while
it is fitted, and its predictions for fold ``k`` are that fold's out-of-fold (OOF) rows.

Inside outer fold ``k``, an **inner** CV over the remaining store folds fits one model per
inner fold ``j`` (trained on the other remaining folds, validated on ``j``). The
validation fold drives early stopping (boosting rounds, epochs); the pooled inner
held-out predictions give the inner-CV score that an Optuna search of the
hyper-parameters (``hpo`` trials) maximises. The outer-fold stacker is the bag of its
inner models: its prediction is their mean. With ``seeds > 1`` the bag is refitted with
each seed and averaged as well. A stacker with nothing to early-stop (``linear``) is
instead refitted once per seed on all outer training rows with the chosen parameters.

The outer loop is ``blend.nested.nested_cv``: every row is predicted once, by the stacker
that never saw it, and the metric is computed once on those pooled predictions (fold scores
beside); it is what ``stack`` prints, beside the best base model and the plain mean of the
base models on the same rows, scored the same way. The hyper-parameter search runs inside
each outer fold, so the nested score covers it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from blend._checks import check_rows
from blend._errors import BlendError
from blend._params import jsonable as _jsonable
from blend.stack._baselines import baseline_scores
from blend.stack._hpo import _search
from blend.stack._registry import get_stacker
from blend.stack._result import StackResult
from blend.stack._stacker import Stacker
from oof_common.core import TASKS

__all__ = ["fit_stacker", "check_params", "stack_seed_base", "outer_fold_seed"]


# --------------------------------------------------------------------------- validation


def _check_inputs(X, y, folds, task, X_test, extra, extra_test, hpo, seeds):
    if task not in TASKS:
        raise BlendError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise BlendError(f"features must have shape (N, M, C); got {X.shape}")
    N, M, C = X.shape
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=(1, 2)).sum())
        raise BlendError(f"features hold NaN or infinite values in {bad} row(s); fix the base predictions")
    y, folds = check_rows(y, folds, N, what="the features")
    if task == "softclass":
        if y.ndim != 2 or y.shape[1] != C:
            raise BlendError(f"softclass targets must have shape (N, {C}); got {y.shape}")
        y = y.astype(np.float64)
    elif task == "regression":
        if C != 1:
            raise BlendError(f"regression stacks one prediction column per model; got {C}")
        y = y.astype(np.float64).reshape(N)
    else:
        y = y.astype(np.int64).reshape(N)
        if y.min() < 0 or y.max() >= C:
            raise BlendError(f"class labels must lie in [0, {C - 1}]; got {y.min()}..{y.max()}")
    folds = folds.astype(np.int64)
    fold_ids = np.unique(folds)
    if len(fold_ids) < 3:
        raise BlendError(
            f"nested CV needs at least 3 folds (an outer fold plus an inner CV of 2); "
            f"the store has {len(fold_ids)}"
        )
    if X_test is not None:
        X_test = np.asarray(X_test, dtype=np.float32)
        if X_test.ndim != 3 or X_test.shape[1:] != (M, C):
            raise BlendError(f"test features must have shape (Nt, {M}, {C}); got {X_test.shape}")
        if not np.isfinite(X_test).all():
            raise BlendError("test features hold NaN or infinite values; fix the base test predictions")
    if extra is not None:
        extra = np.asarray(extra, dtype=np.float32)
        if extra.ndim != 2 or extra.shape[0] != N:
            raise BlendError(f"extra features must have shape ({N}, E); got {extra.shape}")
        if not np.isfinite(extra).all():
            raise BlendError("extra features hold NaN or infinite values; fill or drop those columns")
        if X_test is not None:
            if extra_test is None:
                raise BlendError("extra features were given for the training rows but not for the test rows")
            extra_test = np.asarray(extra_test, dtype=np.float32)
            if extra_test.shape != (X_test.shape[0], extra.shape[1]):
                raise BlendError(
                    f"test extra features must have shape ({X_test.shape[0]}, {extra.shape[1]}); "
                    f"got {extra_test.shape}"
                )
    if not isinstance(hpo, (int, np.integer)) or hpo < 0:
        raise BlendError(f"hpo must be a number of trials >= 0; got {hpo!r}")
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise BlendError(f"seeds must be >= 1; got {seeds!r}")
    return X, y, folds, fold_ids, X_test, extra, extra_test


def check_params(st: Stacker, params: dict[str, Any] | None, task: str, n_classes: int) -> None:
    """Raise when ``params`` names a hyper-parameter the stacker does not have."""
    from blend._params import check_params as _check

    _check(st.name, params, set(st.default_params(task, n_classes)), what="stacker")


# --------------------------------------------------------------------------- the core


def _take(A: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if A is None else A[idx]


def fit_stacker(
    stacker: str | Stacker,
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    task: str,
    metric: Any = None,
    params: dict[str, Any] | None = None,
    hpo: int = 0,
    seeds: int = 1,
    X_test: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    extra_test: np.ndarray | None = None,
    base_preds: np.ndarray | None = None,
    model_names: Sequence[str] | None = None,
    rng: np.random.Generator | int | None = None,
    info: dict[str, Any] | None = None,
    progress: Callable[..., None] | None = None,
    n_jobs: int | None = None,
    executor: Any = None,
) -> StackResult:
    """Fit a stacker with nested CV over the given folds.

    Parameters
    ----------
    stacker : str or Stacker
        A registered name (see :func:`available_stackers`) or an instance.
    X : ndarray of shape (N, M, C)
        Features, e.g. from :func:`make_features`.
    y : ndarray of shape (N,) or (N, C)
        Targets as the store holds them (int labels, soft targets, or floats).
    folds : ndarray of shape (N,)
        The store's fold id of each row: the outer loop. At least 3 folds.
    task : {"binary", "multiclass", "softclass", "regression"}
    metric : str, callable or None
        Passed to ``blend.metrics.get_metric`` (None: the task's default).
    params : dict, optional
        Hyper-parameters over the stacker's defaults (the starting point of the search).
    hpo : int
        Optuna trials per outer fold, each scored by the inner CV (0: the defaults).
    seeds : int
        Number of seeds whose bags are averaged.
    X_test : ndarray of shape (Nt, M, C), optional
        Test features (from the base models' fold-averaged test predictions).
    extra, extra_test : ndarray of shape (N, E) and (Nt, E), optional
        Extra per-row features.
    base_preds : ndarray of shape (M', T, N, C) or (M', N, C), optional
        The base models' probabilities (raw predictions for regression); when given, the
        best single model and the plain mean are scored on the same rows.
    model_names : sequence of str, optional
        Names of the ``base_preds`` models.
    rng : numpy Generator or int, optional
        Source of every seed used (the result repeats for a fixed seed).
    info : dict, optional
        Settings recorded under ``params`` (e.g. the CLI's features and TTA handling).
    progress : callable, optional
        ``progress(done, total, message, log=False)``: ``total`` is every model fit of the
        run (outer folds x inner work: HPO trials x inner folds, seeds, refits), ``done``
        counts them (called from the fitting threads, under a lock); after each outer fold
        it is called with ``log=True`` and the fold's score. Nothing is printed here.
    n_jobs : int, optional
        Inner-CV models fitted at once in threads, for stackers whose fits release the GIL
        (``parallel_fits``: lgbm, linear); default: the number of CPUs. Each fit uses
        ``num_threads`` (default 1): on a busy machine, several one-thread fits are much
        faster than one multi-threaded fit (OpenMP threads spin while they wait).
    executor : oof_store.distributed.Executor, optional
        Fits the outer folds' stackers as independent tasks (e.g. Ray tasks; the inputs are
        shared once). Seeds are derived per fold, so the result is the plain run's. Each
        task uses ``n_jobs`` threads (default 1 with an executor).

    Returns
    -------
    StackResult
    """
    from blend.metrics import get_metric  # the blend core (no copies here)
    from blend.nested import nested_cv

    t0 = time.perf_counter()
    st = get_stacker(stacker)
    X, y, folds, fold_ids, X_test, extra, extra_test = _check_inputs(
        X, y, folds, task, X_test, extra, extra_test, hpo, seeds
    )
    met = get_metric(metric, task) if metric is not None else get_metric(_default_metric(task), task)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    N, M, C = X.shape
    n_classes = C
    check_params(st, params, task, n_classes)
    base = {**st.default_params(task, n_classes), **(params or {})}
    seed_base = stack_seed_base(rng, len(fold_ids), seeds)

    regression = task == "regression"
    default_jobs = 1 if executor is not None else os.cpu_count()
    workers = int(n_jobs or default_jobs or 1) if st.parallel_fits else 1
    oof = np.zeros(N if regression else (N, C), dtype=np.float64)
    fold_test: list[np.ndarray] = []
    per_fold_params: list[dict[str, Any]] = []
    per_fold_inner: list[float] = []

    def fit_bag(rows: np.ndarray, p: dict[str, Any], seed: int) -> tuple[list[Any], float]:
        """Inner CV on ``rows``: one model per remaining fold; returns models and inner score."""
        inner_ids = np.unique(folds[rows])
        inner_pred = np.zeros(len(rows) if regression else (len(rows), C))

        def one(j: int, fj: int) -> tuple[Any, np.ndarray]:
            va_mask = folds[rows] == fj
            tr, va = rows[~va_mask], rows[va_mask]
            m = fit_one(
                X[tr], _take(extra, tr), y[tr], X[va], _take(extra, va), y[va],
                task=task, n_classes=n_classes, params=p, seed=seed + j,
            )
            inner_pred[va_mask] = st.predict_one(m, X[va], _take(extra, va))
            return m

        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                models = list(pool.map(one, range(len(inner_ids)), inner_ids))
        else:
            models = [one(j, fj) for j, fj in enumerate(inner_ids)]
        score = float(met(y[rows], inner_pred))
        return models, score

    fold_pos = {int(k): i for i, k in enumerate(fold_ids)}
    fit_one = _counted(st.fit_one, progress, _n_fits(st, len(fold_ids), hpo, seeds))
    fit_one.report("model fits")

    def fit_outer(tr_rows: np.ndarray, k: int) -> dict[str, Any]:
        """The outer-fold stacker for held-out fold ``k``, fitted on ``tr_rows`` only.

        A (seeded) bag of inner-CV models; the hyper-parameter search (``hpo``) runs here,
        on those rows, so the nested score covers it.
        """
        seed_k = outer_fold_seed(seed_base, fold_pos[k], seeds)
        if not st.early_stops:
            # Nothing to early-stop: the inner CV only scores the search; the outer-fold
            # stacker is then refitted once (per seed) on all of the outer training rows.
            p, inner_score = base, float("nan")
            if hpo > 0:
                p, _, inner_score = _search(st, fit_bag, tr_rows, base, hpo, seed_k, met, task, n_classes)
            empty = tr_rows[:0]
            models = [
                fit_one(
                    X[tr_rows], _take(extra, tr_rows), y[tr_rows], X[empty], _take(extra, empty), y[empty],
                    task=task, n_classes=n_classes, params=p, seed=seed_k + 10_000 * s,
                )
                for s in range(seeds)
            ]
            return {"fold": k, "models": models, "params": p, "inner": inner_score}
        if hpo > 0:
            p, bag, inner_score = _search(st, fit_bag, tr_rows, base, hpo, seed_k, met, task, n_classes)
            bags = [bag]
            for s in range(1, seeds):
                bags.append(fit_bag(tr_rows, p, seed_k + 10_000 * s)[0])
        else:
            p, bags, scores = base, [], []
            for s in range(seeds):
                b, sc = fit_bag(tr_rows, p, seed_k + 10_000 * s)
                bags.append(b)
                scores.append(sc)
            inner_score = float(np.mean(scores))
        return {"fold": k, "models": [m for b in bags for m in b], "params": p, "inner": inner_score}

    def predict_outer(fitted: dict[str, Any], te_rows: np.ndarray) -> np.ndarray:
        models = fitted["models"]
        pred = np.mean([st.predict_one(m, X[te_rows], _take(extra, te_rows)) for m in models], axis=0)
        oof[te_rows] = pred
        if X_test is not None:
            fold_test.append(np.mean([st.predict_one(m, X_test, extra_test) for m in models], axis=0))
        per_fold_params.append(_jsonable(fitted["params"]))
        per_fold_inner.append(None if math.isnan(fitted["inner"]) else fitted["inner"])
        fitted["models"] = None  # free the fold's models once used
        if progress is not None:
            score = float(met(y[te_rows], pred))
            inner = "" if math.isnan(fitted["inner"]) else f" (inner CV {fitted['inner']:.5f})"
            fit_one.report(f"fold {fitted['fold']}: {met.name} {score:.5f}{inner}", log=True)
        return pred

    run_outer = fit_outer
    if executor is not None:
        from blend.nested import train_rows
        from oof_store.distributed import call

        # the tasks get a copy of fit_one without the progress callback (see _counted);
        # here each finished outer fold advances the count by its fits
        per_outer = _n_fits(st, len(fold_ids), hpo, seeds) // len(fold_ids)

        def on_done(_i: int, _fitted: dict[str, Any]) -> None:
            fit_one.done += per_outer
            fit_one.report("model fits")

        jobs = [(train_rows(folds, k), int(k)) for k in fold_ids]
        fitted = executor.map(call, jobs, shared=fit_outer, on_done=on_done)
        by_fold = {k: (tr, f) for (tr, k), f in zip(jobs, fitted, strict=True)}

        def run_outer(tr_rows: np.ndarray, k: int) -> dict[str, Any]:
            tr, f = by_fold.get(int(k), (None, None))
            if tr is not None and np.array_equal(tr, tr_rows):
                return f
            return fit_outer(tr_rows, k)  # other rows than the tasks': fit them here

    outer = nested_cv(run_outer, predict_outer, folds, y, met)
    fold_scores = list(outer.fold_scores)
    best_base, mean_score = None, None
    if base_preds is not None:
        best_base, mean_score = baseline_scores(base_preds, y, met, task, model_names, folds=folds)
    ft = np.stack(fold_test) if fold_test else None
    settings = {
        "hpo": int(hpo),
        "seeds": int(seeds),
        **(info or {}),
        "defaults": _jsonable(base),
        "per_fold": per_fold_params,
        "inner_scores": per_fold_inner,
    }
    return StackResult(
        stacker=st.name,
        metric=met.name,
        nested_score=float(outer.nested_score),
        fold_scores=tuple(fold_scores),
        best_base=best_base,
        mean_blend_score=mean_score,
        params=settings,
        seconds=time.perf_counter() - t0,
        oof=oof,
        test=None if ft is None else ft.mean(axis=0),
        fold_test=ft,
        fold_ids=tuple(int(f) for f in fold_ids),
        greater_is_better=bool(met.greater_is_better),
    )


def stack_seed_base(rng: np.random.Generator, n_folds: int, seeds: int) -> int:
    """The root of every seed of one :func:`fit_stacker` run (drawn once from ``rng``).

    Compare's ``stack:NAME`` draws its outer-fold seeds the same way (from
    ``np.random.default_rng(seed)``), so it fits the very models ``stack NAME --seed
    seed`` fits.
    """
    return int(rng.integers(0, 2**31 - 1 - 10_000 * (n_folds + 1) * (seeds + 1)))


def outer_fold_seed(seed_base: int, pos: int, seeds: int) -> int:
    """Seed of the outer-fold stacker at position ``pos`` of the sorted fold ids.

    Its bag's model ``j`` (inner fold ``j`` of the sorted remaining folds) of seed ``s``
    uses ``outer_fold_seed(...) + 10_000 * s + j``; a stacker that does not early-stop
    fits one model per seed with ``... + 10_000 * s``.
    """
    return seed_base + 10_000 * pos * (seeds + 1)


def _n_fits(st: Stacker, n_folds: int, hpo: int, seeds: int) -> int:
    """How many ``fit_one`` calls :func:`fit_stacker` makes (for the progress total)."""
    inner = n_folds - 1  # inner folds of each outer fold
    if st.early_stops:
        per_outer = (hpo + seeds - 1) * inner if hpo > 0 else seeds * inner
    else:
        per_outer = hpo * inner + seeds
    return n_folds * per_outer


class _counted:
    """``fit_one`` that reports each finished fit to ``progress`` (thread safe)."""

    def __init__(self, fit_one: Callable[..., Any], progress: Callable[..., None] | None,
                 total: int):
        self._fit, self._progress, self.total = fit_one, progress, total
        self.done = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # a copy sent to another process (an executor's task) counts there and reports
        # nothing: the caller reports per finished task
        return {**self.__dict__, "_progress": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def report(self, message: str = "", *, log: bool = False) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress(self.done, max(self.total, self.done), message, log=log)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        model = self._fit(*args, **kwargs)
        with self._lock:
            self.done += 1
        self.report("model fits")
        return model


def _default_metric(task: str) -> str:
    from blend.metrics import default_metric

    return default_metric(task)
