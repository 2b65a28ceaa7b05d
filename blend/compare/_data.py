"""The data a comparison runs on (:class:`CompareData`), the complexity order, the seeds."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

#: Complexity order used by the recommendation rule (smaller = simpler).
COMPLEXITY = {"mean": 0, "selection": 1, "cuts": 1, "weights": 2, "stacker": 3, "level3": 4}


@dataclass(frozen=True)
class CompareData:
    """The arrays a comparison runs on.

    Attributes
    ----------
    probs : ndarray of shape (M, 1, N, C)
        Probabilities (TTA views averaged); raw predictions ``(M, 1, N, 1)`` for regression.
    y : ndarray of shape (N,) or (N, C)
    folds : ndarray of shape (N,)
    task : str
    models : list of str
    logits : ndarray of shape (M, 1, N, C), optional
        What the store returns for ``output="logits"``; the logit rule uses it (from
        ``probs`` when absent).
    """

    probs: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    task: str
    models: list[str]
    logits: np.ndarray | None = None

    @property
    def regression(self) -> bool:
        """Whether the task is regression (one raw prediction column)."""
        return self.task == "regression"


def _seed_for(seed: int, name: str, held: frozenset) -> int:
    return int(np.random.default_rng([seed, zlib.crc32(name.encode()), *sorted(held)])
               .integers(0, 2**31 - 1))
