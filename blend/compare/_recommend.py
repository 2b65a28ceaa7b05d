"""The recommendation rule: fold statistics, the gate, the simplest candidate near the best."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
