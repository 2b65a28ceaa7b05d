"""The inner validation split a fold's epoch is selected on."""

from __future__ import annotations

import numpy as np

from .._errors import ImageTrainerError


def inner_split(rows: np.ndarray, targets: np.ndarray, fraction: float, seed: int):
    """Split a fold's training rows into rows to fit and rows to select the epoch on.

    Stratified by class (the argmax of soft targets) and seeded: of each class's ``n``
    rows, ``round(fraction * n)`` are held out (at least one when ``n >= 2``), so every
    class is seen on both sides when it can be.

    Returns
    -------
    fit_rows, select_rows : ndarray of int
        Disjoint, sorted, together ``rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    t = np.asarray(targets)
    labels = t[rows].argmax(axis=1) if t.ndim == 2 else t[rows]
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = rows[labels == c]
        n_held = max(int(round(fraction * len(members))), 1 if len(members) >= 2 else 0)
        held.append(rng.permutation(members)[:n_held])
    select_rows = np.sort(np.concatenate(held)) if held else rows[:0]
    fit_rows = np.setdiff1d(rows, select_rows)
    if len(select_rows) == 0 or len(fit_rows) == 0:
        raise ImageTrainerError(
            f"cannot hold out an inner validation split from {len(rows)} training rows; "
            "pass --select-by last (no epoch selection) or more rows"
        )
    return fit_rows, select_rows
