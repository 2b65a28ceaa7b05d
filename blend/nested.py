"""The one nested cross-validation engine of the toolkit.

For every fold ``k`` of the store's fold assignment, ``fit`` sees only the rows of the other
folds, and ``predict`` predicts fold ``k``'s rows with what it returned. The held-out
predictions of all folds are pooled into one array (every row predicted once, by a fit that
never saw it) and the metric is computed **once on the pooled predictions**: the number a
leaderboard computes on a test set of the same rows. The score of each held-out fold is
reported beside it (a spread, not the estimate). ``blend search --nested``, ``blend
optimize``, ``stack`` and the ordinal fits (``fit_ordinal``, ``procedure_ordinal``,
``search_ordinal``, ``stack_cuts``) all run through :func:`nested_cv`, and ``blend compare``'s
fit cache takes every fit's training rows from :func:`train_rows`, so one metric has one
definition everywhere (``blend report`` scores pooled OOF rows the same way) and the leakage
suite's planted leak in :func:`train_rows` reaches them all.

Compare the nested score with the in-sample score (the caller's ``fit`` on all rows,
evaluated on all rows): the gap is the optimism of every choice made inside ``fit``.
Whatever ``fit`` chooses from the labels (a subset, weights, temperatures, hyper-parameters)
is covered by the nested score only when ``fit`` makes that choice itself; see
``docs/design/honesty.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._checks import check_rows
from blend._errors import BlendError

__all__ = ["NestedCVResult", "beside_mean", "nested_cv", "pooled_scores", "train_rows"]


@dataclass(frozen=True)
class NestedCVResult:
    """Held-out predictions and scores of a procedure run inside the folds.

    Attributes
    ----------
    fold_ids : tuple of int
    fold_scores : tuple of float
        Score on each held-out fold, in ``fold_ids`` order (NaN where the metric is
        undefined on one fold, e.g. AUC on a fold with one class).
    fold_sizes : tuple of int
    nested_score : float
        The metric computed once on the pooled held-out predictions of every row.
    fold_results : tuple
        What ``fit`` returned on each fold's training rows.
    predictions : ndarray
        The pooled held-out predictions, one per row, in row order.
    """

    fold_ids: tuple[int, ...]
    fold_scores: tuple[float, ...]
    fold_sizes: tuple[int, ...]
    nested_score: float
    fold_results: tuple[Any, ...] = field(repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict of the scores (no ``fold_results`` or ``predictions``)."""
        return {
            "fold_ids": list(self.fold_ids),
            "fold_scores": list(self.fold_scores),
            "fold_sizes": list(self.fold_sizes),
            "nested_score": self.nested_score,
            "nested_score_is": "pooled",
        }

    def summary(self) -> str:
        """One line: the pooled nested score and the score of each held-out fold."""
        folds = ", ".join(f"{k}: {s:.5f}" for k, s in zip(self.fold_ids, self.fold_scores, strict=False))
        return f"nested score {self.nested_score:.5f} pooled over all rows (held-out folds {folds})"


def train_rows(folds: np.ndarray, k: int | Collection[int]) -> np.ndarray:
    """The rows a fit for held-out fold ``k`` may see: those of every other fold.

    ``k`` may also be a set of fold ids (``blend compare``'s fits that leave out several
    folds): the rows of every fold not in it. The leakage tests replace this function by one
    that returns every row (a planted leak) and check that each optimiser, stacker, search,
    ordinal fit and compare candidate then fails them.
    """
    if isinstance(k, Collection):
        return np.flatnonzero(~np.isin(folds, np.fromiter(k, dtype=np.int64, count=len(k))))
    return np.flatnonzero(folds != k)


def _part_score(metric: Callable, y: np.ndarray, pred: np.ndarray, part: int) -> float:
    """``metric`` of one part, NaN where the metric returns NaN (AUC on a one-class fold).

    An exception is not turned into NaN: it is a bug, or a user metric that cannot score
    one fold, and it propagates with a note naming the part.
    """
    try:
        return float(metric(y, pred))
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            name = getattr(metric, "name", getattr(metric, "__name__", "metric"))
            exc.add_note(f"raised by metric {name!r} scoring part {part} alone ({len(y)} rows); "
                         "a metric undefined on one fold must return NaN")
        raise


