"""The recommendation rule: paired statistics, the gate, the simplest candidate near the best.

Two candidates scored on the same held-out rows differ far less from each other than the
folds differ in difficulty: on a large soft-label store the fold scores of every candidate
spread over 0.42-0.50 KL while two candidates differ by 0.002-0.005, consistently in the
same direction. Judging a difference by the unpaired spread of the fold scores hides it;
judging it by the spread of the *difference* (paired) does not. The pure functions:

- :func:`bootstrap_gains`: each candidate's gain (the metric signed so that larger is
  better) on the pooled rows and on ``n_boot`` bootstrap draws of those rows, the *same*
  draws for every candidate (paired);
- :func:`paired_gain`: the gain of one candidate over another and the standard error of
  that difference from the paired bootstrap replicates; :func:`fold_paired_gain`: the same
  from the per-fold differences;
- :func:`paired_choice`: the rule on those statistics (the gate against the plain mean,
  then the simplest candidate whose paired deficit against the best is within one SE of
  that deficit). :func:`recommend` applies it to the leaderboard rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from blend._errors import BlendError
from blend.compare._data import COMPLEXITY
from blend.metrics import Metric


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
    boot : ndarray of shape (n_boot,), optional
        Its gain on each bootstrap draw of the pooled held-out rows, the same draws for
        every candidate of the comparison: the paired statistics of :func:`recommend`.
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
    boot: np.ndarray | None = field(default=None, repr=False, compare=False)

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
    """The simplest candidate not significantly worse than the best, with a one-line reason.

    Two steps:

    1. gate: a candidate other than the plain mean stays in the running only when it beats
       the mean significantly: ``z_vs_mean`` (its paired gain over the mean / the SE of
       that gain) above the one-sided threshold (:func:`z_threshold`: 5 %, z > 1.645; a
       NaN ``z_vs_mean`` skips this check);
    2. among those, the best nested score sets the bar and the simplest candidate
       (:data:`COMPLEXITY`; ties: the better score) within one standard error of it is
       chosen. With bootstrap replicates on every row (``CandidateScore.boot``, as the
       engine scores them) the standard error is *paired*: the SE of the best's gain over
       that candidate, from the same bootstrap draws (:func:`paired_choice`). Without them
       it is the SE of the best's fold scores (unpaired; hand-made score rows).

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
    paired = all(s.boot is not None for s in running)
    if paired:
        boot = Boot({s.name: g[s.name] for s in running}, {s.name: s.boot for s in running})
        deficit = {s.name: paired_gain(boot, best.name, s.name) for s in running}
        near = [s for s in running if s is best or _within(deficit[s.name], 1.0)]
    else:
        se = 0.0 if math.isnan(best.se) else best.se
        near = [s for s in running if g[s.name] >= g[best.name] - se]
    chosen = min(near, key=lambda s: (COMPLEXITY[s.kind], -g[s.name]))
    how = "paired bootstrap over the rows"
    if top is not best and chosen is mean:
        reason = (f"the plain mean: {top.name} scores best ({top.nested_score:.5g} vs "
                  f"{mean.nested_score:.5g}) but does not beat the mean significantly "
                  f"(z = {top.z_vs_mean:.2f} <= {zc:.2f}, {how})")
    elif chosen is best:
        simpler = [s for s in running if COMPLEXITY[s.kind] < COMPLEXITY[best.kind]]
        if paired and simpler:
            nxt = max(simpler, key=lambda s: g[s.name])
            d = deficit[nxt.name]
            reason = (f"{chosen.name} has the best nested {metric.name} "
                      f"({chosen.nested_score:.5g}) and beats the best simpler candidate, "
                      f"{nxt.name} ({nxt.nested_score:.5g}), by {abs(d.gain):.3g} > one "
                      f"paired SE ({d.se:.3g}; z = {d.z:.1f}, {how})")
        elif paired:
            reason = (f"{chosen.name} has the best nested {metric.name} "
                      f"({chosen.nested_score:.5g}) and nothing simpler passed the gate")
        else:
            reason = (f"{chosen.name} has the best nested {metric.name} "
                      f"({chosen.nested_score:.5g}) and no simpler candidate is within one "
                      f"standard error ({se:.3g})")
    elif paired:
        d = deficit[chosen.name]
        reason = (f"{chosen.name} is the simplest candidate within one paired SE of the best, "
                  f"{best.name} ({best.nested_score:.5g} vs {chosen.nested_score:.5g}: gain "
                  f"{d.gain:.3g}, SE {d.se:.3g}, {how})")
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


# --------------------------------------------------------------------------- paired statistics



@dataclass(frozen=True)
class Boot:
    """Gains of candidates on the pooled rows and on shared bootstrap draws of them.

    Attributes
    ----------
    full : dict
        Name -> gain on every row.
    reps : dict
        Name -> ndarray of shape (n_boot,): the gain on each bootstrap draw (the same
        draws for every name; NaN where the metric is undefined on a draw).
    """

    full: dict[str, float]
    reps: dict[str, np.ndarray]


