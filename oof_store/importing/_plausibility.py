"""Plausibility of prediction values: probabilities that are not, and OOF too perfect to be real."""

from __future__ import annotations

import numpy as np

from oof_store._blocks import PROB_SUM_TOL
from oof_store._store import Store
from oof_store.importing._readers import _plural

# Perfect-score guard: thresholds far beyond any real model (see _implausibly_perfect).
PERFECT_LOGLOSS = 1e-4
PERFECT_REL_ERR = 1e-6
PERFECT_SOFT_ERR = 1e-4



def _prob_problems(
    values: np.ndarray, ids: np.ndarray, cols: list[str], sums: bool = True
) -> str | None:
    """Why ``values`` are not probabilities (negative, above 1, rows not summing to 1).

    ``sums=False`` checks the range only (one column: a binary store's positive class).
    """
    neg = values < -PROB_SUM_TOL
    if neg.any():
        r, c = np.argwhere(neg)[0]
        return (
            f"{_plural(int(neg.sum()), 'negative value')} (e.g. id {str(ids[r])!r}, column "
            f"{cols[c]!r}: {values[r, c]:.4g}): these look like logits"
        )
    high = values > 1 + PROB_SUM_TOL
    if high.any():
        r, c = np.argwhere(high)[0]
        return (
            f"{_plural(int(high.sum()), 'value')} above 1 (e.g. id {str(ids[r])!r}, column "
            f"{cols[c]!r}: {values[r, c]:.4g}): these look like logits or scores"
        )
    if not sums:
        return None
    total = values.sum(axis=1)
    bad = np.abs(total - 1.0) > PROB_SUM_TOL
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        return (
            f"{_plural(int(bad.sum()), 'row')} that do not sum to 1 (e.g. id {str(ids[r])!r} sums "
            f"to {total[r]:.4f})"
        )
    return None


def _implausibly_perfect(store: Store, pos: np.ndarray, values: np.ndarray, kind: str) -> str | None:
    """A description of the score when OOF predictions are too good to be predictions.

    Regression: every prediction equals the target (to float32 precision). Binary and
    multiclass: accuracy 1 and log loss below 1e-4. Softclass: the soft targets themselves.
    """
    if len(pos) == 0:
        return None
    y = store.y[pos]
    if store.task == "regression":
        err = np.abs(values[:, 0].astype(np.float64) - y)
        scale = max(float(np.abs(y).max()), 1e-12)
        if err.max() <= PERFECT_REL_ERR * scale:
            rmse = float(np.sqrt(np.mean(err**2)))
            return f"RMSE {rmse:.3g} over {len(y)} rows: every value equals the store's target"
        return None
    p = np.asarray(values, dtype=np.float64)
    if kind != "probs":
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    if store.task == "softclass":
        err = float(np.abs(p - y).max())
        if err <= PERFECT_SOFT_ERR:
            return f"the predictions equal the soft targets (largest difference {err:.2g})"
        return None
    acc = float((p.argmax(axis=1) == y).mean())
    ll = abs(float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0)).mean()))
    if acc == 1.0 and ll <= PERFECT_LOGLOSS:
        return f"accuracy 1.0 and log loss {ll:.2g} over {len(y)} rows"
    return None
