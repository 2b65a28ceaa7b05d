"""``blend compare --time-limit``: what fits in a wall-clock budget, strongest candidates first.

The planner measures instead of guessing: for each candidate, in the order stackers, level
3, weights, selections (the plain mean costs nothing and always runs), it makes the
candidate's first outer-fold fit (a fit the comparison needs anyway), and extrapolates the
rest of the candidate's fits from it by their number of training rows. A candidate is kept
when its estimate, with a reserve for the scoring (bootstrap replicates on every row of
every candidate, in every outer fold of the procedure loop), still fits in what is left of
the limit (:data:`PLAN_SHARE` of it: estimates are rough on a busy machine); otherwise it
is skipped and named; a level 3 whose stacker is skipped blends the base models and the
stackers that stay (without the base models it needs two). Stackers feeding level 3 inside the procedure
loop also need their fits without three folds, counted with level 3. When every kept
candidate fits and the stackers' fits fit twice more, the stackers are bagged over two
seeds. While fitting, a candidate whose turn comes after the limit's share for fitting has
run out is skipped too (and said so), and a candidate still fitting when the time is up
is stopped between two of its fits and skipped, so the limit holds even when an estimate
was low (by at most one fit, and the scoring).
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._errors import BlendError

__all__ = ["TimePlan", "parse_time_limit", "fit_within"]

#: Share of the limit the plan fills (estimates are rough on a busy machine).
PLAN_SHARE = 0.85

#: Planning order (strongest first); the plain mean and the best single model are cheap
#: baselines and always run.
ALWAYS = ("mean", "best single")
PRIORITY = {"stacker": 0, "level3": 1, "weights": 2, "cuts": 2, "selection": 3, "mean": 4}

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_time_limit(text: str | float | int | None) -> float | None:
    """``"15m"``, ``"1h30m"``, ``"90s"``, ``"900"`` or a number of seconds -> seconds.

    Raises
    ------
    BlendError
        For anything else, or a limit that is not positive.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)):
        sec = float(text)
    else:
        t = str(text).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms]?)", t)
        if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([hms]?)", "", t).strip():
            raise BlendError(f"--time-limit {text!r}: give seconds or a duration such as 15m, "
                             "1h30m, 90s")
        sec = sum(float(v) * _UNITS[u] for v, u in parts)
    if not math.isfinite(sec) or sec <= 0:
        raise BlendError(f"--time-limit must be positive; got {text!r}")
    return sec


def _fmt(sec: float) -> str:
    sec = max(0.0, sec)
    if sec >= 60:
        return f"{int(sec // 60)}m{int(round(sec % 60)):02d}s"
    return f"{sec:.0f}s"


@dataclass
class TimePlan:
    """What ``--time-limit`` planned and did.

    Attributes
    ----------
    limit : float
        Seconds.
    estimate : float
        Estimated seconds of the whole run when the plan was made (time spent so far,
        the planned fits and the scoring reserve).
    kept : dict
        Candidate -> its estimated seconds (measured probe included).
    skipped : dict
        Candidate -> why it was skipped.
    seeds : int
        Seeds the stackers are bagged over.
    """

    limit: float
    estimate: float = 0.0
    kept: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seeds: int = 1

    def line(self) -> str:
        """The plan line ``blend compare`` prints before fitting the rest."""
        kept = ", ".join(f"{n} {_fmt(s)}" for n, s in self.kept.items())
        out = (f"plan for --time-limit {_fmt(self.limit)}: estimated {_fmt(self.estimate)} in "
               f"all; strongest first: {kept or 'the plain mean only'}")
        if self.seeds > 1:
            out += f"; stackers bagged over {self.seeds} seeds"
        if self.skipped:
            out += "; skipped: " + "; ".join(f"{n} ({why})" for n, why in self.skipped.items())
        return out


def _train_size(eng: Any, held: frozenset) -> int:
    return eng.N - sum(len(eng.fold_rows(k)) for k in held)


def _scoring_reserve(eng: Any, n_cands: int, procedure: bool) -> float:
    """Seconds the scoring will take: bootstrap replicates of every candidate, all rows."""
    rows = np.arange(eng.N)
    y = eng.data.y
    pred = np.full((eng.N, eng.data.probs.shape[-1]), 1.0 / eng.data.probs.shape[-1])
    if eng.data.regression:
        pred = np.zeros((eng.N, 1))
    one = math.inf
    for _ in range(3):  # the first call may import the metric's library
        t = time.perf_counter()
        eng.metric(y[rows], pred)
        one = min(one, time.perf_counter() - t)
    passes = 1 + (len(eng.fold_ids) * (len(eng.fold_ids) - 1) / len(eng.fold_ids) if procedure else 0)
    return 1.5 * one * (eng.n_boot + 2) * n_cands * passes


