"""The pure core of the OOF report: aligned arrays in, a frozen :class:`Report` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.report._checks import MAX_GROUPS, _check_inputs, _ensure_views
from blend.report._results import (
    Breakdown,
    Report,
    ScoreSet,
    TTAGain,
)
from blend.report._stats import (
    _as_pred,
    _corr,
    _group_scores,
    _jaccard,
    _noise,
    _pairs,
    _recall,
    _reliability,
    _safe,
)

__all__ = ["build_report"]


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
