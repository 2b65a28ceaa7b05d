"""The OOF report: how the models in a store compare, agree and fail.

One pure function, :func:`build_report`, turns aligned out-of-fold arrays into a frozen
:class:`Report`. It reads no files and prints nothing: ``blend.cli.report`` loads the
store, calls it, and renders the result in the terminal (rich), as JSON
(:meth:`Report.to_dict`) and as HTML (:mod:`blend.report_html`).

What it computes, for each task type (a section that does not apply is ``None``):

==============================  ======  ==========  =========  ==========
section                         binary  multiclass  softclass  regression
==============================  ======  ==========  =========  ==========
score overall / per fold        yes     yes         yes        yes
secondary metrics               logloss, accuracy, recall      rmse, mae
TTA gain per view               yes     yes         yes        yes
mean-of-all blend               yes     yes         yes        yes
correlation (p of true class)   yes     yes         yes        residuals
error agreement (Jaccard)       yes     yes         yes        --
breakdown by column / fold      yes     yes         yes        yes
confusion matrix (blend)        yes     yes         argmax     --
reliability diagram (blend)     yes     yes         argmax     --
label-noise candidates          yes     yes         argmax     --
==============================  ======  ==========  =========  ==========

For soft targets the "given label" is the argmax of the soft target (``y_hard``), and
the probability of the true class is the expectation ``sum_c y_c * p_c``.

Definitions
-----------
- A model's OOF prediction is the mean of its TTA views' probabilities; the blend is the
  probability mean of all models (both through :func:`blend.combine.combine`).
- Fold statistics: ``fold_mean``/``fold_std`` (population std, ``ddof=0``) of the
  per-fold scores; the worst fold is the one with the worst score in the metric's
  direction.
- TTA gain of view ``t``: ``score(mean of views) - score(view t)``, sign-flipped for
  metrics where lower is better, so a positive gain always means averaging the views
  helped.
- Correlation: Pearson correlation between models of the probability each gives the
  true class (regression: of the residuals ``pred - y``). Error agreement: Jaccard
  index of the models' error sets, ``|both wrong| / |either wrong|`` (1 when neither
  errs).
- Label-noise candidates (confident learning, Northcutt et al. 2021): the per-class
  threshold ``t_k`` is the blend's mean probability of class ``k`` over rows labelled
  ``k``. A row is a candidate when the blend's argmax ``k`` differs from the given label
  ``y`` and ``p_k >= t_k``. Candidates are ranked by the negated normalised margin
  ``score = max_{j != y} p_j - p_y`` (cleanlab's ``normalized_margin`` label quality,
  negated), which lies in ``(0, 1]``; higher means more likely mislabelled.
- Reliability: top-label confidence ``max_c p_c`` in ``n_bins`` equal-width bins; per
  bin the mean confidence, the accuracy and the count; ECE is the count-weighted mean
  absolute gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import as_4d
from oof_common.core import TASKS

__all__ = [
    "Report",
    "ScoreSet",
    "TTAGain",
    "Pair",
    "Breakdown",
    "Reliability",
    "NoiseCandidates",
    "build_report",
    "TASKS",
    "MAX_GROUPS",
]

#: A ``--by`` column with more distinct values than this is refused (it is not a category).
MAX_GROUPS = 100


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
        The blend's argmax (class index).
    score : ndarray of shape (K,)
        ``p_predicted - p_given`` (the negated normalised margin), in (0, 1].
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


# --------------------------------------------------------------------------- validation


def _ensure_views(P: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Turn ``(M, T, N, C)`` or a list of ``(T_m, N, C)`` into a list of float arrays."""
    if isinstance(P, np.ndarray):
        P = as_4d(P)
        return [P[m] for m in range(P.shape[0])]
    views = [np.asarray(p) for p in P]
    for m, p in enumerate(views):
        if p.ndim == 2:
            views[m] = p = p[None]
        if p.ndim != 3:
            raise BlendError(f"model {m}: expected an array (n_tta, n_rows, n_classes), got shape {p.shape}")
    return views


