"""Conversion between the stored kinds of predictions (probs, logits, raw)."""

from __future__ import annotations

import numpy as np

from oof_common.core import softmax

__all__ = ["convert", "softmax", "LOG_CLIP"]

LOG_CLIP = 1e-7


def convert(preds: np.ndarray, kind: str, output: str, task: str) -> np.ndarray:
    """Convert a block of predictions ``(..., C)`` of ``kind`` to ``output``.

    ``probs`` -> ``logits`` gives log-probabilities (clipped at 1e-7);
    ``logits`` -> ``probs`` applies a softmax. Regression values pass unchanged.
    """
    if output == "raw" or task == "regression" or kind == "raw" or kind == output:
        return preds
    if output == "probs":
        return softmax(preds.astype(np.float32, copy=True))
    return np.log(np.clip(preds, LOG_CLIP, None)).astype(np.float32)
