"""The ordinal part of the OOF report: QWK per model and fold, rounding against fitted cuts.

For each model and for the plain mean of the models: the QWK of its score rounded to the
nearest grade, and the QWK with cut points fitted on the other folds (nested), per fold and
pooled; the grade confusion matrix of the mean with its nested cut points; and the cut
points fitted on every row beside the rounding midpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from blend.ordinal._cuts import fit_cuts
from blend.ordinal._fit import fit_ordinal, ordinal_scores
from blend.ordinal._qwk import Grades, apply_cuts, qwk_grades

__all__ = ["OrdinalReport", "ordinal_report"]


@dataclass(frozen=True)
class OrdinalReport:
    """QWK of every model and of the mean, rounded and with nested cut points.

    Attributes
    ----------
    cut_method : str
    grades : list of float
    fold_ids : list of int
    rows : list of dict
        One per model, then ``"mean of all"``: ``name``, ``rounded`` (pooled QWK),
        ``rounded_folds``, ``cuts`` (nested pooled QWK), ``cuts_folds``.
    confusion : list of list of int
        True grade x predicted grade of the mean with nested cut points.
    confusion_rounded : list of list of int
        The same with rounding.
    cuts : list of float
        Cut points of the mean fitted on every row.
    midpoints : list of float
        The rounding cut points.
    """

    cut_method: str
    grades: list[float]
    fold_ids: list[int]
    rows: list[dict[str, Any]]
    confusion: list[list[int]]
    confusion_rounded: list[list[int]]
    cuts: list[float]
    midpoints: list[float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "cut_method": self.cut_method,
            "grades": list(self.grades),
            "fold_ids": list(self.fold_ids),
            "rows": [dict(r) for r in self.rows],
            "confusion": [list(r) for r in self.confusion],
            "confusion_rounded": [list(r) for r in self.confusion_rounded],
            "cuts": list(self.cuts),
            "midpoints": list(self.midpoints),
        }


def _confusion(a: np.ndarray, b: np.ndarray, n: int) -> list[list[int]]:
    return np.bincount(a * n + b, minlength=n * n).reshape(n, n).astype(int).tolist()


def ordinal_report(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    grades: Grades,
    kind: str = "raw",
    models: list[str] | None = None,
    cut_method: str = "coordinate",
) -> OrdinalReport:
    """Build the ordinal report.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        Raw regression outputs (``C = 1``) or class probabilities (``C = G``).
    y : ndarray of shape (N,)
        Grade values (regression) or class indices (classification).
    folds : ndarray of shape (N,)
    grades : Grades
    kind : {"raw", "probs"}
    models : list of str, optional
    cut_method : str

    Returns
    -------
    OrdinalReport
    """
    X = ordinal_scores(P, kind, grades)  # (M, N)
    M = X.shape[0]
    models = [f"m{i}" for i in range(M)] if models is None else list(models)
    y = np.asarray(y)
    y_idx = y.astype(np.int64) if kind == "probs" else grades.index(y)
    folds = np.asarray(folds)
    fold_ids = [int(k) for k in np.unique(folds)]
    mid = grades.midpoints()
    rows = []
    mean_fit = None
    for name, s in [*zip(models, X, strict=True), ("mean of all", X.mean(axis=0))]:
        rounded = apply_cuts(s, mid)
        fit = fit_ordinal(s[None, :, None], grades.array[y_idx], folds, method="mean",
                          cut_method=cut_method, grades=grades, models=[name])
        rows.append({
            "name": name,
            "rounded": qwk_grades(y_idx, rounded, grades.n),
            "rounded_folds": [qwk_grades(y_idx[folds == k], rounded[folds == k], grades.n)
                              for k in fold_ids],
            "cuts": fit.nested_score,
            "cuts_folds": list(fit.fold_scores),
        })
        mean_fit = fit
    s_mean = X.mean(axis=0)
    return OrdinalReport(
        cut_method=cut_method,
        grades=list(grades.values),
        fold_ids=fold_ids,
        rows=rows,
        confusion=_confusion(y_idx, mean_fit.heldout, grades.n),
        confusion_rounded=_confusion(y_idx, apply_cuts(s_mean, mid), grades.n),
        cuts=[float(c) for c in fit_cuts(s_mean, y_idx, grades, cut_method)],
        midpoints=[float(c) for c in mid],
    )
