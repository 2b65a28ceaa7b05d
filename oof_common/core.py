"""Task names and the softmax, defined once for the whole project."""

from __future__ import annotations

import numpy as np

__all__ = ["TASKS", "softmax"]

TASKS = ("binary", "multiclass", "softclass", "regression")


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``; the input is not modified.

    Parameters
    ----------
    z : ndarray
        Scores (logits); the dtype is kept (float32 in, float32 out).
    axis : int
        The class axis.

    Returns
    -------
    ndarray
        Probabilities of the same shape, summing to 1 along ``axis``.
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z
