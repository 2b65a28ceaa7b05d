"""What the report holds: frozen dataclasses, each with ``to_dict()``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _f(x: Any) -> float | None:
    """A float for JSON: NaN becomes ``None``."""
    x = float(x)
    return None if np.isnan(x) else x


def _flist(a: np.ndarray) -> list:
    return [_flist(r) if np.ndim(r) else _f(r) for r in np.asarray(a)]


@dataclass(frozen=True)
class ScoreSet:
    """Scores of one model (or of the blend).

    Attributes
    ----------
    name : str
    score : float
        The primary metric on all OOF rows.
    fold_scores : ndarray of shape (n_folds,)
        The primary metric on each fold's rows (NaN where the metric is undefined there).
    secondary : dict of str to float
        ``logloss`` and ``accuracy`` (classification) or ``rmse`` and ``mae`` (regression).
    recall : ndarray of shape (n_classes,) or None
        Per-class recall of the argmax prediction (classification only; NaN for a class
        no row has).
    greater_is_better : bool
    """

    name: str
    score: float
    fold_scores: np.ndarray
    secondary: dict[str, float]
    recall: np.ndarray | None
    greater_is_better: bool

    @property
    def fold_mean(self) -> float:
        """Mean of ``fold_scores`` ignoring NaN; NaN when no fold has a score."""
        return float(np.nanmean(self.fold_scores)) if np.isfinite(self.fold_scores).any() else np.nan

    @property
    def fold_std(self) -> float:
        """Standard deviation of ``fold_scores`` ignoring NaN; NaN when no fold has a score."""
        return float(np.nanstd(self.fold_scores)) if np.isfinite(self.fold_scores).any() else np.nan

    @property
    def worst_fold_index(self) -> int:
        """Position (not fold id) of the worst fold; -1 when no fold has a score."""
        s = self.fold_scores
        if not np.isfinite(s).any():
            return -1
        return int(np.nanargmin(s) if self.greater_is_better else np.nanargmax(s))

    def to_dict(self, fold_ids: Sequence[int]) -> dict[str, Any]:
        """A JSON-ready dict, with the fold scores keyed by fold id and NaN as ``None``.

        Parameters
        ----------
        fold_ids : sequence of int, length n_folds
            The fold ids, in the order of ``fold_scores``.

        Returns
        -------
        dict
        """
        w = self.worst_fold_index
        return {
            "name": self.name,
            "score": _f(self.score),
            "fold_scores": {str(k): _f(v) for k, v in zip(fold_ids, self.fold_scores, strict=False)},
            "fold_mean": _f(self.fold_mean),
            "fold_std": _f(self.fold_std),
            "worst_fold": None if w < 0 else int(fold_ids[w]),
            "worst_fold_score": None if w < 0 else _f(self.fold_scores[w]),
            "secondary": {k: _f(v) for k, v in self.secondary.items()},
            "recall": None if self.recall is None else _flist(self.recall),
        }


@dataclass(frozen=True)
class TTAGain:
    """Each TTA view alone against the mean of a model's views.

    Attributes
    ----------
    model : str
    views : list of str, length T
    view_scores : ndarray of shape (T,)
    mean_score : float
        Score of the mean of the views (the model's OOF score).
    gains : ndarray of shape (T,)
        ``mean_score - view_scores`` signed so that positive means the mean is better.
    """

    model: str
    views: list[str]
    view_scores: np.ndarray
    mean_score: float
    gains: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (NaN as ``None``)."""
        return {
            "model": self.model,
            "views": list(self.views),
            "view_scores": _flist(self.view_scores),
            "mean_score": _f(self.mean_score),
            "gains": _flist(self.gains),
        }


@dataclass(frozen=True)
class Pair:
    """Two models and their correlation (and error agreement when defined)."""

    a: str
    b: str
    correlation: float
    error_agreement: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (NaN as ``None``)."""
        return {
            "a": self.a,
            "b": self.b,
            "correlation": _f(self.correlation),
            "error_agreement": None if self.error_agreement is None else _f(self.error_agreement),
        }


@dataclass(frozen=True)
class Breakdown:
    """The primary metric on each group of rows sharing a value of one column.

    Attributes
    ----------
    column : str
        ``"fold"`` or a column of the targets.
    values : list of str, length G
    n_rows : ndarray of shape (G,)
    scores : ndarray of shape (n_models, G)
    blend_scores : ndarray of shape (G,)
    """

    column: str
    values: list[str]
    n_rows: np.ndarray
    scores: np.ndarray
    blend_scores: np.ndarray

    def to_dict(self, models: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready dict: the column and, per group, its rows, blend score and model scores.

        Parameters
        ----------
        models : sequence of str, length n_models
            The model names, in the order of the rows of ``scores``.

        Returns
        -------
        dict
        """
        return {
            "column": self.column,
            "groups": [
                {
                    "value": v,
                    "n_rows": int(n),
                    "blend": _f(b),
                    "models": {m: _f(s) for m, s in zip(models, self.scores[:, g], strict=False)},
                }
                for g, (v, n, b) in enumerate(zip(self.values, self.n_rows, self.blend_scores, strict=False))
            ],
        }


@dataclass(frozen=True)
class Reliability:
    """Reliability (calibration) diagram of the blend's top-label confidence.

    Attributes
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
    confidence : ndarray of shape (n_bins,)
        Mean confidence of the rows in each bin (NaN for an empty bin).
    accuracy : ndarray of shape (n_bins,)
        Fraction of the bin's rows whose argmax is the given label (NaN when empty).
    counts : ndarray of shape (n_bins,)
    ece : float
        Expected calibration error, ``sum_b counts_b / N * |accuracy_b - confidence_b|``.
    """

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (NaN as ``None``)."""
        return {
            "bin_edges": _flist(self.bin_edges),
            "confidence": _flist(self.confidence),
            "accuracy": _flist(self.accuracy),
            "counts": [int(c) for c in self.counts],
            "ece": _f(self.ece),
        }


@dataclass(frozen=True)
class NoiseCandidates:
    """Rows whose blended OOF prediction confidently contradicts the label, most suspicious first.

    Attributes
    ----------
    rows : ndarray of shape (K,)
        Row positions in the OOF arrays.
    ids : ndarray of shape (K,)
        Row ids (the positions as strings when no ids were given).
    given : ndarray of shape (K,)
        Given label (class index).
    predicted : ndarray of shape (K,)
        The class with the largest ``p / prior`` (class index).
    score : ndarray of shape (K,)
        ``log(prior_given / p_given)``: how many times less likely the blend finds the
        label than the label's base rate.
    p_given, p_predicted : ndarray of shape (K,)
    thresholds : ndarray of shape (n_classes,)
        Per-class confident-learning thresholds.
    """

    rows: np.ndarray
    ids: np.ndarray
    given: np.ndarray
    predicted: np.ndarray
    score: np.ndarray
    p_given: np.ndarray
    p_predicted: np.ndarray
    thresholds: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def to_dict(self, class_names: Sequence[str], top: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict: the count, per-class thresholds and the most suspicious rows.

        Parameters
        ----------
        class_names : sequence of str, length n_classes
            Names of the class indices in ``given``, ``predicted`` and ``thresholds``.
        top : int or None
            Keep only the first ``top`` rows; ``None`` keeps all. ``n_candidates`` counts all.

        Returns
        -------
        dict
        """
        k = len(self) if top is None else min(top, len(self))
        return {
            "n_candidates": len(self),
            "thresholds": {c: _f(t) for c, t in zip(class_names, self.thresholds, strict=False)},
            "rows": [
                {
                    "id": str(self.ids[i]),
                    "given_label": class_names[int(self.given[i])],
                    "predicted_label": class_names[int(self.predicted[i])],
                    "score": _f(self.score[i]),
                    "p_given": _f(self.p_given[i]),
                    "p_predicted": _f(self.p_predicted[i]),
                }
                for i in range(k)
            ],
        }


@dataclass(frozen=True)
class Report:
    """Everything ``blend report`` shows; see the module docstring for the definitions.

    Attributes
    ----------
    task, metric : str
    greater_is_better : bool
    class_names : list of str, length C
    fold_ids : list of int, length F
    n_rows : int
    models : list of ScoreSet, length M
        In the order given.
    blend : ScoreSet
        The probability mean of all models (``name="mean blend"``).
    tta : list of TTAGain
        One per model with more than one TTA view.
    correlation : ndarray of shape (M, M)
    error_agreement : ndarray of shape (M, M) or None
    most_correlated, least_correlated : list of Pair
        Up to ``n_pairs`` pairs each, and at most half of all pairs (at least one) so the
        lists do not overlap; empty with one model.
    breakdowns : list of Breakdown
        By fold first, then each requested column.
    confusion : ndarray of shape (C, C) or None
        Counts of the blend's argmax (columns) for each given label (rows).
    reliability : Reliability or None
    noise : NoiseCandidates or None
    """

    task: str
    metric: str
    greater_is_better: bool
    class_names: list[str]
    fold_ids: list[int]
    n_rows: int
    models: list[ScoreSet]
    blend: ScoreSet
    tta: list[TTAGain]
    correlation: np.ndarray
    error_agreement: np.ndarray | None
    most_correlated: list[Pair]
    least_correlated: list[Pair]
    breakdowns: list[Breakdown]
    confusion: np.ndarray | None
    reliability: Reliability | None
    noise: NoiseCandidates | None
    notes: list[str] = field(default_factory=list)

    @property
    def model_names(self) -> list[str]:
        """The models' names, in the order given."""
        return [s.name for s in self.models]

    def ranked(self) -> list[ScoreSet]:
        """The models best first (ties and NaN scores last, by name), as every table shows them."""
        sign = -1 if self.greater_is_better else 1
        return sorted(self.models, key=lambda s: (np.nan_to_num(sign * s.score, nan=np.inf), s.name))

    def best_model(self) -> ScoreSet:
        """The model with the best overall score."""
        s = np.array([m.score for m in self.models], dtype=float)
        s = np.where(np.isnan(s), -np.inf if self.greater_is_better else np.inf, s)
        return self.models[int(np.argmax(s) if self.greater_is_better else np.argmin(s))]

    def to_dict(self, noise_top: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``null``); ``noise_top`` caps the candidate list."""
        names = self.model_names
        return {
            "task": self.task,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "class_names": list(self.class_names),
            "fold_ids": [int(k) for k in self.fold_ids],
            "n_rows": int(self.n_rows),
            "models": [m.to_dict(self.fold_ids) for m in self.models],
            "blend": self.blend.to_dict(self.fold_ids),
            "tta": [t.to_dict() for t in self.tta],
            "correlation": {"models": names, "matrix": _flist(self.correlation)},
            "error_agreement": None
            if self.error_agreement is None
            else {"models": names, "matrix": _flist(self.error_agreement)},
            "most_correlated": [p.to_dict() for p in self.most_correlated],
            "least_correlated": [p.to_dict() for p in self.least_correlated],
            "breakdowns": [b.to_dict(names) for b in self.breakdowns],
            "confusion": None
            if self.confusion is None
            else {"labels": list(self.class_names), "matrix": self.confusion.astype(int).tolist()},
            "reliability": None if self.reliability is None else self.reliability.to_dict(),
            "noise": None if self.noise is None else self.noise.to_dict(self.class_names, noise_top),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few plain-text lines: best model, blend, most/least correlated pair, noise."""
        best = self.best_model()
        lines = [
            f"{len(self.models)} model(s), {self.n_rows} rows, {len(self.fold_ids)} folds, "
            f"task {self.task}, metric {self.metric} "
            f"({'higher' if self.greater_is_better else 'lower'} is better)",
            f"best model: {best.name} {self.metric}={best.score:.5f} "
            f"(folds {best.fold_mean:.5f} +- {best.fold_std:.5f})",
            f"mean blend of all: {self.metric}={self.blend.score:.5f}",
        ]
        if self.most_correlated:
            p, q = self.most_correlated[0], self.least_correlated[0]
            lines.append(f"most correlated: {p.a} ~ {p.b} ({p.correlation:.3f}); "
                         f"least: {q.a} ~ {q.b} ({q.correlation:.3f})")
        if self.noise is not None:
            lines.append(f"label-noise candidates: {len(self.noise)}")
        return "\n".join(lines)
