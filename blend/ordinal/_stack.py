"""Cut points for a stacker's output, fitted without the fold they grade.

A stacker fitted with nested CV (:func:`blend.stack.fit_stacker`) gives one out-of-fold
score per row: row ``i`` of fold ``k`` comes from the outer-fold stacker trained on the other
folds. Cut points fitted on those scores of all rows would have seen fold ``k``'s labels, and
the scores of the other folds came from stackers that saw fold ``k``. So for outer fold ``k``
the stacker is refitted with its own nested CV on the other folds only; its out-of-fold
scores there (from stackers that never saw fold ``k``) fit the cut points, which then grade
the outer stacker's scores on fold ``k``. That costs one more nested stacker fit per fold
(the training folds need at least 3 folds, so the store needs 4). The cut points written to
a recipe are fitted on every row's out-of-fold score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import blend.nested as _nested
from blend._errors import BlendError
from blend.ordinal._cuts import fit_cuts, get_cut_method
from blend.ordinal._qwk import Grades, apply_cuts, qwk_grades

__all__ = ["StackCutsResult", "stack_cuts"]


@dataclass(frozen=True)
class StackCutsResult:
    """Cut points for a stacker's out-of-fold score, scored by nested QWK.

    Attributes
    ----------
    cut_method : str
    grades : list of float
    cuts : list of float
        Fitted on every row's out-of-fold score (for the recipe and the test set).
    nested_score : float
        QWK of the pooled held-out grades (each fold graded by cut points fitted without it).
    rounding_nested_score : float
        QWK of the same out-of-fold scores rounded to the nearest grade.
    fold_ids : list of int
    fold_scores : list of float
    fold_cuts : list of list of float
    heldout : ndarray of shape (n_rows,)
        Held-out grade index of each row.
    """

    cut_method: str
    grades: list[float]
    cuts: list[float]
    nested_score: float
    rounding_nested_score: float
    fold_ids: list[int]
    fold_scores: list[float]
    fold_cuts: list[list[float]]
    heldout: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts."""
        return {
            "metric": "qwk",
            "cut_method": self.cut_method,
            "grades": list(self.grades),
            "cuts": list(self.cuts),
            "nested_score": self.nested_score,
            "rounding_nested_score": self.rounding_nested_score,
            "fold_scores": list(self.fold_scores),
            "fold_cuts": [list(c) for c in self.fold_cuts],
        }


def stack_cuts(
    stacker: Any,
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    oof_score: np.ndarray,
    *,
    grades: Grades,
    cut_method: str = "coordinate",
    fit_kwargs: dict[str, Any] | None = None,
    rng: int = 0,
    task: str = "regression",
) -> StackCutsResult:
    """Nested QWK of a stacker's out-of-fold score with cut points fitted without each fold.

    Parameters
    ----------
    stacker : str or Stacker
    X : ndarray of shape (N, M, C)
        The stacker's features (regression: raw predictions, ``C = 1``).
    y : ndarray of shape (N,)
        Grade values (regression) or class indices (ordered classes).
    folds : ndarray of shape (N,)
    oof_score : ndarray of shape (N,)
        The stacker's out-of-fold score of every row: ``StackResult.oof`` (regression), or
        its expected grade ``oof @ grades`` (ordered classes).
    grades : Grades
    cut_method : str
    fit_kwargs : dict, optional
        Passed to :func:`blend.stack.fit_stacker` (params, hpo, seeds, n_jobs ...).
    rng : int
    task : str
        ``"regression"``, or the classification task of ordered classes (the stacker then
        fits class probabilities on log loss, and its expected grade is graded).

    Returns
    -------
    StackCutsResult
    """
    from blend.stack import fit_stacker

    get_cut_method(cut_method)
    folds = np.asarray(folds)
    fold_ids = [int(k) for k in np.unique(folds)]
    if len(fold_ids) < 4:
        raise BlendError(
            f"cut points for a stacker need 4 folds or more (each outer fold's training "
            f"folds run their own nested CV of 3); the store has {len(fold_ids)}"
        )
    regression = task == "regression"
    y_idx = grades.index(y) if regression else np.asarray(y, dtype=np.int64)
    s_all = np.asarray(oof_score, dtype=np.float64).reshape(-1)
    index = {k: i for i, k in enumerate(fold_ids)}  # the seed of each fold

    def fit(tr: np.ndarray, k: int) -> np.ndarray:
        inner = fit_stacker(stacker, X[tr], y[tr], folds[tr], task=task,
                            metric="rmse" if regression else "logloss",
                            rng=np.random.default_rng([rng, index[k]]), **dict(fit_kwargs or {}))
        inner_score = np.asarray(inner.oof, dtype=np.float64)
        if not regression:
            inner_score = inner_score @ grades.array
        return fit_cuts(inner_score, y_idx[tr], grades, cut_method)

    # the one nested engine: the training rows come from blend.nested.train_rows
    cv = _nested.nested_cv(fit, lambda cuts, te: apply_cuts(s_all[te], cuts), folds, y_idx,
                           lambda t, p: qwk_grades(t, p, grades.n))
    heldout = cv.predictions.astype(np.int64)
    fold_scores = list(cv.fold_scores)
    fold_cuts = [[float(c) for c in cuts] for cuts in cv.fold_results]
    final = fit_cuts(s_all, y_idx, grades, cut_method)
    return StackCutsResult(
        cut_method=cut_method,
        grades=list(grades.values),
        cuts=[float(c) for c in final],
        nested_score=qwk_grades(y_idx, heldout, grades.n),
        rounding_nested_score=qwk_grades(y_idx, apply_cuts(s_all, grades.midpoints()), grades.n),
        fold_ids=fold_ids,
        fold_scores=fold_scores,
        fold_cuts=fold_cuts,
        heldout=heldout,
    )
