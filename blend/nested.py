"""A nested cross-validation harness for any "fit on rows, evaluate on rows" procedure.

For every fold ``k`` of the store's fold assignment, ``fit`` sees only the OOF rows of the
other folds, and ``evaluate`` scores what it returned on fold ``k``'s rows. The nested score
is the mean of the fold scores weighted by fold size (for accuracy this equals the score
pooled over all held-out rows). Compare it with the in-sample score (the caller's ``fit`` on
all rows, evaluated on all rows): the gap is the optimism of the selection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._errors import BlendError

__all__ = ["NestedCVResult", "nested_cv"]


@dataclass(frozen=True)
class NestedCVResult:
    """Held-out scores of a procedure run inside the folds.

    Attributes
    ----------
    fold_ids : tuple of int
    fold_scores : tuple of float
        Score on each held-out fold, in ``fold_ids`` order.
    fold_sizes : tuple of int
    nested_score : float
        Fold-size weighted mean of ``fold_scores``.
    fold_results : tuple
        What ``fit`` returned on each fold's training rows.
    """

    fold_ids: tuple[int, ...]
    fold_scores: tuple[float, ...]
    fold_sizes: tuple[int, ...]
    nested_score: float
    fold_results: tuple[Any, ...] = field(repr=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict of the fields, without ``fold_results``."""
        return {
            "fold_ids": list(self.fold_ids),
            "fold_scores": list(self.fold_scores),
            "fold_sizes": list(self.fold_sizes),
            "nested_score": self.nested_score,
        }

    def summary(self) -> str:
        """One line: nested score and the score of each held-out fold."""
        folds = ", ".join(f"{k}: {s:.5f}" for k, s in zip(self.fold_ids, self.fold_scores, strict=False))
        return f"nested score {self.nested_score:.5f} (held-out folds {folds})"


def nested_cv(
    fit: Callable[[np.ndarray], Any],
    evaluate: Callable[[Any, np.ndarray], float],
    folds: np.ndarray,
) -> NestedCVResult:
    """Run ``fit`` on K-1 folds and ``evaluate`` on the held-out fold, for every fold.

    Parameters
    ----------
    fit : callable
        ``fit(train_idx) -> fitted``; ``train_idx`` is an int ndarray of row indices.
    evaluate : callable
        ``evaluate(fitted, test_idx) -> float``.
    folds : ndarray of shape (n_rows,)
        Fold id of each row (at least two distinct folds).

    Returns
    -------
    NestedCVResult
    """
    folds = np.asarray(folds)
    if folds.ndim != 1:
        raise BlendError(f"folds must be one fold id per row, got shape {folds.shape}")
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise BlendError(f"nested CV needs at least 2 folds, got {len(fold_ids)}")
    scores, sizes, results = [], [], []
    for k in fold_ids:
        test_idx = np.flatnonzero(folds == k)
        train_idx = np.flatnonzero(folds != k)
        fitted = fit(train_idx)
        scores.append(float(evaluate(fitted, test_idx)))
        sizes.append(len(test_idx))
        results.append(fitted)
    nested = float(np.average(scores, weights=sizes))
    return NestedCVResult(
        tuple(int(k) for k in fold_ids), tuple(scores), tuple(sizes), nested, tuple(results)
    )
