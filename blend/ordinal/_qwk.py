"""Grades, cut points and quadratic weighted kappa (QWK) from a confusion matrix.

A continuous score ``s`` becomes a grade index with ``G - 1`` increasing cut points ``c``:
``grade = #{k : c[k] <= s}`` (:func:`apply_cuts`). On scores sorted once, the grade of every
row is fixed by ``G - 1`` positions in the sorted order, and the confusion matrix by the
cumulative counts of the true grades at those positions (:class:`SortedScores`). So one QWK
costs ``O(G log N)`` after an ``O(N log N)`` sort, and moving one cut over *every* candidate
position is one vectorised pass (:meth:`SortedScores.scan_cut`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from blend._errors import BlendError

__all__ = [
    "Grades",
    "parse_grades",
    "infer_grades",
    "apply_cuts",
    "qwk_grades",
    "qwk_from_confusion",
    "SortedScores",
]


@dataclass(frozen=True)
class Grades:
    """The ordered grade values of an ordinal target (e.g. ``1, 2, ..., 6``).

    Parameters
    ----------
    values : tuple of float
        Strictly increasing grade values; grade index ``k`` stands for ``values[k]``.
    """

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim != 1 or len(v) < 2:
            raise BlendError(f"an ordinal target needs at least 2 grades; got {list(self.values)}")
        if not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
            raise BlendError(f"grades must be finite and strictly increasing; got {v.tolist()}")
        object.__setattr__(self, "values", tuple(float(x) for x in v))

    @property
    def n(self) -> int:
        """Number of grades ``G``."""
        return len(self.values)

    @property
    def array(self) -> np.ndarray:
        """The grade values as a float64 array of shape (G,)."""
        return np.asarray(self.values, dtype=np.float64)

    def midpoints(self) -> np.ndarray:
        """Cut points of plain rounding: halfway between neighbouring grades, shape (G-1,)."""
        v = self.array
        return (v[:-1] + v[1:]) / 2.0

    def index(self, y: np.ndarray) -> np.ndarray:
        """Grade index of each target value; raises naming the first row that is no grade."""
        y = np.asarray(y, dtype=np.float64)
        v = self.array
        idx = np.clip(np.searchsorted(v, y), 0, len(v) - 1)
        bad = np.flatnonzero(~np.isclose(v[idx], y, rtol=0, atol=1e-9))
        if len(bad):
            r = int(bad[0])
            raise BlendError(
                f"{len(bad)} target value(s) are not among the grades {self.labels()} "
                f"(first: row {r}, value {float(y[r])}); pass --grades that cover the targets"
            )
        return idx.astype(np.int64)

    def labels(self) -> list[float | int]:
        """The grade values, as ints when they are whole numbers (for messages and JSON)."""
        return [int(x) if float(x).is_integer() else float(x) for x in self.values]


def parse_grades(text: str) -> Grades:
    """``"1..6"`` -> grades 1..6; ``"0,1,2,4"`` -> those values."""
    t = str(text).strip()
    m = re.fullmatch(r"(-?\d+)\s*\.\.\s*(-?\d+)", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi <= lo:
            raise BlendError(f"--grades {t!r}: the range must go up (e.g. 1..6)")
        return Grades(tuple(float(x) for x in range(lo, hi + 1)))
    try:
        vals = [float(x) for x in t.split(",") if x.strip()]
    except ValueError:
        raise BlendError(f"--grades takes a range such as 1..6 or a list such as 0,1,2; got {t!r}") from None
    return Grades(tuple(sorted(vals)))


def infer_grades(y: np.ndarray) -> Grades:
    """Grades ``min(y)..max(y)`` from integer targets (raises for non-integer targets)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or len(y) == 0 or not np.all(np.isfinite(y)):
        raise BlendError("ordinal targets must be one finite value per row")
    if np.any(y != np.rint(y)):
        r = int(np.flatnonzero(y != np.rint(y))[0])
        raise BlendError(
            f"cannot infer grades: the targets are not whole numbers (row {r}: {float(y[r])}); "
            "bin them into grades or pass --grades"
        )
    lo, hi = int(y.min()), int(y.max())
    if hi == lo:
        raise BlendError(f"every target is {lo}: an ordinal target needs at least 2 grades")
    return Grades(tuple(float(x) for x in range(lo, hi + 1)))