def pooled_scores(
    metric: Callable[[np.ndarray, np.ndarray], float],
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[float, tuple[float, ...]]:
    """The pooled score of held-out predictions and the score of each part: the one definition.

    Parameters
    ----------
    metric : callable
        ``metric(y, predictions) -> float`` (a :class:`blend.metrics.Metric`).
    parts : sequence of (rows, y, predictions)
        One per held-out fold: its row indices, their targets and their predictions. The
        parts are pooled in row order (as :func:`nested_cv` pools them) and the metric is
        computed once on the pooled rows.

    Returns
    -------
    score : float
        ``metric`` of the pooled rows.
    part_scores : tuple of float
        ``metric`` of each part alone (NaN where the metric returns NaN on one part; an
        exception raised by the metric propagates).

    ``nested_cv`` and ``blend compare`` score through this function, so a pooled score
    means the same thing in both.
    """
    rows = np.concatenate([np.asarray(r) for r, _, _ in parts])
    order = np.argsort(rows, kind="stable")
    y = np.concatenate([np.asarray(t) for _, t, _ in parts])[order]
    pred = np.concatenate([np.asarray(p) for _, _, p in parts])[order]
    return float(metric(y, pred)), tuple(_part_score(metric, t, p, i) for i, (_, t, p) in enumerate(parts))


def nested_cv(
    fit: Callable[[np.ndarray, int], Any],
    predict: Callable[[Any, np.ndarray], np.ndarray],
    folds: np.ndarray,
    y: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
) -> NestedCVResult:
    """Fit on K-1 folds, predict the held-out fold, for every fold; score the pooled predictions.

    Parameters
    ----------
    fit : callable
        ``fit(train_idx, fold) -> fitted``; ``train_idx`` is an int ndarray of row indices,
        ``fold`` the id of the held-out fold. Every choice made from the labels must be made
        here, on ``train_idx`` only, for the nested score to cover it.
    predict : callable
        ``predict(fitted, test_idx) -> ndarray`` of shape ``(len(test_idx), ...)``: the
        predictions the metric takes.
    folds : ndarray of shape (n_rows,)
        Fold id of each row (at least two distinct folds).
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Targets, as the metric takes them.
    metric : callable
        ``metric(y, predictions) -> float`` (a :class:`blend.metrics.Metric`).

    Returns
    -------
    NestedCVResult
        ``nested_score`` is ``metric(y, pooled)``, computed once; ``fold_scores`` beside it.
    """
    y, folds = check_rows(y, folds, np.shape(y)[0] if np.ndim(y) else 0, what="the labels")
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise BlendError(f"nested CV needs at least 2 folds, got {len(fold_ids)}")
    pooled: np.ndarray | None = None
    parts, sizes, results = [], [], []
    for k in fold_ids:
        test_idx = np.flatnonzero(folds == k)
        fitted = fit(train_rows(folds, k), int(k))
        pred = np.asarray(predict(fitted, test_idx))
        if pred.shape[0] != len(test_idx):
            raise BlendError(
                f"predict returned {pred.shape[0]} rows for the {len(test_idx)} rows of fold {k}"
            )
        if pooled is None:
            pooled = np.empty((len(folds),) + pred.shape[1:], dtype=np.result_type(pred, np.float64))
        pooled[test_idx] = pred
        parts.append((test_idx, y[test_idx], pred))
        sizes.append(len(test_idx))
        results.append(fitted)
    nested, scores = pooled_scores(metric, parts)
    return NestedCVResult(
        tuple(int(k) for k in fold_ids), scores, tuple(sizes), nested, tuple(results), pooled
    )


def beside_mean(nested: float | None, mean: float | None, greater_is_better: bool,
                digits: int = 4, rule: str = "prob") -> str:
    """A nested score beside the plain mean's score on the same rows, in words.

    The plain mean fits nothing, so its pooled OOF score is already its nested score on the
    same folds: the bar every fitted blend must clear. ``"nested 0.6605 (plain mean 0.6705:
    below the mean)"``.

    Parameters
    ----------
    nested, mean : float or None
    greater_is_better : bool
        The metric's direction.
    rule : str
        The combination rule of the mean (``prob``: of the probabilities); any other is
        named, e.g. ``plain mean (logit rule)``, since the means differ.
    """
    if nested is None:
        return "nested skipped"
    text = f"nested {nested:.{digits}f}"
    if mean is None or not np.isfinite(mean):
        return text
    if abs(nested - mean) < 0.5 * 10 ** -digits:
        verdict = "level with the mean"
    elif (nested > mean) == greater_is_better:
        verdict = "above the mean" if greater_is_better else "better than the mean"
    else:
        verdict = "below the mean" if greater_is_better else "worse than the mean"
    what = "plain mean" if rule == "prob" else f"plain mean ({rule} rule)"
    return f"{text} ({what} {mean:.{digits}f}: {verdict})"
