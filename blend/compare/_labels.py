"""The label-tracing object of a comparison: the only way to the labels, every read recorded."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any

import numpy as np

from blend.compare._data import CompareData

__all__ = ["TracedLabels", "traced"]


class TracedLabels:
    """The labels of a comparison; every read is recorded for the fits and choices under way.

    The comparison holds no raw label array: :func:`build_candidates` and
    :class:`Comparison` replace ``CompareData.y`` by this object, so a candidate reaches the
    labels only through it and cannot bypass the row spy. ``labels[rows]`` records
    ``rows``; anything that turns the whole object into an array (``np.asarray``, a metric
    called on it) records every row. ``shape``, ``ndim``, ``dtype``, ``len`` and
    :meth:`distinct` (the set of label values, known like the class names) record nothing.

    Parameters
    ----------
    y : ndarray of shape (N,) or (N, C)
    """

    def __init__(self, y: np.ndarray) -> None:
        self._y = np.asarray(y)
        self._local = threading.local()

    @property
    def shape(self) -> tuple[int, ...]:
        """The labels' shape."""
        return self._y.shape

    @property
    def ndim(self) -> int:
        """The labels' number of dimensions."""
        return self._y.ndim

    @property
    def dtype(self) -> np.dtype:
        """The labels' dtype."""
        return self._y.dtype

    def __len__(self) -> int:
        return len(self._y)

    def _stack(self) -> list[np.ndarray]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def mark(self, rows: Any) -> None:
        """Record ``rows`` (indices, a mask or a slice) as read by every trace under way."""
        for m in self._stack():
            m[rows] = True

    @contextlib.contextmanager
    def trace(self):
        """Record the rows read inside the ``with`` block (this thread) in a boolean mask."""
        mask = np.zeros(len(self._y), dtype=bool)
        stack = self._stack()
        stack.append(mask)
        try:
            yield mask
        finally:
            stack.pop()

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = rows if isinstance(rows, slice) else np.asarray(rows)
        self.mark(rows)
        return self._y[rows]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.mark(slice(None))
        return self._y.astype(dtype) if dtype is not None else self._y.copy()

    def distinct(self) -> np.ndarray:
        """The distinct label values (no row is recorded: the value set is part of the task)."""
        return np.unique(self._y)

    def __getstate__(self) -> dict[str, Any]:
        return {"_y": self._y}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._y = state["_y"]
        self._local = threading.local()


def traced(data: CompareData) -> CompareData:
    """``data`` with its labels behind a :class:`TracedLabels` (unchanged if already)."""
    if isinstance(data.y, TracedLabels):
        return data
    return dataclasses.replace(data, y=TracedLabels(data.y))
