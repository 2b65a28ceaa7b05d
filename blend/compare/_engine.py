"""The engine: candidates fitted once per set of held-out folds, cached, predicted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

import blend.nested as nested
from blend._errors import BlendError
from blend.compare._data import COMPLEXITY, CompareData
from blend.compare._labels import TracedLabels, traced
from blend.compare._recommend import CandidateScore, _fold_stats
from blend.metrics import Metric
from oof_common.core import blas_limit


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


def _as_2d(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    return pred[:, None] if pred.ndim == 1 else pred


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
        #: the only way to the labels (see :class:`blend.compare._labels.TracedLabels`)
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
        """Row indices of every fold not in ``held`` (:func:`blend.nested.train_rows`).

        Looked up in :mod:`blend.nested` at each call, so the leakage suite's planted leak
        there reaches every compare fit too.
        """
        return nested.train_rows(np.asarray(self.data.folds), held)

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

    def _bootstrap(self, preds: dict[str, dict[int, np.ndarray]],
                   outer: int | None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Paired bootstrap over the pooled rows: ``(z over the mean, replicate gains)``.

        Every candidate is scored on the same ``n_boot`` draws of the rows
        (:func:`blend.compare._recommend.bootstrap_gains`); the recommendation takes its
        paired differences from the replicates.
        """
        from blend.compare._recommend import bootstrap_gains, paired_gain

        ks = sorted(next(iter(preds.values()))) if preds else []
        if not ks:
            return {}, {}
        rows = np.concatenate([self.fold_rows(k) for k in ks])
        y = self.labels(rows)
        P = {n: np.concatenate([p[k] for k in ks]) for n, p in preds.items()}
        rng = np.random.default_rng([self.seed, 7919, 0 if outer is None else 1 + outer])
        boot = bootstrap_gains(self.metric, y, P, n_boot=self.n_boot, rng=rng,
                               gain=self.metric.gain)
        z = {n: paired_gain(boot, n, "mean").z for n in P if n != "mean"} if "mean" in P else {}
        return z, boot.reps

    def _score_set(self, key: Callable[[int], frozenset], ks: Sequence[int],
                   outer: int | None) -> list[CandidateScore]:
        preds = {c.name: {k: self.predict(c, key(k), k) for k in ks} for c in self.candidates}
        z, reps = self._bootstrap(preds, outer)
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
                                      z.get(c.name, float("nan")), reps.get(c.name)))
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