def _check_inputs(views, y, folds, task, models, tta_views, class_names, ids, by):
    if task not in TASKS:
        raise BlendError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if not views:
        raise BlendError("the report needs at least one model; got none")
    n, c = views[0].shape[1:]
    for m, p in enumerate(views):
        if p.shape[1:] != (n, c):
            raise BlendError(
                f"model {models[m]!r} has predictions of shape {p.shape[1:]} but the first model "
                f"has {(n, c)}; every model must predict the same rows and classes"
            )
        if not np.isfinite(p).all():
            raise BlendError(f"model {models[m]!r} has non-finite predictions; re-export it or drop it")
    if len(models) != len(views):
        raise BlendError(f"{len(models)} model names for {len(views)} models")
    if len(set(models)) != len(models):
        raise BlendError(f"model names must be unique, got {list(models)}")
    if folds.shape != (n,):
        raise BlendError(f"folds must have shape ({n},), got {folds.shape}")
    if task == "softclass":
        if y.shape != (n, c):
            raise BlendError(f"soft targets must have shape ({n}, {c}), got {y.shape}")
    elif y.shape != (n,):
        raise BlendError(f"y must have shape ({n},), got {y.shape}")
    if task in ("binary", "multiclass"):
        if c < 2:
            raise BlendError(f"a {task} task needs at least 2 probability columns, got {c}")
        if y.min() < 0 or y.max() >= c:
            raise BlendError(f"labels must lie in [0, {c - 1}], got range [{y.min()}, {y.max()}]")
    if task == "regression" and c != 1:
        raise BlendError(f"a regression task needs one prediction column, got {c}")
    if class_names is not None and len(class_names) != c:
        raise BlendError(f"{len(class_names)} class names for {c} columns")
    if ids is not None and np.shape(ids) != (n,):
        raise BlendError(f"ids must have shape ({n},), got {np.shape(ids)}")
    for m, p in enumerate(views):
        names = tta_views[m] if tta_views is not None else None
        if names is not None and len(names) != p.shape[0]:
            raise BlendError(
                f"model {models[m]!r} has {p.shape[0]} TTA views but {len(names)} view names"
            )
    for col, v in by.items():
        if np.shape(v) != (n,):
            raise BlendError(f"--by column {col!r} must have one value per row ({n}), got {np.shape(v)}")


# --------------------------------------------------------------------------- helpers


def _safe(metric, y, p) -> float:
    """The metric, or NaN where it is undefined (e.g. AUC on a fold with one class)."""
    try:
        return float(metric(y, p))
    except ValueError:
        return float("nan")


def _as_pred(task: str, p: np.ndarray) -> np.ndarray:
    """What a Metric takes: (N, C) probabilities, or (N,) predictions for regression."""
    return p[:, 0] if task == "regression" else p


def _group_scores(metric, task, y, preds, codes, n_groups) -> np.ndarray:
    """Scores (len(preds), G) of each prediction on each group of rows."""
    out = np.full((len(preds), n_groups), np.nan)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        idx = order[bounds[g]:bounds[g + 1]]
        if idx.size == 0:
            continue
        yg = y[idx]
        for i, p in enumerate(preds):
            out[i, g] = _safe(metric, yg, _as_pred(task, p[idx]))
    return out


def _recall(pred_label: np.ndarray, y_hard: np.ndarray, c: int) -> np.ndarray:
    """Per-class recall; pred_label (K, N) -> (K, C), NaN for absent classes."""
    counts = np.bincount(y_hard, minlength=c).astype(float)
    hits = np.zeros((pred_label.shape[0], c))
    correct = pred_label == y_hard[None, :]
    for k in range(pred_label.shape[0]):
        hits[k] = np.bincount(y_hard, weights=correct[k], minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / counts, np.nan)


