"""Task names, the softmax and the BLAS-thread limit, defined once for the whole project."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported by softmax itself: the CLIs start without it
    import numpy as np

__all__ = ["TASKS", "softmax", "blas_limit", "CommandWarning"]

TASKS = ("binary", "multiclass", "softclass", "regression")


class CommandWarning(UserWarning):
    """Something a command goes on without and must say.

    The CLIs print each as one ``warning:`` line (``oof_common.cli.run_main``); Python
    callers see an ordinary warning.
    """


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
    import numpy as np

    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def blas_limit(n: int | None) -> Any:
    """A context manager limiting the BLAS thread pools to ``n`` threads (``None``: no limit).

    Many small matrix products in several fits at once only make BLAS threads spin (a
    logistic-regression stacker fit took 50 s instead of 4 s on a busy 2-core machine), so
    the fits running side by side each take one. ``threadpoolctl`` is imported only here,
    and a no-op context is returned when it is missing.

    Parameters
    ----------
    n : int or None
        Threads per BLAS pool inside the context; ``None`` leaves them as they are.

    Returns
    -------
    contextlib.AbstractContextManager
    """
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")