def _speedup(eng: Any, cand: Any) -> float:
    if cand.kind != "stacker" or not cand.extra.get("parallel"):
        return 1.0
    return max(1.0, 0.75 * min(eng.n_jobs, os.cpu_count() or 1))


def fit_within(eng: Any, plan: dict[str, list[frozenset]], limit: float, t0: float, *,
               procedure: bool, extra_seeds: bool = True,
               on_plan: Any = None) -> TimePlan:
    """Plan and fit the candidates of ``eng`` within ``limit`` seconds from ``t0``.

    Skipped candidates are removed from ``eng`` and ``plan`` (in place); every kept
    candidate's planned fits are in the engine's cache when this returns.

    Parameters
    ----------
    eng : Comparison
    plan : dict
        Candidate -> the held-out fold sets it will be fitted for (``Comparison._plan``).
    limit, t0 : float
        Seconds, and the ``time.perf_counter()`` the limit counts from.
    procedure : bool
        Whether the procedure loop runs (its scoring is reserved for).
    extra_seeds : bool
        Bag the stackers over 2 seeds when that fits too.
    on_plan : callable, optional
        ``on_plan(TimePlan)`` once the plan is made, before the remaining fits.
    """
    tp = TimePlan(limit)
    K = eng.fold_ids
    probe = frozenset({K[0]})
    order = sorted((c for c in eng.candidates if c.name not in ALWAYS),
                   key=lambda c: (PRIORITY[c.kind], eng.candidates.index(c)))
    base = _train_size(eng, probe)

    def left(share: float = PLAN_SHARE) -> float:
        return share * limit - (time.perf_counter() - t0)

    committed = 0.0  # estimated seconds of the kept candidates' remaining fits
    triple_cost: dict[str, float] = {}
    triples: dict[str, float] = {}  # each stacker's fits without three folds, as estimated
    per_fit: dict[str, float] = {}
    n_kept = len(ALWAYS)
    for i, c in enumerate(order):
        if c.kind == "level3" and any(d in tp.skipped for d in c.depends):
            c = _over_kept(eng, plan, tp, c)
            if c is None:
                continue
            order[i] = c
        reserve = _scoring_reserve(eng, n_kept + 1, procedure)
        if left() - committed - reserve <= 0:
            tp.skipped[c.name] = "no time left to try it"
            continue
        if c.kind == "level3":
            # its stackers' fits without {k0, i} first (planned for them anyway), so the
            # probe times level 3's own fit
            need = {d: [h for h in plan[d] if len(h) == 2 and K[0] in h and not _has(eng, d, h)]
                    for d in c.depends}
            eng.prefit_stackers({**dict.fromkeys(plan, []), **need})
        t = time.perf_counter()
        eng.fit(c, probe)
        t = time.perf_counter() - t
        per_fit[c.name] = t
        rest = [h for h in plan[c.name] if h != probe and len(h) < len(K)]
        singles_pairs = [h for h in rest if len(h) <= 2]
        est = t * sum(_train_size(eng, h) / base for h in singles_pairs) / _speedup(eng, c)
        if c.kind == "stacker":
            triple_cost[c.name] = t * sum(_train_size(eng, h) / base for h in rest
                                          if len(h) == 3) / _speedup(eng, c)
            triples[c.name] = triple_cost[c.name]
        extra = 0.0
        if c.kind == "level3":
            # the fits without three folds of its stackers, unless another level 3 has them
            need = [d for d in c.depends if triple_cost.get(d, 0.0) > 0]
            extra = sum(triple_cost[d] for d in need)
            est = t * len(rest) + extra
        if est <= left() - committed - reserve:
            committed += est
            tp.kept[c.name] = t + est
            n_kept += 1
            if c.kind == "level3":
                for d in c.depends:
                    triple_cost[d] = 0.0  # counted once
        else:
            tp.skipped[c.name] = f"estimated {_fmt(est + t)}, {_fmt(max(0.0, left() - committed))} left"
    # stackers whose triples no kept level 3 needs: drop those fits from the plan
    if not any(c.kind == "level3" and c.name in tp.kept for c in eng.candidates):
        for c in eng.candidates:
            if c.kind == "stacker":
                plan[c.name] = [h for h in plan[c.name] if len(h) <= 2]
    _drop(eng, plan, set(tp.skipped))
    # a second seed changes only stackers whose fits are seeded (early-stopped, sampled):
    # the linear stacker is deterministic
    stackers = [c for c in eng.candidates if c.kind == "stacker" and c.extra.get("seeded", True)]
    if extra_seeds and stackers and all(c.extra.get("seeds", 1) == 1 for c in stackers):
        with_l3 = any(c.kind == "level3" for c in eng.candidates)
        more = sum(tp.kept[c.name] + (triples.get(c.name, 0.0) if with_l3 else 0.0)
                   for c in stackers)
        reserve = _scoring_reserve(eng, n_kept, procedure)
        if more <= left() - committed - reserve:
            for c in stackers:
                c.extra["seeds"] = 2
                c.note += ", bagged over 2 seeds (--time-limit)"
                tp.kept[c.name] *= 2
                _forget(eng, c.name)  # the probe was one seed: refit it
            committed += more
            tp.seeds = 2
    tp.estimate = (time.perf_counter() - t0) + committed + _scoring_reserve(eng, n_kept, procedure)
    if on_plan is not None:
        on_plan(tp)
    # fit the rest, strongest first; a candidate whose turn comes too late is skipped
    for c in sorted(eng.candidates, key=lambda c: (PRIORITY[c.kind], eng.candidates.index(c))):
        if c.name in ALWAYS:
            continue
        c = eng.by_name.get(c.name)  # skipped, or rebuilt over fewer stackers, meanwhile
        if c is None:
            continue
        if c.kind == "level3" and any(d not in eng.by_name for d in c.depends):
            c = _over_kept(eng, plan, tp, c)
            if c is None:
                continue
        reserve = _scoring_reserve(eng, len(eng.candidates), procedure)
        todo = [h for h in plan[c.name] if len(h) < len(K) and not _has(eng, c.name, h)]
        if todo and left(1.0) - reserve < 0.5 * tp.kept.get(c.name, 0.0):
            _skip_late(eng, plan, tp, c.name, "ran out of time while fitting")
            continue
        # in chunks, the clock checked between them: a low estimate costs at most a chunk
        step = max(1, eng.n_jobs) if c.kind == "stacker" else 1
        for i in range(0, len(todo), step):
            if i and left(1.0) - reserve < 0:
                _skip_late(eng, plan, tp, c.name, "ran out of time while fitting")
                break
            if c.kind == "stacker":
                eng.prefit_stackers({**dict.fromkeys(plan, []), c.name: todo[i:i + step]})
            else:
                eng.fit(c, todo[i])
    return tp