def apply_cuts(score: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Grade index of each score: the number of cut points at or below it.

    Parameters
    ----------
    score : ndarray of shape (n_rows,)
    cuts : ndarray of shape (G-1,)
        Non-decreasing cut points.

    Returns
    -------
    ndarray of shape (n_rows,), int64 in ``0..G-1``
    """
    return np.searchsorted(np.asarray(cuts, np.float64), np.asarray(score, np.float64),
                           side="right").astype(np.int64)


def _weights(G: int) -> np.ndarray:
    k = np.arange(G, dtype=np.float64)
    return (k[:, None] - k[None, :]) ** 2


def qwk_from_confusion(cm: np.ndarray) -> float:
    """QWK of a confusion matrix ``cm`` (true grade x predicted grade), shape (G, G)."""
    cm = np.asarray(cm, dtype=np.float64)
    W = _weights(cm.shape[0])
    n = cm.sum()
    den = float((W * np.outer(cm.sum(1), cm.sum(0))).sum()) / n if n else 0.0
    return 1.0 - float((W * cm).sum()) / den if den > 0 else 1.0


def qwk_grades(y_idx: np.ndarray, pred_idx: np.ndarray, n_grades: int) -> float:
    """QWK of predicted against true grade indices (both ints in ``0..n_grades-1``)."""
    y_idx = np.asarray(y_idx, np.int64)
    pred_idx = np.asarray(pred_idx, np.int64)
    cm = np.bincount(y_idx * n_grades + pred_idx, minlength=n_grades * n_grades)
    return qwk_from_confusion(cm.reshape(n_grades, n_grades))


class SortedScores:
    """Scores sorted once, with cumulative counts of the true grades, for fast QWK of cuts.

    Parameters
    ----------
    score : ndarray of shape (n_rows,)
    y_idx : ndarray of shape (n_rows,)
        True grade index of each row.
    n_grades : int

    Attributes
    ----------
    s : ndarray of shape (n_rows,)
        Sorted scores.
    cum : ndarray of shape (n_rows + 1, n_grades)
        ``cum[p, t]`` = rows of true grade ``t`` among the ``p`` lowest scores.
    """

    def __init__(self, score: np.ndarray, y_idx: np.ndarray, n_grades: int) -> None:
        score = np.asarray(score, dtype=np.float64)
        # ties need no stable order: cuts only ever fall between distinct values
        order = np.argsort(score)
        self.s = score[order]
        g = np.asarray(y_idx, np.int64)[order]
        self.G = int(n_grades)
        self.N = len(self.s)
        onehot = np.zeros((self.G, self.N + 1), dtype=np.float64)  # grade-major: fast cumsum
        onehot[g, np.arange(1, self.N + 1)] = 1.0
        cumT = np.cumsum(onehot, axis=1)
        self.cum = cumT.T  # (N+1, G) view
        self.W = _weights(self.G)
        self.hist = cumT[:, -1].copy()  # true-grade counts (G,)
        self.rW = self.hist @ self.W  # (G,): sum_t hist[t] * W[t, k]
        # p is a valid cut position iff p == 0, p == N or s[p-1] < s[p]
        valid = np.ones(self.N + 1, dtype=bool)
        valid[1:-1] = self.s[1:] > self.s[:-1]
        self.vpos = np.flatnonzero(valid)  # candidate positions, increasing
        # cumW[k][p] = sum_t cum[p, t] * W[t, k], one contiguous row per predicted grade k
        self.cumW = self.W.T @ cumT

    def positions(self, cuts: np.ndarray) -> np.ndarray:
        """Sorted-order position of each cut: rows at or after it have a grade above, (G-1,)."""
        return np.searchsorted(self.s, np.sort(np.asarray(cuts, np.float64)), side="left")

    def confusion(self, cuts: np.ndarray) -> np.ndarray:
        """The (G, G) confusion matrix of ``apply_cuts(score, cuts)`` against the true grades."""
        pos = np.concatenate(([0], self.positions(cuts), [self.N]))
        return (self.cum[pos[1:]] - self.cum[pos[:-1]]).T

    def qwk(self, cuts: np.ndarray) -> float:
        """QWK of the grades the cut points give (``O(G log N)``)."""
        return qwk_from_confusion(self.confusion(cuts))

    def scan_cut(self, cuts: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """QWK for every position of cut ``j`` between its neighbours, the others fixed.

        Parameters
        ----------
        cuts : ndarray of shape (G-1,)
            Non-decreasing cut points.
        j : int
            The cut to move; it separates grade ``j`` from grade ``j + 1``.

        Returns
        -------
        positions : ndarray of shape (L,)
            Sorted-order positions ``p``: rows ``[a, p)`` of the range get grade ``j``, rows
            ``[p, b)`` grade ``j + 1``. Only positions between distinct scores are kept.
        qwk : ndarray of shape (L,)
            QWK of each position, computed in one pass from cumulative counts.
        """
        cuts = np.asarray(cuts, np.float64)
        pos = np.concatenate(([0], self.positions(cuts), [self.N]))
        a, b = int(pos[j]), int(pos[j + 2])
        cols = self.cum[pos[1:]] - self.cum[pos[:-1]]  # (G, G): predicted grade k -> true counts
        contrib = np.einsum("kt,tk->k", cols, self.W)  # each predicted grade's weighted errors
        num_fixed = float(contrib.sum() - contrib[j] - contrib[j + 1])
        n_k = cols.sum(1)
        den_fixed = float(self.rW @ n_k - self.rW[j] * n_k[j] - self.rW[j + 1] * n_k[j + 1])
        p = self.vpos[np.searchsorted(self.vpos, a):np.searchsorted(self.vpos, b, side="right")]
        cwj, cwj1 = self.cumW[j], self.cumW[j + 1]
        # rows [a, p) get grade j, rows [p, b) grade j + 1
        num = num_fixed + (cwj[p] - cwj[a]) + (cwj1[b] - cwj1[p])
        den = (den_fixed + self.rW[j] * (p - a) + self.rW[j + 1] * (b - p)) / self.N
        q = np.ones(len(p))
        np.subtract(1.0, num / np.where(den > 0, den, 1.0), out=q, where=den > 0)
        return p, q

    def cut_value(self, p: int, lo: float, hi: float, pad: float) -> float:
        """A cut value at sorted position ``p``, halfway between its neighbouring scores.

        ``lo`` / ``hi`` are the neighbouring cuts (``-inf`` / ``inf`` at the ends); the value
        stays within them.
        """
        left = self.s[p - 1] if p > 0 else -np.inf
        right = self.s[p] if p < self.N else np.inf
        left = max(left, lo)
        right = min(right, hi)
        if not np.isfinite(left):
            left = right - pad
        if not np.isfinite(right):
            right = left + pad
        v = (left + right) / 2.0
        if p > 0 and v <= self.s[p - 1]:  # adjacent floats: keep the row below the cut
            v = right
        return float(v)
