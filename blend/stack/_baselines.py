"""The baselines a stacker is printed beside: the best base model and the plain mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blend._errors import BlendError


def baseline_scores(
    P: np.ndarray,
    y: np.ndarray,
    met: Any,
    task: str,
    model_names: Sequence[str] | None = None,
    *,
    folds: np.ndarray | None = None,
) -> tuple[dict[str, Any], float]:
    """Score each base model and their plain mean on all rows.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        Probabilities (regression: raw predictions) of the base models.
    folds : ndarray of shape (N,), optional
        Accepted for compatibility; every score is computed once on all rows pooled, the
        way the stacker's nested score is (``blend.nested``), so the numbers compare like
        for like whatever the metric.

    Returns
    -------
    best_base : dict ``{"model": name, "score": x}``
    mean_blend_score : float -- the probability mean over models (and TTA views).
    """
    from blend.combine import combine

    P = np.asarray(P, dtype=np.float32)
    if P.ndim == 3:
        P = P[:, None]
    names = list(model_names) if model_names is not None else [f"model_{i}" for i in range(P.shape[0])]
    if len(names) != P.shape[0]:
        raise BlendError(f"{len(names)} model names for {P.shape[0]} models")

    def as_pred(Q: np.ndarray) -> np.ndarray:
        Q = np.asarray(Q, dtype=np.float64)
        return Q.reshape(-1) if task == "regression" else Q

    def score(Q: np.ndarray) -> float:
        # pooled over every row, like the stacker's nested score (blend.nested): one definition
        return float(met(y, Q))

    best_name, best_score = None, None
    for i, name in enumerate(names):
        s = score(as_pred(P[i].mean(axis=0)))
        if best_score is None or met.better(s, best_score):
            best_name, best_score = name, s
    mean = combine(P, rule="prob", kind="raw" if task == "regression" else "probs")
    return {"model": best_name, "score": best_score}, score(as_pred(mean))
