"""An upper bound on the accuracy any subset can reach: the beam search's certificate.

A node of the search tree fixes the first ``d`` candidate models (in or out) and leaves the
rest undecided. A row can be right for some completion only if, for every rival class, the
fixed models' summed margin plus the *positive* margins of every undecided model reaches
``-guard`` (the fixed-point margins of :class:`~blend.search._kernels.AccuracyKernel`);
``always right + live rows not surely wrong`` is therefore an upper bound on the count of
right rows of every subset below the node. Best-first refinement (the node with the largest
bound is split on its next model) lowers the largest bound on the frontier; every subset
lies under one frontier node, so that largest bound is an upper bound on the best subset's
count, hence on the K-th best's.

The beam's K-th best is a real subset's score, a lower bound on the true K-th best; the
difference of the two is the certificate: how far, at most, the beam's K-th best can be from
the true K-th best. The bound treats rows one at a time, so it is loose where many rows are
near their decision (it prunes little on Cassava-shaped data: see
``docs/benchmarks/search.md``), but it is proven.
"""

from __future__ import annotations

import heapq
import time

import numpy as np

from blend.search._kernels import AccuracyKernel

__all__ = ["accuracy_upper_bound", "beam_certificate"]


def accuracy_upper_bound(S, labels, cand, forced, min_size, max_size, floor: float = -np.inf,
                         *, max_nodes: int = 4000, budget_s: float = 1.0) -> tuple[int, int]:
    """``(upper, nodes)``: no subset gets more than ``upper`` rows right (``upper >= floor``).

    Nodes whose bound is below ``floor`` are dropped (no subset under them reaches it), so
    the bound returned is ``max(floor, largest bound on the frontier)``. ``nodes``: nodes
    bounded. Stops after ``max_nodes`` nodes or ``budget_s`` seconds.
    """
    k = AccuracyKernel(S, labels, cand, forced, min_size, max_size, inner_bits=0)
    n = k.split.n
    if k.n_constraints == 0:
        return int(k.always_right), 1
    Q = k.QA.astype(np.int64)
    order = np.argsort(-np.abs(Q).sum(axis=1), kind="stable")  # most influential first
    Q = Q[order]
    pos = np.maximum(Q, 0)
    rest = np.zeros((n + 1, Q.shape[1]), dtype=np.int64)
    for d in range(n - 1, -1, -1):
        rest[d] = rest[d + 1] + pos[d]
    base = k.base.astype(np.int64)
    g = k.guard

    def bound(mask: int, d: int) -> int:
        av = base.copy()
        for p in range(d):
            if (mask >> p) & 1:
                av += Q[p]
        vio = av + rest[d] < -g
        lost = int(np.count_nonzero(np.logical_or.reduceat(vio, k.row_starts)))
        return int(k.always_right + k.n_live_rows - lost)

    # sizes count the chosen candidates; the required models are in every subset
    lo = max(min_size - len(forced), 0 if forced else 1)
    hi = max_size - len(forced)

    def feasible(mask: int, d: int) -> bool:  # some completion has an allowed size
        c = int(mask).bit_count()
        return c <= hi and c + (n - d) >= lo

    t0 = time.perf_counter()
    heap = [(-bound(0, 0), 0, 0, 0)]  # (-bound, -depth, mask, depth)
    nodes = 1
    while heap and nodes < max_nodes and time.perf_counter() - t0 < budget_s:
        negb, _, mask, d = heap[0]
        if d == n:  # the largest bound is a single subset's: nothing left to split
            break
        heapq.heappop(heap)
        for child in (mask, mask | (1 << d)):
            if not feasible(child, d + 1):
                continue
            b = bound(child, d + 1)
            nodes += 1
            if b >= floor:
                heapq.heappush(heap, (-b, -(d + 1), child, d + 1))
    top = -heap[0][0] if heap else -np.inf
    return int(max(top, floor)) if np.isfinite(max(top, floor)) else int(k.always_right), nodes


def beam_certificate(S, labels, cand, forced, min_size, max_size, kth_score: float, k: int,
                     **kw) -> dict:
    """How far the beam's K-th best accuracy (``kth_score``) can be from the true K-th best."""
    n_rows = len(labels)
    kth = int(round(kth_score * n_rows))
    t = time.perf_counter()
    upper, nodes = accuracy_upper_bound(S, labels, cand, forced, min_size, max_size, kth, **kw)
    gap = (upper - kth) / n_rows
    text = (f"beam certificate: the true {k}-th best accuracy is at most {upper / n_rows:.5f}, "
            f"at most {gap:.5f} above the beam's {k}-th best ({kth_score:.5f}); the same bound "
            f"caps the best subset (per-row bound, {nodes:,} nodes, "
            f"{time.perf_counter() - t:.1f} s)")
    return {"k": k, "kth_found": kth_score, "upper_bound": upper / n_rows, "gap": gap,
            "nodes": nodes, "text": text}
