"""The stacker's input: base-model predictions turned into features (:func:`make_features`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blend._errors import BlendError
from blend.stack._stacker import _EPS

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

FEATURES = ("probs", "logits", "logprobs")


def make_features(P: np.ndarray, *, features: str = "probs", task: str) -> np.ndarray:
    """Turn the base models' predictions into the stacker's input.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        Class probabilities (regression: raw predictions, C == 1) of M models and T TTA
        views, as ``store.load_oof(..., output="probs")`` returns them.
    features : {"probs", "logits", "logprobs"}
        ``probs`` keeps the probabilities; ``logprobs`` is ``log(clip(p, 1e-7))``;
        ``logits`` is the centred log-ratio (logprobs minus their mean over classes), the
        logits up to the per-row constant a softmax ignores. Regression accepts only
        ``probs`` (the raw predictions).
    task : str

    Returns
    -------
    X : ndarray of shape (N, M * T, C), float32
        Each (model, TTA view) pair becomes one "model" channel.
    """
    import numpy as np

    if features not in FEATURES:
        raise BlendError(f"unknown features {features!r}; choose one of: {', '.join(FEATURES)}")
    P = np.asarray(P, dtype=np.float32)
    if P.ndim == 3:
        P = P[:, None]
    if P.ndim != 4:
        raise BlendError(f"predictions must have shape (M, T, N, C) or (M, N, C); got {P.shape}")
    M, T, N, C = P.shape
    X = np.moveaxis(P.reshape(M * T, N, C), 1, 0)  # (N, M*T, C)
    if task == "regression":
        if features != "probs":
            raise BlendError(
                f"--features {features} needs class probabilities; regression stacks the raw "
                "predictions (use --features probs)"
            )
        return np.ascontiguousarray(X, dtype=np.float32)
    if features == "probs":
        return np.ascontiguousarray(X, dtype=np.float32)
    L = np.log(np.clip(X, _EPS, 1.0))
    if features == "logits":
        L = L - L.mean(axis=-1, keepdims=True)
    return np.ascontiguousarray(L, dtype=np.float32)
