"""The comparison: check the data, run the engine, recommend, score the procedure."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._checks import check_rows
from blend._errors import BlendError
from blend.compare._candidates import (
    build_candidates,
)
from blend.compare._data import CompareData
from blend.compare._engine import Comparison
from blend.compare._labels import traced
from blend.compare._recommend import CandidateScore, recommend
from blend.metrics import Metric, get_metric
from oof_common.core import blas_limit

__all__ = ["CompareResult", "compare"]


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
    time_plan : blend.compare._budget.TimePlan or None
        With ``time_limit``: what was planned, kept and skipped.
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
    time_plan: Any = field(default=None, repr=False, compare=False)

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
    time_limit: float | str | None = None,
    on_plan: Callable[[Any], None] | None = None,
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
    time_limit : float or str, optional
        Seconds, or a duration such as ``"15m"``: the whole comparison, procedure loop
        included, is planned to end within it (:func:`blend.compare._budget.fit_within`:
        strongest candidates first, each estimated from its first fit; what does not fit is
        skipped and named in the notes; stackers bagged over 2 seeds when that fits too).
    on_plan : callable, optional
        ``on_plan(TimePlan)`` once the time plan is made (``TimePlan.line()`` is the line
        ``blend compare`` prints).

    Returns
    -------
    CompareResult
    """
    with blas_limit(1):
        return _compare(data, metric=metric, methods=methods, budget=budget,
                        procedure=procedure, seed=seed, n_jobs=n_jobs, progress=progress,
                        executor=executor, time_limit=time_limit, on_plan=on_plan)


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
    check_rows(data.y, data.folds, N)
    bad = ~np.isfinite(P).all(axis=(1, 2, 3))
    if bad.any():
        raise BlendError(f"model {data.models[int(np.flatnonzero(bad)[0])]!r} has NaN or "
                         "infinite predictions; re-export it or leave it out of --models")


def _compare(data, *, metric, methods, budget, procedure, seed, n_jobs, progress, executor=None,
             time_limit=None, on_plan=None):
    from blend.compare._budget import fit_within, parse_time_limit
    from blend.metrics import default_metric

    t0 = time.perf_counter()
    limit = parse_time_limit(time_limit)
    if limit is not None and executor is not None:
        raise BlendError("--time-limit plans the fits in this process; drop --ray (or the limit)")
    _check_data(data)
    data = traced(data)  # from here on no raw label array: every read is recorded
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
    time_plan = None
    if limit is not None:
        time_plan = fit_within(eng, plan, limit, t0, procedure=procedure, on_plan=on_plan)
        eng.total = max(eng.done, sum(len(v) for v in plan.values()))
        notes.append(time_plan.line())
    else:
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
        time_plan=time_plan,
    )