def bootstrap_gains(score: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                    preds: Mapping[str, np.ndarray], *, n_boot: int = 200,
                    rng: np.random.Generator | int | None = 0,
                    gain: Callable[[float], float] = float) -> Boot:
    """Pooled and bootstrap gains of every candidate, paired over the same row draws.

    Parameters
    ----------
    score : callable
        ``score(y_rows, pred_rows) -> float`` (the metric).
    y : ndarray of shape (N,) or (N, C)
    preds : mapping of name -> ndarray of shape (N, ...)
        Every candidate's predictions of the same rows, in the same order.
    n_boot : int
    rng : Generator or int
    gain : callable
        Turns a score into a gain (larger is better), e.g. ``Metric.gain``.

    Returns
    -------
    Boot
    """
    y = np.asarray(y)
    n = len(y)
    for name, p in preds.items():
        if len(p) != n:
            raise ValueError(f"candidate {name!r} predicts {len(p)} rows; the labels have {n}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    draws = [rng.integers(0, n, n) for _ in range(int(n_boot))]
    full, reps = {}, {}
    for name, p in preds.items():
        full[name] = float(gain(score(y, p)))
        reps[name] = np.array([gain(score(y[b], p[b])) for b in draws], dtype=np.float64)
    return Boot(full, reps)


@dataclass(frozen=True)
class PairedGain:
    """Gain of candidate ``a`` over candidate ``b`` and the standard error of that gain.

    Attributes
    ----------
    gain : float
        ``gain(a) - gain(b)`` (positive: ``a`` is better).
    se : float
        Standard error of ``gain`` (NaN when unknown).
    how : str
        ``"bootstrap"`` (paired row bootstrap) or ``"folds"`` (per-fold differences).
    """

    gain: float
    se: float
    how: str

    @property
    def z(self) -> float:
        """``gain / se``; +-inf when the difference never varies, NaN when unknown."""
        if math.isnan(self.se) or math.isnan(self.gain):
            return float("nan")
        if self.se > 0:
            return self.gain / self.se
        return math.inf if self.gain > 0 else (-math.inf if self.gain < 0 else 0.0)


def paired_gain(boot: Boot, a: str, b: str) -> PairedGain:
    """Gain of ``a`` over ``b`` on the pooled rows, SE from the paired bootstrap draws."""
    d = boot.reps[a] - boot.reps[b]
    d = d[np.isfinite(d)]
    se = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
    return PairedGain(boot.full[a] - boot.full[b], se, "bootstrap")


def fold_paired_gain(fold_a: Sequence[float], fold_b: Sequence[float],
                     gain: Callable[[float], float] = float) -> PairedGain:
    """Mean per-fold gain of ``a`` over ``b``; SE = SD of the fold differences / sqrt(K).

    Parameters
    ----------
    fold_a, fold_b : sequence of float
        The two candidates' scores on the same folds, in the same order.
    gain : callable
        Score -> gain (larger is better).
    """
    if len(fold_a) != len(fold_b):
        raise ValueError(f"{len(fold_a)} fold scores against {len(fold_b)}: score both "
                         "candidates on the same folds")
    d = np.array([gain(x) - gain(z) for x, z in zip(fold_a, fold_b, strict=True)], float)
    if len(d) < 2:
        return PairedGain(float(d.mean()) if len(d) else float("nan"), float("nan"), "folds")
    return PairedGain(float(d.mean()), float(np.std(d, ddof=1) / math.sqrt(len(d))), "folds")


@dataclass(frozen=True)
class Choice:
    """What :func:`paired_choice` decided.

    Attributes
    ----------
    chosen : str
    best : str
        The best candidate among those that passed the gate.
    top : str
        The best candidate overall (may have failed the gate).
    running : tuple of str
        The candidates that passed the gate (the reference always does).
    vs_reference : dict
        Name -> PairedGain over the reference.
    vs_best : dict
        Name -> PairedGain of the best over it (its deficit), for the candidates running.
    """

    chosen: str
    best: str
    top: str
    running: tuple[str, ...]
    vs_reference: dict[str, PairedGain]
    vs_best: dict[str, PairedGain]


def paired_choice(boot: Boot, complexity: Mapping[str, int], *, reference: str | None = "mean",
                  z_gate: float = 1.645, n_se: float = 1.0) -> Choice:
    """The simplest candidate not significantly worse than the best, on paired statistics.

    1. gate: a candidate other than ``reference`` stays in the running only when its paired
       gain over ``reference`` exceeds ``z_gate`` standard errors (one-sided 5 % by
       default); a candidate whose SE is unknown (NaN) passes. Without a reference
       (``None`` or absent) everyone runs;
    2. the best running candidate (largest pooled gain; ties: the simpler) sets the bar;
    3. the simplest running candidate (``complexity``; ties: the larger gain) whose paired
       deficit against the best is at most ``n_se`` standard errors *of that deficit* is
       chosen. A candidate worse than the best in every bootstrap draw by a small, steady
       margin is therefore not "within one SE", however much the folds differ in difficulty.

    Parameters
    ----------
    boot : Boot
        From :func:`bootstrap_gains` (NaN gains are never chosen).
    complexity : mapping of name -> int
        Smaller is simpler.

    Returns
    -------
    Choice
    """
    names = [n for n in boot.full if not math.isnan(boot.full[n])]
    if not names:
        raise ValueError("every candidate's score is NaN; nothing to choose")
    ref = reference if reference in names else None
    vs_ref = {n: paired_gain(boot, n, ref) for n in names if ref is not None and n != ref}
    running = [n for n in names
               if n == ref or ref is None or math.isnan(vs_ref[n].z) or vs_ref[n].z > z_gate]

    def rank(n: str) -> tuple[float, int]:
        return boot.full[n], -complexity[n]

    top = max(names, key=rank)
    best = max(running, key=rank)
    vs_best = {n: paired_gain(boot, best, n) for n in running}
    near = [n for n in running if n == best or _within(vs_best[n], n_se)]
    chosen = min(near, key=lambda n: (complexity[n], -boot.full[n]))
    return Choice(chosen, best, top, tuple(running), vs_ref, vs_best)


def _within(deficit: PairedGain, n_se: float) -> bool:
    if math.isnan(deficit.se):
        return deficit.gain <= 0
    return deficit.gain <= n_se * deficit.se
