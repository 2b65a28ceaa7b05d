"""Input checks of the report: TTA views, labels, folds, ``--by`` columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from blend._checks import check_rows
from blend._errors import BlendError
from blend.combine import as_4d
from oof_common.core import TASKS

#: A ``--by`` column with more distinct values than this is refused (it is not a category).
MAX_GROUPS = 100


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
    y, folds = check_rows(y, folds, n)
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