def _corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the rows of x (K, N); 0 off the diagonal for constant rows."""
    x = x - x.mean(axis=1, keepdims=True)
    sd = np.sqrt((x * x).sum(axis=1))
    cov = x @ x.T
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.outer(sd, sd)
    r = np.where(np.isfinite(r), r, 0.0)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, -1.0, 1.0)


def _jaccard(errors: np.ndarray) -> np.ndarray:
    """|both wrong| / |either wrong| for boolean errors (K, N); 1 where neither errs."""
    e = errors.astype(np.float32)
    both = e @ e.T
    n = e.sum(axis=1)
    either = n[:, None] + n[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(either > 0, both / either, 1.0)
    return j.astype(float)


def _pairs(names, corr, agree, n_pairs) -> tuple[list[Pair], list[Pair]]:
    m = len(names)
    if m < 2:
        return [], []
    iu, ju = np.triu_indices(m, k=1)
    vals = corr[iu, ju]
    order = np.lexsort((ju, iu, -vals))  # highest first, ties by position

    def mk(k):
        a, b = int(iu[k]), int(ju[k])
        return Pair(names[a], names[b], float(corr[a, b]),
                    None if agree is None else float(agree[a, b]))

    k = min(n_pairs, max(1, vals.size // 2))  # the two lists do not overlap (from 3 models)
    most = [mk(i) for i in order[:k]]
    least = [mk(i) for i in order[::-1][:k]]
    return most, least


def _reliability(p: np.ndarray, y_hard: np.ndarray, n_bins: int) -> Reliability:
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y_hard).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = np.bincount(b, weights=conf, minlength=n_bins) / counts
        acc = np.bincount(b, weights=correct, minlength=n_bins) / counts
    gap = np.where(counts > 0, np.abs(acc - mc), 0.0)
    ece = float((counts * gap).sum() / max(conf.size, 1))
    return Reliability(edges, mc, acc, counts, ece)


def _noise(p: np.ndarray, y_hard: np.ndarray, ids: np.ndarray) -> NoiseCandidates:
    n, c = p.shape
    rows = np.arange(n)
    # threshold of class k: mean p_k over rows labelled k (inf when no row has label k)
    counts = np.bincount(y_hard, minlength=c)
    sums = np.bincount(y_hard, weights=p[rows, y_hard], minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    pred = p.argmax(axis=1)
    p_pred = p[rows, pred]
    p_given = p[rows, y_hard]
    cand = (pred != y_hard) & (p_pred >= thresholds[pred])
    idx = np.flatnonzero(cand)
    score = p_pred[idx] - p_given[idx]
    order = np.lexsort((idx, -score))  # most suspicious first, ties by row
    idx, score = idx[order], score[order]
    return NoiseCandidates(
        rows=idx, ids=ids[idx], given=y_hard[idx], predicted=pred[idx], score=score,
        p_given=p_given[idx], p_predicted=p_pred[idx], thresholds=thresholds,
    )


# --------------------------------------------------------------------------- the core


def build_report(
    P: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    *,
    task: str,
    metric: Any = None,
    models: Sequence[str] | None = None,
    tta_views: Sequence[Sequence[str]] | None = None,
    class_names: Sequence[str] | None = None,
    ids: np.ndarray | None = None,
    by: Mapping[str, np.ndarray] | None = None,
    n_pairs: int = 3,
    n_bins: int = 15,
) -> Report:
    """Compute the OOF report of a set of models.

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes), or a list of n_models arrays
        of shape (n_tta_m, n_rows, n_classes)
        OOF probabilities (regression: predictions, ``n_classes == 1``), as
        ``store.load_oof(tta="all", output="probs")`` returns them. A list lets models
        have different numbers of TTA views. ``(n_models, n_rows, n_classes)`` means one
        view each.
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Labels as ``store.y``: int class indices, floats (regression) or soft targets.
    folds : ndarray of shape (n_rows,)
        Fold id of each row.
    task : {"binary", "multiclass", "softclass", "regression"}
    metric : str, Metric, callable or None
        The primary metric (``blend.metrics.get_metric``); ``None`` uses the task's default.
    models : list of str, optional
        Model names (default ``m0, m1, ...``).
    tta_views : list of list of str, optional
        TTA view names per model (default ``0, 1, ...``).
    class_names : list of str, optional
    ids : ndarray of shape (n_rows,), optional
        Row ids for the label-noise candidates (default: row positions).
    by : dict of str to ndarray of shape (n_rows,), optional
        Extra columns to break the score down by (e.g. ``{"source": ...}``).
    n_pairs : int, default 3
        How many most and least correlated pairs to name.
    n_bins : int, default 15
        Bins of the reliability diagram.

    Returns
    -------
    Report

    Raises
    ------
    BlendError
        On inconsistent shapes, non-finite predictions, an unknown task or metric, a
        metric unfit for the task, or a ``by`` column with more than ``MAX_GROUPS`` values.
    """
    from blend.combine import combine
    from blend.metrics import default_metric, get_metric

    views = _ensure_views(P)
    y = np.asarray(y)
    folds = np.asarray(folds)
    m_count = len(views)
    models = [f"m{i}" for i in range(m_count)] if models is None else [str(m) for m in models]
    by = dict(by or {})
    _check_inputs(views, y, folds, task, models, tta_views, class_names, ids, by)
    if n_pairs < 0 or n_bins < 1:
        raise BlendError(f"n_pairs >= 0 and n_bins >= 1 must hold, got {n_pairs} and {n_bins}")
    n, c = views[0].shape[1:]
    if tta_views is None:
        tta_views = [[str(t) for t in range(p.shape[0])] for p in views]
    classification = task != "regression"
    if class_names is None:
        class_names = ["target"] if not classification else [str(k) for k in range(c)]
    class_names = [str(k) for k in class_names]
    ids = np.arange(n).astype(str) if ids is None else np.asarray(ids).astype(str)
    notes: list[str] = []

    met = get_metric(metric if metric is not None else default_metric(task), task)
    gib = bool(met.greater_is_better)
    sign = 1.0 if gib else -1.0
    y_hard = y.argmax(axis=1) if task == "softclass" else (y.astype(np.int64) if classification else None)

    # ---- each model's OOF (mean of its TTA views) and the mean blend
    kind = "probs" if classification else "raw"
    model_p = [np.asarray(combine(p[None], rule="prob", kind=kind), dtype=np.float64).reshape(n, c)
               for p in views]
    blend_p = np.asarray(combine(np.stack(model_p), rule="prob", kind=kind), dtype=np.float64).reshape(n, c)
    preds = model_p + [blend_p]  # the blend is the last entry

    fold_ids, fold_codes = np.unique(folds, return_inverse=True)
    fold_scores = _group_scores(met, task, y, preds, fold_codes, fold_ids.size)
    overall = np.array([_safe(met, y, _as_pred(task, p)) for p in preds])

    if classification:
        extra = {}
        for name in ("logloss", "accuracy"):
            try:
                extra[name] = get_metric(name, task)
            except BlendError as exc:  # a core that does not offer it for this task
                notes.append(f"secondary metric {name} skipped: {exc}")
        secondary = [{k: _safe(f, y, p) for k, f in extra.items()} for p in preds]
        labels = np.stack([p.argmax(axis=1) for p in preds])  # (M + 1, N)
        recalls = _recall(labels, y_hard, c)
    else:
        secondary = []
        for p in preds:
            r = p[:, 0] - y
            secondary.append({"rmse": float(np.sqrt(np.mean(r * r))), "mae": float(np.mean(np.abs(r)))})
        recalls = None

    sets = [
        ScoreSet(
            name=name, score=float(overall[i]), fold_scores=fold_scores[i],
            secondary=secondary[i], recall=None if recalls is None else recalls[i],
            greater_is_better=gib,
        )
        for i, name in enumerate(models + ["mean blend"])
    ]

    # ---- TTA gains
    tta: list[TTAGain] = []
    for m, p in enumerate(views):
        if p.shape[0] < 2:
            continue
        vs = np.array([_safe(met, y, _as_pred(task, p[t].astype(np.float64))) for t in range(p.shape[0])])
        tta.append(TTAGain(models[m], list(map(str, tta_views[m])), vs, float(overall[m]),
                           sign * (overall[m] - vs)))

    # ---- correlation and error agreement
    stacked = np.stack(model_p)  # (M, N, C)
    if classification:
        if task == "softclass":
            p_true = np.einsum("mnc,nc->mn", stacked, y)
        else:
            p_true = np.take_along_axis(stacked, y_hard[None, :, None], axis=2)[..., 0]
        corr = _corr(p_true)
        agree = _jaccard(labels[:-1] != y_hard[None, :])
    else:
        corr = _corr(stacked[..., 0] - y[None, :])
        agree = None
    most, least = _pairs(models, corr, agree, n_pairs)

    # ---- breakdowns: fold first, then each --by column
    breakdowns = [
        Breakdown("fold", [str(k) for k in fold_ids], np.bincount(fold_codes, minlength=fold_ids.size),
                  fold_scores[:-1], fold_scores[-1])
    ]
    for col, values in by.items():
        vals = np.asarray(values).astype(str)
        uniq, codes = np.unique(vals, return_inverse=True)
        if uniq.size > MAX_GROUPS:
            raise BlendError(
                f"--by column {col!r} has {uniq.size} distinct values (at most {MAX_GROUPS} allowed); "
                "break down by a categorical column such as a data source"
            )
        s = _group_scores(met, task, y, preds, codes, uniq.size)
        breakdowns.append(Breakdown(col, list(uniq), np.bincount(codes, minlength=uniq.size), s[:-1], s[-1]))

    # ---- confusion, reliability, label noise (classification)
    confusion = reliability = noise = None
    if classification:
        confusion = np.bincount(y_hard * c + labels[-1], minlength=c * c).reshape(c, c)
        reliability = _reliability(blend_p, y_hard, n_bins)
        noise = _noise(blend_p, y_hard, ids)
        if task == "softclass":
            notes.append("soft targets: confusion, reliability and label noise use the argmax of the target")
    if m_count == 1:
        notes.append("one model: no pairs to correlate; the blend is the model itself")

    return Report(
        task=task, metric=met.name, greater_is_better=gib, class_names=class_names,
        fold_ids=[int(k) if np.issubdtype(fold_ids.dtype, np.integer) else k for k in fold_ids.tolist()],
        n_rows=int(n), models=sets[:-1], blend=sets[-1], tta=tta, correlation=corr,
        error_agreement=agree, most_correlated=most, least_correlated=least,
        breakdowns=breakdowns, confusion=confusion, reliability=reliability, noise=noise,
        notes=notes,
    )
