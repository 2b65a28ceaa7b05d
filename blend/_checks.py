"""The one check of aligned inputs: labels and folds with one entry per row of the predictions.

Every algorithm on arrays (optimize, stack, report, ordinal, compare, the nested engine)
takes predictions ``P`` with ``N`` rows, labels ``y`` and ``folds``; :func:`check_rows`
checks the two against ``N`` with one wording, so an error reads the same whichever command
met it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blend._errors import BlendError

__all__ = ["check_rows"]


def check_rows(y: Any, folds: Any, n_rows: int, *, what: str = "the predictions",
               y_shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``folds`` as arrays, checked to hold one entry per row of ``what``.

    Parameters
    ----------
    y : array-like of shape (N,) or (N, C)
        Labels (or soft targets, or values).
    folds : array-like of shape (N,)
        The fold id of each row.
    n_rows : int
        ``N``, the number of rows of ``what``.
    what : str
        What the rows belong to, for the message ("the predictions", "the features").
    y_shape : tuple of int, optional
        The exact shape ``y`` must have (e.g. ``(N,)``), when a bare row count is not enough.

    Returns
    -------
    y, folds : ndarray

    Raises
    ------
    BlendError
        Naming the shapes, e.g. "y has 30 rows but the predictions have 40".
    """
    y = np.asarray(y)
    folds = np.asarray(folds)
    ny = y.shape[0] if y.ndim else 0
    if ny != n_rows:
        raise BlendError(f"y has {ny} rows but {what} have {n_rows}; pass one label per row")
    if y_shape is not None and y.shape != y_shape:
        raise BlendError(f"y must have shape {y_shape} (one value per row); got {y.shape}")
    if folds.shape != (n_rows,):
        raise BlendError(f"folds must hold one fold id per row ({n_rows}); got shape {folds.shape}")
    return y, folds
