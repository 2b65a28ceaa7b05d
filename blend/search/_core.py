"""The subset search core: validation, planning, the exhaustive kernels, beam search, nested CV."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import RULES, finalize, to_scores
from blend.metrics import METRICS, Metric, get_metric
from blend.nested import nested_cv
from blend.search import METHODS
from blend.search._kernels import AccuracyKernel, GenericKernel, count_subsets, run_sharded

__all__ = ["SearchPlan", "SearchResult", "SubsetScore", "plan_search", "search_subsets", "beam_search"]

#: what each method did, as the output and the JSON say it
DONE = {"exact": "exact (pruned)", "exhaustive": "exhaustive", "beam": "beam"}


@dataclass(frozen=True)
class SubsetScore:
    """One subset: its models, size, OOF score and per-fold scores."""

    models: tuple[str, ...]
    indices: tuple[int, ...]
    size: int
    score: float
    fold_scores: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "models": list(self.models),
            "size": self.size,
            "score": self.score,
            "fold_scores": list(self.fold_scores),
        }


@dataclass(frozen=True)
class SearchPlan:
    """What a search will do, before it does it."""

    n_models: int
    n_candidates: int
    n_forced: int
    n_subsets: int
    method: str
    kernel: str | None
    est_seconds: float | None
    note: str | None

    def summary(self) -> str:
        est = "" if self.est_seconds is None else (
            f", at most about {_fmt_s(self.est_seconds)} (bounds may prune)" if self.method == "exact"
            else f", about {_fmt_s(self.est_seconds)}")
        what = f"{DONE.get(self.method, self.method)} search over {self.n_subsets:,} subsets of {self.n_models} models{est}"
        return what + (f"; {self.note}" if self.note else "")


@dataclass(frozen=True)
class SearchResult:
    """Best subsets found, best first, with the honest (nested) estimate when asked for."""

    metric: str
    greater_is_better: bool
    rule: str
    method: str
    models: tuple[str, ...]
    n_subsets: int
    n_evaluated: int
    elapsed_s: float
    fold_ids: tuple[int, ...]
    results: tuple[SubsetScore, ...]
    nested_score: float | None = None
    nested_fold_scores: tuple[float, ...] | None = None
    nested_choices: tuple[tuple[str, ...], ...] | None = None
    note: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def best(self) -> SubsetScore:
        return self.results[0]

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "rule": self.rule,
            "method": self.method,
            "done": self.done,
            "models": list(self.models),
            "n_subsets": self.n_subsets,
            "n_evaluated": self.n_evaluated,
            "elapsed_s": self.elapsed_s,
            "fold_ids": list(self.fold_ids),
            "results": [r.to_dict() for r in self.results],
            "nested_score": self.nested_score,
            "nested_fold_scores": None if self.nested_fold_scores is None else list(self.nested_fold_scores),
            "nested_choices": None if self.nested_choices is None else [list(c) for c in self.nested_choices],
            "note": self.note,
            **self.extra,
        }

    @property
    def done(self) -> str:
        """What was done: ``exact (pruned)``, ``exhaustive`` or ``beam``."""
        return DONE.get(self.method, self.method)

    def summary(self) -> str:
        pruned = self.extra.get("pruned_fraction")
        how = f" ({pruned:.1%} pruned by bounds)" if self.method == "exact" and pruned is not None else ""
        lines = [
            f"{self.done} search, metric {self.metric}, rule {self.rule}: "
            f"{self.n_evaluated:,} of {self.n_subsets:,} subsets scored{how} in "
            f"{_fmt_s(self.elapsed_s)}"
        ]
        if self.results:
            b = self.best
            lines.append(f"best {b.score:.6f} with {b.size} models: {', '.join(b.models)}")
        if self.nested_score is not None:
            lines.append(f"nested (held-out) score of the selection: {self.nested_score:.6f} "
                         f"(in-sample best {self.best.score:.6f})")
            for k, (fid, choice) in enumerate(zip(self.fold_ids, self.nested_choices or (), strict=False)):
                lines.append(f"  fold {fid}: chose {', '.join(choice)}, held-out "
                             f"{self.nested_fold_scores[k]:.6f}")
        cert = self.extra.get("certificate")
        if cert:
            lines.append(cert["text"])
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _fmt_s(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


# -- validation -------------------------------------------------------------------------------


def _resolve(items, names: list[str], what: str) -> list[int]:
    out = []
    for it in items or ():
        if isinstance(it, str):
            if it not in names:
                raise BlendError(f"{what}: unknown model {it!r}; models are {', '.join(names)}")
            out.append(names.index(it))
        else:
            i = int(it)
            if not 0 <= i < len(names):
                raise BlendError(f"{what}: model index {i} out of range 0..{len(names) - 1}")
            out.append(i)
    return sorted(set(out))


@dataclass
class _Prepared:
    S: np.ndarray
    y: np.ndarray
    labels: np.ndarray | None
    folds: np.ndarray | None
    names: list[str]
    cand: list[int]
    forced: list[int]
    min_size: int
    max_size: int
    metric: Metric
    rule: str
    kind: str
    fast: bool


def _prepare(P, y, folds, *, metric, rule, kind, tta_weights, min_size, max_size, must_include,
             exclude, names) -> _Prepared:
    P = np.asarray(P)
    if P.ndim not in (3, 4):
        raise BlendError(f"predictions must have shape (models, [tta,] rows, classes), got {P.shape}")
    M, N = P.shape[0], P.shape[-2]
    names = [str(n) for n in names] if names is not None else [f"m{i}" for i in range(M)]
    if len(names) != M:
        raise BlendError(f"got {len(names)} model names for {M} models")
    if M < 2:
        raise BlendError(
            f"subset search needs at least 2 models, the input has {M} ({', '.join(names)}); "
            "add models to the store"
        )
    y = np.asarray(y)
    if y.shape[0] != N:
        raise BlendError(f"targets have {y.shape[0]} rows but predictions have {N}")
    if folds is not None:
        folds = np.asarray(folds)
        if folds.shape != (N,):
            raise BlendError(f"folds must have shape ({N},), got {folds.shape}")
    if rule not in RULES:
        raise BlendError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    m = get_metric(metric)
    forced = _resolve(must_include, names, "must_include")
    excl = _resolve(exclude, names, "exclude")
    both = set(forced) & set(excl)
    if both:
        raise BlendError(
            f"models {', '.join(names[i] for i in sorted(both))} are both required and excluded"
        )
    cand = [i for i in range(M) if i not in set(forced) and i not in set(excl)]
    n_avail = len(cand) + len(forced)
    max_size = n_avail if max_size is None else int(max_size)
    min_size = int(min_size)
    if min_size < 1:
        raise BlendError(f"min_size must be >= 1, got {min_size}")
    if not min_size <= max_size:
        raise BlendError(f"min_size <= max_size must hold, but got {min_size} > {max_size}")
    if max_size < len(forced):
        raise BlendError(f"max_size {max_size} is smaller than the {len(forced)} required models")
    if min_size > n_avail:
        raise BlendError(f"min_size {min_size} exceeds the {n_avail} models available")
    S = to_scores(P, rule=rule, kind=kind, tta_weights=tta_weights)
    classification = S.shape[-1] > 1 and kind != "raw"
    labels = None
    if classification:
        labels = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
    fast = m is METRICS["accuracy"] and classification
    return _Prepared(S, y, labels, folds, names, cand, forced, min_size, max_size, m, rule, kind, fast)


def _best_first(prep: _Prepared, S: np.ndarray, labels: np.ndarray) -> list[int]:
    """The candidates ordered for the accuracy kernel so that the K-th best rises fast.

    The kernel tabulates its last ``inner_bits`` candidates (every subset of them is scored
    with each outer subset) and its Gray-code walk flips the first outer bits most often: the
    most accurate models go to the inner table, the next ones to the first outer bits, so
    the first outer subsets walked are subsets of the best models. The results are the same
    in any order (the kernel's masks are mapped back through ``kernel.cand``).
    """
    acc = [float(np.mean(S[c].argmax(axis=-1) == labels)) for c in prep.cand]
    by = sorted(range(len(prep.cand)), key=lambda i: (-acc[i], i))
    b = min(10, len(by))
    return [prep.cand[i] for i in by[b:] + by[:b]]


def _kernel(prep: _Prepared, rows=None, inner_bits: int = 10):
    S = prep.S if rows is None else prep.S[:, rows]
    if prep.fast:
        labels = prep.labels if rows is None else prep.labels[rows]
        return AccuracyKernel(S, labels, _best_first(prep, S, labels), prep.forced, prep.min_size,
                              prep.max_size, inner_bits=inner_bits)
    y = prep.y if rows is None else prep.y[rows]
    return GenericKernel(S, y, prep.cand, prep.forced, prep.min_size, prep.max_size,
                         metric=prep.metric, rule=prep.rule, kind=prep.kind)


def _choose(prep: _Prepared, method: str, time_budget: float, n_jobs: int, device=None,
            executor=None):
    n_sub = count_subsets(len(prep.cand), len(prep.forced), prep.min_size, prep.max_size)
    if method not in METHODS:
        raise BlendError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    kernel, est, notes = None, None, []
    # branch and bound needs a bound on the best score any completion of a partial subset can
    # reach: the accuracy kernel has one (rows surely wrong whatever the undecided models)
    bounded = prep.fast and device is None and executor is None
    if method == "exact" and not bounded:
        why = (f"metric {prep.metric.name} has no bound for branch and bound (only accuracy on "
               "class labels has)" if not prep.fast else
               "the pruned search runs on the CPU in this process only (no --device, no --ray)")
        notes.append(f"--method exact: {why}; searching as --method auto does")
        method = "auto"
    if method in ("auto", "exhaustive", "exact"):
        if len(prep.cand) > 40:
            if method != "auto":
                raise BlendError(f"{len(prep.cand)} candidate models are too many for an {method} search")
            notes.append(f"{n_sub:.3g} subsets cannot be enumerated; using beam search instead")
            method = "beam"
        else:
            kernel = _kernel(prep)
            full = "exact" if bounded else "exhaustive"
            if device is not None and prep.fast:
                # the torch path streams every subset through a matrix product; its time is
                # not estimated here: it is taken up to 30 candidates (2**30 subsets)
                est = None
                if len(prep.cand) > 30 and method == "auto":
                    method = "beam"
                    notes.append(f"{n_sub:,} subsets are too many for the {device} path; using beam search instead")
                elif method == "auto":
                    method = "exhaustive"
            elif executor is not None and executor.n_workers > 1:
                # shards on the executor's workers, one thread each
                est = kernel.estimate_seconds(n_jobs=1, keep=False) / executor.n_workers
            else:
                est = kernel.estimate_seconds(n_jobs=n_jobs)
            if method == "auto":
                if est <= time_budget:
                    method = full
                else:
                    notes.append(
                        f"an exact search of {n_sub:,} subsets would take about {_fmt_s(est)}, "
                        f"over the {_fmt_s(time_budget)} budget; using beam search instead "
                        "(a heuristic: the results are good subsets, not proven best)")
                    method = "beam"
    name = ("accuracy-margins" + (f"-torch-{device}" if device is not None else "")) if prep.fast else "generic"
    plan = SearchPlan(len(prep.names), len(prep.cand), len(prep.forced), n_sub, method,
                      name if method in ("exhaustive", "exact") else None, est,
                      "; ".join(notes) or None)
    return plan, kernel


def plan_search(P, y, folds=None, *, metric="accuracy", rule="prob", kind="probs", tta_weights=None,
                min_size=1, max_size=None, must_include=(), exclude=(), names=None,
                method="auto", time_budget=120.0, n_jobs=2, device=None) -> SearchPlan:
    """How many subsets a search covers, the method it will use and about how long it takes."""
    prep = _prepare(P, y, folds, metric=metric, rule=rule, kind=kind, tta_weights=tta_weights,
                    min_size=min_size, max_size=max_size, must_include=must_include,
                    exclude=exclude, names=names)
    return _choose(prep, method, time_budget, n_jobs, device)[0]


# -- evaluation of given subsets --------------------------------------------------------------


def _blend(prep: _Prepared, subset: Sequence[int], rows=None) -> np.ndarray:
    # the models' scores added in order into one array (the same float64 sum as
    # ``S[subset].sum(axis=0)``, without copying the subset's scores first)
    def scores(i: int) -> np.ndarray:
        return prep.S[i] if rows is None else prep.S[i, rows]

    total = np.array(scores(subset[0]), dtype=np.float64)  # a copy
    for i in subset[1:]:
        total += scores(i)
    P = finalize(total / len(subset), rule=prep.rule, kind=prep.kind)
    return P[:, 0] if P.shape[-1] == 1 else P


def _score(prep: _Prepared, subset, rows=None) -> float:
    y = prep.y if rows is None else prep.y[rows]
    return prep.metric(y, _blend(prep, subset, rows))


def beam_search(prep: _Prepared, top: int, width: int | None = None, rows=None,
                deadline: float | None = None, patience: int = 2):
    """Beam search over subsets: grow the ``width`` best subsets of each size by one model.

    Starts from the required models (or single models), adds one candidate at a time,
    keeps the ``width`` best of each size, and stops at ``max_size`` or after ``patience``
    sizes without a better best score. Returns ``[(indices, score), ...]`` best first.
    """
    width = max(top, 16) if width is None else width
    m = prep.metric
    seen: dict[tuple[int, ...], float] = {}

    def evaluate(subsets):
        out = []
        for s in subsets:
            if s not in seen:
                seen[s] = _score(prep, s, rows)
            out.append((s, seen[s]))
        return out

    forced = tuple(prep.forced)
    beam = [forced] if forced else [()]
    best_gain, stale = -np.inf, 0
    for size in range(max(len(forced), 0) + 1, prep.max_size + 1):
        grown = sorted({tuple(sorted(s + (c,))) for s in beam for c in prep.cand if c not in s})
        if not grown:
            break
        scored = evaluate(grown)
        scored.sort(key=lambda r: (-m.gain(r[1]), r[0]))
        beam = [s for s, _ in scored[:width]]
        level_best = m.gain(scored[0][1])
        if size >= prep.min_size:
            if level_best > best_gain:
                best_gain, stale = level_best, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        if deadline is not None and time.perf_counter() > deadline:
            break
    if forced and prep.min_size <= len(forced):
        evaluate([forced])
    rows_out = [(s, v) for s, v in seen.items() if prep.min_size <= len(s) <= prep.max_size]
    rows_out.sort(key=lambda r: (-m.gain(r[1]), len(r[0]), r[0]))
    return rows_out[:top], len(seen)


def _run(prep: _Prepared, method: str, kernel, top: int, rows=None, progress=None, n_jobs=2,
         beam_width=None, device=None, executor=None, stats=None):
    """Best ``top`` subsets on ``rows`` as ([(indices, score)], n_scored)."""
    if method == "beam":
        return beam_search(prep, top, beam_width, rows)
    if kernel is None:
        kernel = _kernel(prep, rows)
    if device is not None and prep.fast:
        from blend.search._torch import torch_accuracy_search

        _, masks = torch_accuracy_search(kernel, top, device=device, progress=progress)
    elif executor is not None:
        _, masks = run_sharded(kernel, top, executor, progress=progress, stats=stats)
    elif prep.fast:
        _, masks = kernel.run(top, progress=progress, n_jobs=n_jobs, prune=method == "exact")
    else:
        _, masks = kernel.run(top, progress=progress, n_jobs=n_jobs)
    # every subset returned is rescored exactly and the list re-sorted in the search's order:
    # the kernel's ranking is never trusted at near-ties. For accuracy, a subset whose rows
    # surely right and possibly right are as many has an exact count (no row is within the
    # fixed point's guard of its decision): its accuracy is that count over the rows, the
    # value the float64 metric gives; the others are rescored in float64 by the core metric.
    m = prep.metric
    out = []
    cand = kernel.cand
    exact = np.full(len(masks), -1, dtype=np.int64)
    if prep.fast and len(masks):
        sure, upper = kernel.sure_counts(masks), kernel.sure_counts(masks, sure=False)
        exact = np.where(sure == upper, sure, -1)
    n_rows = len(prep.y) if rows is None else len(rows)
    for mask, count in zip(masks.tolist(), exact.tolist(), strict=True):
        chosen = [cand[p] for p in range(len(cand)) if (mask >> p) & 1]
        subset = tuple(sorted(prep.forced + chosen))
        out.append((subset, count / n_rows if count >= 0 else _score(prep, subset, rows)))
    out.sort(key=lambda r: (-m.gain(r[1]), len(r[0]), r[0]))
    n_sub = count_subsets(len(prep.cand), len(prep.forced), prep.min_size, prep.max_size)
    return out[:top], n_sub - int(getattr(kernel, "n_pruned", 0))


def search_subsets(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray | None = None,
    *,
    metric: str | Metric | Callable = "accuracy",
    rule: str = "prob",
    kind: str = "probs",
    tta_weights=None,
    top: int = 50,
    min_size: int = 1,
    max_size: int | None = None,
    must_include: Sequence[int | str] = (),
    exclude: Sequence[int | str] = (),
    names: Sequence[str] | None = None,
    method: str = "auto",
    time_budget: float = 120.0,
    beam_width: int | None = None,
    nested: bool = False,
    n_jobs: int = 2,
    progress: Callable[[int], None] | None = None,
    device: str | None = None,
    on_plan: Callable[[SearchPlan], None] | None = None,
    rng: np.random.Generator | None = None,
    executor: Any = None,
) -> SearchResult:
    """Find the best subsets of models to blend with equal weights.

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes) or (n_models, n_rows, n_classes)
        OOF predictions as loaded from the store (``kind`` says what they hold).
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Targets as ``Store.y``.
    folds : ndarray of shape (n_rows,), optional
        Fold id of each row: per-fold scores, and ``nested=True``.
    metric : str, Metric or callable
        See :mod:`blend.metrics`; ``accuracy`` uses the exact margin kernel.
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
    tta_weights : array-like of shape (n_tta,), optional
    top : int
        How many subsets to return.
    min_size, max_size : int
        Subset sizes, counting required models.
    must_include, exclude : sequences of model indices or names
    names : sequence of str, optional
        Model names (default ``m0, m1, ...``).
    method : {"auto", "exact", "exhaustive", "beam"}
        ``exact``: branch and bound (accuracy on class labels: every subset is scored or
        ruled out by a proven bound; the same top ``top`` as ``exhaustive``; other metrics
        have no bound: the note says so and it searches as ``auto``). ``exhaustive`` scores
        every subset. ``auto`` is ``exact`` (accuracy) or ``exhaustive`` when the estimated
        time fits ``time_budget`` seconds, else beam search (the result's ``note`` says so,
        and for accuracy ``extra["certificate"]`` bounds how far the beam's K-th best can be
        from the true K-th best).
    beam_width : int, optional
        Beam width (default ``max(top, 16)``).
    nested : bool
        Also run the selection inside nested CV over ``folds`` and report its held-out score.
    n_jobs : int
        Threads for the accuracy kernel.
    progress : callable, optional
        Called with the number of subsets scored since the last call.
    device : str, optional
        A torch device (``"cuda"``) for the accuracy search: every subset's margins in one
        float64 matrix product per chunk, exact (see ``blend.search._torch``). Other
        metrics ignore it.
    on_plan : callable, optional
        Called with the :class:`SearchPlan` (subsets, method, estimated time) before the
        search starts.
    rng : numpy.random.Generator, optional
        Unused (the search is deterministic); accepted for the common core signature.
    executor : oof_store.distributed.Executor, optional
        Runs the exhaustive walk as shards (ranges of the outer Gray-code walk) on its
        workers, e.g. Ray tasks, and merges their top-k: the same results, ties included
        (see ``blend.search._kernels.shard_bounds``). The nested CV's searches are
        sharded too. The result's ``extra["shards"]`` has the shard and merge times.

    Returns
    -------
    SearchResult
        Subsets ordered best first; ties: smaller subset, then lexicographically smaller
        model indices.
    """
    if int(top) < 1:
        raise BlendError(f"top must be >= 1, got {top}")
    if nested and folds is None:
        raise BlendError("nested=True needs the fold assignment (folds)")
    t0 = time.perf_counter()
    prep = _prepare(P, y, folds, metric=metric, rule=rule, kind=kind, tta_weights=tta_weights,
                    min_size=min_size, max_size=max_size, must_include=must_include,
                    exclude=exclude, names=names)
    plan, kernel = _choose(prep, method, time_budget, n_jobs, device, executor)
    if on_plan is not None:
        on_plan(plan)
    stats: dict = {}
    found, n_eval = _run(prep, plan.method, kernel, int(top), progress=progress, n_jobs=n_jobs,
                         beam_width=beam_width, device=device, executor=executor, stats=stats)
    note = plan.note
    if getattr(kernel, "truncated", False):
        note = ((note + "; ") if note else "") + (
            "more than 200,000 subsets tie within the fixed-point resolution: only the most "
            "promising were rescored in float64, so the order near the K-th may be approximate")
    fold_ids = tuple(int(k) for k in np.unique(folds)) if folds is not None else ()
    results = []
    fold_rows = [np.flatnonzero(folds == k) for k in fold_ids]
    for subset, score in found:
        blend = _blend(prep, subset) if fold_ids else None  # row-wise: one blend, sliced per fold
        fs = tuple(prep.metric(prep.y[r], blend[r]) for r in fold_rows)
        results.append(SubsetScore(tuple(prep.names[i] for i in subset), subset, len(subset),
                                   float(score), fs))
    nested_score = nested_folds = nested_choices = None
    if nested:
        def fit(train_idx, _fold):
            return _run(prep, plan.method, None, 1, rows=train_idx, n_jobs=n_jobs,
                        beam_width=beam_width, device=device, executor=executor)[0][0][0]

        def predict(subset, idx):
            return _blend(prep, subset, idx)

        res = nested_cv(fit, predict, folds, prep.y, prep.metric)
        nested_score, nested_folds = res.nested_score, res.fold_scores
        nested_choices = tuple(tuple(prep.names[i] for i in s) for s in res.fold_results)
    return SearchResult(
        metric=prep.metric.name,
        greater_is_better=prep.metric.greater_is_better,
        rule=rule,
        method=plan.method,
        models=tuple(prep.names),
        n_subsets=plan.n_subsets,
        n_evaluated=int(n_eval),
        elapsed_s=time.perf_counter() - t0,
        fold_ids=fold_ids,
        results=tuple(results),
        nested_score=nested_score,
        nested_fold_scores=nested_folds,
        nested_choices=nested_choices,
        note=note,
        extra=_extra(prep, plan, found, n_eval, stats, kernel),
    )


def _extra(prep: _Prepared, plan: SearchPlan, found, n_eval: int, stats: dict, kernel) -> dict:
    """What was done, for the output and the JSON: scored and pruned counts, the certificate."""
    extra: dict = {"shards": stats} if stats else {}
    extra["subsets_scored"] = int(n_eval)
    extra["pruned_fraction"] = (1.0 - n_eval / plan.n_subsets if plan.method == "exact" and plan.n_subsets
                                else 0.0 if plan.method in ("exact", "exhaustive") else None)
    extra["certificate"] = None
    if plan.method == "beam" and found:
        if prep.fast:
            from blend.search._bounds import beam_certificate

            extra["certificate"] = beam_certificate(
                prep.S, prep.labels, prep.cand, prep.forced, prep.min_size, prep.max_size,
                found[-1][1], len(found))
        else:
            extra["certificate_note"] = (f"no certificate: metric {prep.metric.name} has no "
                                         "bound (only accuracy on class labels has)")
    return extra
