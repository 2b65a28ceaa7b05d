"""Paired statistics for choosing between candidates scored on the same rows.

Two candidates scored on the same held-out rows differ far less from each other than the
folds differ in difficulty: on a large soft-label store the fold scores of every candidate
spread over 0.42-0.50 KL while two candidates differ by 0.002-0.005, consistently in the
same direction. Judging a difference by the unpaired spread of the fold scores hides it;
judging it by the spread of the *difference* (paired) does not. Everything here is a pure
function of predictions, labels and scores:

- :func:`bootstrap_gains`: each candidate's gain (the metric signed so that larger is
  better) on the pooled rows and on ``n_boot`` bootstrap draws of those rows, the *same*
  draws for every candidate (paired);
- :func:`paired_gain`: the gain of one candidate over another and the standard error of
  that difference, from the paired bootstrap replicates or from the per-fold differences;
- :func:`paired_choice`: the recommendation rule on those statistics: a candidate other
  than the reference (the plain mean) stays in the running only when its paired gain over
  the reference is significant (``z > z_gate``); among those, the simplest candidate whose
  paired deficit against the best is within ``n_se`` standard errors of that deficit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Boot", "PairedGain", "bootstrap_gains", "paired_gain", "fold_paired_gain",
           "paired_choice", "Choice"]


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
