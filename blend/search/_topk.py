"""Keep the best K subsets seen, in a fixed, documented order.

Order: better score first; on equal scores the smaller subset first; on equal size the
lexicographically smaller list of model indices first (``(0, 3)`` before ``(1, 2)``).
Subsets are bit masks over the candidate models (bit ``p`` = candidate ``p``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TopK", "popcount", "order_key", "permute_bits"]


def popcount(masks: np.ndarray) -> np.ndarray:
    masks = np.asarray(masks, dtype=np.int64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(masks).astype(np.int64)
    out = np.zeros(masks.shape, dtype=np.int64)  # pragma: no cover - numpy < 2
    m = masks.copy()
    while np.any(m):
        out += m & 1
        m >>= 1
    return out


def _reverse_bits(masks: np.ndarray, n_bits: int) -> np.ndarray:
    out = np.zeros_like(masks)
    for b in range(n_bits):
        out |= ((masks >> b) & 1) << (n_bits - 1 - b)
    return out


def order_key(gains: np.ndarray, masks: np.ndarray, n_bits: int) -> np.ndarray:
    """Indices that sort (gains, masks) best first (see the module docstring)."""
    # For equal sizes, the lexicographically smaller index list has the lowest differing
    # bit set, i.e. the larger bit-reversed mask.
    return np.lexsort((-_reverse_bits(masks, n_bits), popcount(masks), -gains))


def permute_bits(masks: np.ndarray, perm) -> np.ndarray:
    """Masks with bit ``p`` moved to bit ``perm[p]``."""
    masks = np.asarray(masks, dtype=np.int64)
    out = np.zeros_like(masks)
    for p, q in enumerate(perm):
        out |= ((masks >> p) & 1) << int(q)
    return out


class TopK:
    """The best ``k`` (gain, mask) pairs offered so far; larger gain is better.

    ``perm``: when the masks' bits are not in model order (a kernel that reorders its
    candidates), bit ``p`` is model-order bit ``perm[p]``: ties are broken in model order.
    """

    def __init__(self, k: int, n_bits: int, perm=None):
        self.k = int(k)
        self.n_bits = int(n_bits)
        self.perm = None if perm is None or list(perm) == list(range(len(perm))) else list(perm)
        self._gains: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._n = 0
        self.threshold = -np.inf
        self.n_pruned = 0  # subsets skipped by a bound (branch and bound), for the record

    def offer(self, gains: np.ndarray, masks: np.ndarray) -> None:
        gains = np.asarray(gains, dtype=np.float64)
        keep = gains >= self.threshold
        if not keep.all():
            gains, masks = gains[keep], masks[keep]
        if len(gains) == 0:
            return
        self._gains.append(gains)
        self._masks.append(np.asarray(masks, dtype=np.int64))
        self._n += len(gains)
        if self._n > 4 * self.k + 1024:
            self._trim()

    def _trim(self) -> None:
        if not self._gains:
            return
        g = np.concatenate(self._gains)
        m = np.concatenate(self._masks)
        key = m if self.perm is None else permute_bits(m, self.perm)
        order = order_key(g, key, self.n_bits)[: self.k]
        g, m = g[order], m[order]
        self._gains, self._masks, self._n = [g], [m], len(g)
        if len(g) >= self.k:
            self.threshold = g[-1]

    def merge(self, other: TopK) -> None:
        self.n_pruned += getattr(other, "n_pruned", 0)
        self._gains.extend(other._gains)
        self._masks.extend(other._masks)
        self._n += other._n
        self._trim()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(gains, masks) best first."""
        self._trim()
        if not self._gains:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return self._gains[0], self._masks[0]