def _has(eng: Any, name: str, held: frozenset) -> bool:
    return (name, frozenset(held)) in eng._fits


def _forget(eng: Any, name: str) -> None:
    """Drop a candidate's cached fits (the stackers' and every level 3 built on them)."""
    gone = {name} | {c.name for c in eng.candidates if name in c.depends}
    for key in [k for k in eng._fits if k[0] in gone]:
        eng._fits.pop(key, None)
        eng.fit_rows.pop(key, None)


def _skip_late(eng: Any, plan: dict, tp: TimePlan, name: str, why: str) -> None:
    """Skip ``name`` while fitting; a level 3 on it goes on over its other stackers."""
    tp.kept.pop(name, None)
    tp.skipped[name] = why
    _drop(eng, plan, {name})
    for c in [c for c in eng.candidates if name in c.depends]:
        _over_kept(eng, plan, tp, c)


def _over_kept(eng: Any, plan: dict, tp: TimePlan, c: Any) -> Any:
    """Level 3 ``c`` rebuilt over the stackers it blends that are still in the comparison.

    With the base models in its blend one stacker is enough; without them (or with none
    left) it is skipped. Returns the candidate that replaced ``c``, or None.
    """
    kept = [eng.by_name[d] for d in c.depends if d in eng.by_name and d not in tp.skipped]
    gone = [d for d in c.depends if d not in eng.by_name or d in tp.skipped]
    rebuild = c.extra.get("rebuild")
    if rebuild is None or not kept or (len(kept) < 2 and not c.extra.get("base", True)):
        tp.kept.pop(c.name, None)
        tp.skipped[c.name] = f"its stacker{'s' if len(gone) > 1 else ''} {', '.join(gone)} skipped"
        _drop(eng, plan, {c.name})
        return None
    new = rebuild(kept)
    new.note += f"; {', '.join(gone)} skipped by --time-limit"
    _forget(eng, c.name)  # its fits were over the old stackers
    i = eng.candidates.index(c)
    eng.candidates[i] = new
    eng.by_name[new.name] = new
    return new


def _drop(eng: Any, plan: dict, names: set[str]) -> None:
    keep = [c for c in eng.candidates if c.name not in names]
    eng.candidates[:] = keep
    eng.by_name = {c.name: c for c in keep}
    for n in names:
        plan.pop(n, None)
