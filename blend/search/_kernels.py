"""Exhaustive subset kernels.

Both kernels split the candidate models in two: an *outer* part ``A`` (walked one subset at
a time) and an *inner* part ``B`` whose ``2**b`` subset sums are tabulated once, sorted by
subset size. For each outer subset all inner subsets of an allowed size are scored in one
broadcast, so every subset is scored exactly once.

``AccuracyKernel`` (label metric accuracy, every rule):
  a row is right for a subset when its true class wins the blend's argmax. Per row and
  rival class ``c`` the *margin* ``score[y] - score[c]`` of each model is turned into
  integer fixed point (a power-of-two scale chosen so that the sum over all models fits in
  int32 with a resolution of at least 2**-24 per model, else in int64). Row ``r`` is right iff for every rival ``c`` the summed margin is ``>= 1`` when
  ``c < y`` (argmax takes the first maximum) and ``>= 0`` when ``c > y``. Integer sums have
  no drift and no order dependence, so the outer part is walked in Gray-code order (each
  step adds or removes one model's margins). Rival classes that no subset can make win, and
  rows that every subset gets right or every subset gets wrong, are dropped before the
  walk; for each outer subset, margins already decided whatever the inner subset is are
  dropped too, so the broadcast touches only the undecided ones.

  Exactness: decisions are exact for the fixed-point margins. When a margin is not an
  exact multiple of the scale's resolution (the usual case: float32 probabilities below
  1/4, log-probabilities), every summed margin may be off by at most ``guard`` units (half
  a unit per model). The broadcast then counts, per subset, only the rows *possibly*
  right (row-minimum margin ``>= -guard``): an upper bound, as cheap as the exact count.
  Lower bounds (rows *surely* right, ``>= guard``) are computed lazily for the few most
  promising subsets (:class:`LazyTopK`); their K-th best is a proven floor, and every
  subset whose upper bound reaches it is kept and decided in float64 by rescoring, as the
  optimiser's float32 kernel sends its near-ties to float64. The returned top-K is then
  the float64 one. (An exact int64 scale was tried too: 1.4x slower than int32 with the
  guard on float32 probabilities, see ``docs/benchmarks/search.md``.)

  Branch and bound (``run(prune=True)``, ``--method exact``): an outer subset whose
  bound (``always right + live rows not surely wrong whatever the inner subset``) is below
  the floor is skipped without its broadcast; the result is the same.

``GenericKernel`` (any metric): float64 sums of the models' scores, the outer sums computed
directly (no running sums), the blend finalised and passed to the metric for each subset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from blend.combine import finalize
from blend.metrics import Metric
from blend.search._topk import TopK, popcount
from oof_common.core import blas_limit

__all__ = ["AccuracyKernel", "GenericKernel", "GuardedTopK", "LazyTopK", "SharedFloor", "count_subsets",
           "shard_bounds", "run_sharded"]


def count_subsets(n_cand: int, n_forced: int, min_size: int, max_size: int) -> int:
    """Number of subsets with ``min_size <= n_forced + |chosen| <= max_size`` (non-empty)."""
    from math import comb

    lo = max(min_size - n_forced, 0)
    hi = min(max_size - n_forced, n_cand)
    total = sum(comb(n_cand, s) for s in range(lo, hi + 1))
    if n_forced == 0 and lo == 0:
        total -= 1  # the empty subset
    return max(total, 0)


def _table(V: np.ndarray, dtype) -> np.ndarray:
    """All subset sums of the rows of V: out[mask] = sum of V[p] for bits p of mask."""
    n = V.shape[0]
    out = np.zeros((1 << n,) + V.shape[1:], dtype=dtype)
    for p in range(n):
        np.add(out[: 1 << p], V[p], out=out[1 << p : 1 << (p + 1)])
    return out


class _Split:
    """Outer/inner split of the candidate bits and the inner subsets sorted by size."""

    def __init__(self, n_cand: int, inner_bits: int, n_forced: int, min_size: int, max_size: int):
        self.n = n_cand
        self.b = min(inner_bits, n_cand)
        self.a = n_cand - self.b
        self.nf = n_forced
        self.min_size, self.max_size = min_size, max_size
        pop = popcount(np.arange(1 << self.b))
        self.order = np.argsort(pop, kind="stable").astype(np.int64)  # inner masks by size
        self.pstart = np.searchsorted(pop[self.order], np.arange(self.b + 2))

    def inner_range(self, outer_mask: int) -> tuple[int, int]:
        pa = int(outer_mask).bit_count()
        lo = max(self.min_size - self.nf - pa, 0)
        hi = min(self.max_size - self.nf - pa, self.b)
        if self.nf == 0 and pa == 0:
            lo = max(lo, 1)
        if lo > hi:
            return 0, 0
        return int(self.pstart[lo]), int(self.pstart[hi + 1])

    def masks(self, outer_mask: int, j0: int, j1: int) -> np.ndarray:
        return (self.order[j0:j1] << self.a) | int(outer_mask)


def _gray(t: int) -> int:
    return t ^ (t >> 1)


class GuardedTopK:
    """Every subset that can be among the best ``k`` when counts are only known within bounds.

    ``offer(lower, upper, masks)``: each subset's count lies in ``[lower, upper]``. A top-k
    of the lower bounds gives the threshold ``T`` (the k-th best sure count); every subset
    with ``upper >= T`` is kept as a candidate (``T`` only grows, so a subset dropped once
    can never qualify). :meth:`result` returns the candidates, to be rescored exactly.
    """

    def __init__(self, k: int, n_bits: int, limit: int = 200_000):
        self.sure = TopK(k, n_bits)
        self.limit = int(limit)
        self._upper: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._n = 0
        self.truncated = False

    @property
    def threshold(self) -> float:
        return self.sure.threshold

    def offer(self, lower: np.ndarray, upper: np.ndarray, masks: np.ndarray) -> None:
        self.sure.offer(lower, masks)
        upper = np.asarray(upper, dtype=np.float64)
        keep = upper >= self.sure.threshold
        if keep.any():
            self._upper.append(upper[keep])
            self._masks.append(np.asarray(masks, dtype=np.int64)[keep])
            self._n += int(keep.sum())
            if self._n > 2 * self.limit:
                self._prune()

    def _prune(self) -> None:
        self.sure._trim()
        u = np.concatenate(self._upper) if self._upper else np.zeros(0)
        m = np.concatenate(self._masks) if self._masks else np.zeros(0, np.int64)
        keep = u >= self.sure.threshold
        u, m = u[keep], m[keep]
        if len(u) > self.limit:  # pathological ties: keep the most promising
            order = np.argsort(-u, kind="stable")[: self.limit]
            u, m = u[order], m[order]
            self.truncated = True
        self._upper, self._masks, self._n = [u], [m], len(u)

    def merge(self, other: GuardedTopK) -> None:
        self.sure.merge(other.sure)
        self._upper.extend(other._upper)
        self._masks.extend(other._masks)
        self._n += other._n
        self.truncated |= other.truncated
        self._prune()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(upper bounds, masks) of every candidate, most promising first."""
        self._prune()
        u, m = self._upper[0], self._masks[0]
        order = np.argsort(-u, kind="stable")
        return u[order], m[order]


class SharedFloor:
    """The best lower bound on the k-th best count any thread has proved (threads share it)."""

    def __init__(self) -> None:
        self.value = -np.inf

    def raise_to(self, value: float) -> None:
        if value > self.value:  # a plain float store: atomic under the GIL
            self.value = float(value)


class LazyTopK:
    """Every subset that can be among the best ``k``, offered with upper bounds only.

    The kernel's broadcast counts only the rows *possibly* right (an upper bound; inexact
    margins, ``guard > 0``): one count per subset, as cheap as the exact kernel's. Lower
    bounds are computed lazily, for a few subsets only: when many candidates are kept, the
    most promising ``k`` not yet bounded get ``lower(masks)`` (the rows *surely* right, one
    small matrix product), and the ``k``-th best lower bound becomes the threshold ``T``: a
    proven lower bound on the true ``k``-th best, so every subset whose upper bound is below
    ``T`` is dropped for good. :meth:`result` returns every candidate with ``upper >= T``,
    for the caller to rescore exactly (float64). ``shared`` (a :class:`SharedFloor`) lets
    threads use each other's thresholds.
    """

    def __init__(self, k: int, n_bits: int, lower: Callable[[np.ndarray], np.ndarray],
                 limit: int = 200_000, shared: SharedFloor | None = None):
        self.k = int(k)
        self.n_bits = int(n_bits)
        self.lower = lower
        self.sure = TopK(k, n_bits)  # lower bounds of the subsets bounded so far
        self.limit = int(limit)
        self.soft = max(4 * self.k, 256)
        self.shared = shared
        self._upper: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._done: list[np.ndarray] = []
        self._n = 0
        self.n_lower = 0  # subsets whose lower bound was computed
        self.n_pruned = 0
        self.truncated = False

    @property
    def threshold(self) -> float:
        t = self.sure.threshold
        return max(t, self.shared.value) if self.shared is not None else t

    def offer(self, upper: np.ndarray, masks: np.ndarray) -> None:
        upper = np.asarray(upper, dtype=np.float64)
        keep = upper >= self.threshold
        if not keep.all():
            upper, masks = upper[keep], masks[keep]
        if len(upper) == 0:
            return
        self._upper.append(upper)
        self._masks.append(np.asarray(masks, dtype=np.int64))
        self._done.append(np.zeros(len(upper), dtype=bool))
        self._n += len(upper)
        if self._n > 2 * self.soft:
            self._compact()

    def _compact(self, rounds: int = 8) -> None:
        if not self._upper:
            return
        u, m, d = (np.concatenate(x) for x in (self._upper, self._masks, self._done))
        for _ in range(rounds + 1):
            keep = u >= self.threshold
            u, m, d = u[keep], m[keep], d[keep]
            todo = np.flatnonzero(~d)
            if len(u) <= self.soft or len(todo) == 0 or _ == rounds:
                break
            # bound the most promising subsets not bounded yet; their k-th best lower bound
            # is the new threshold
            pick = todo[np.argsort(-u[todo], kind="stable")[: self.k]]
            low = np.asarray(self.lower(m[pick]), dtype=np.float64)
            self.n_lower += len(pick)
            d[pick] = True
            self.sure.offer(low, m[pick])
            self.sure._trim()
            if self.shared is not None:
                self.shared.raise_to(self.sure.threshold)
        if len(u) > self.limit:  # pathological ties: keep the most promising
            order = np.argsort(-u, kind="stable")[: self.limit]
            u, m, d = u[order], m[order], d[order]
            self.truncated = True
        self._upper, self._masks, self._done, self._n = [u], [m], [d], len(u)

    def merge(self, other: LazyTopK) -> None:
        self.sure.merge(other.sure)  # the threads' masks are distinct: no subset twice
        self._upper.extend(other._upper)
        self._masks.extend(other._masks)
        self._done.extend(other._done)
        self._n += other._n
        self.n_lower += other.n_lower
        self.n_pruned += other.n_pruned
        self.truncated |= other.truncated
        self._compact()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(upper bounds, masks) of every candidate, most promising first."""
        self._compact()
        if not self._upper:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        u, m = self._upper[0], self._masks[0]
        order = np.argsort(-u, kind="stable")
        return u[order], m[order]


def _thread_bounds(n_outer: int, n_jobs: int) -> list[tuple[int, int]]:
    """The contiguous share ``[t0, t1)`` of the outer walk each of ``n_jobs`` threads walks."""
    n_jobs = max(1, min(n_jobs, n_outer))
    b = np.linspace(0, n_outer, n_jobs + 1).astype(int)
    return [(int(b[k]), int(b[k + 1])) for k in range(n_jobs)]


class _Recorder:
    """A collector that keeps what it is offered, to be offered again to the real one."""

    threshold = -np.inf

    def __init__(self) -> None:
        self.offers: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_pruned = 0
        self.n_done = 0

    def offer(self, counts: np.ndarray, masks: np.ndarray) -> None:
        self.offers.append((counts, masks))
        self.n_done += len(counts)


def _walk_in_threads(run_range, n_outer: int, make_collector, progress, n_jobs: int,
                     done: list[tuple[int, _Recorder]] | None = None):
    """Walk the outer subsets ``[0, n_outer)`` in ``n_jobs`` threads; the merged collector.

    Each thread calls ``run_range(t0, t1, collector, progress)`` on its share
    (:func:`_thread_bounds`) with its own collector from ``make_collector()`` (a
    :class:`TopK` or a :class:`LazyTopK`). ``done``, when given, is per thread ``(t, rec)``:
    the share's outer subsets before ``t`` were already scored (the plan's timing sample)
    and ``rec`` holds their counts, offered first; the thread walks on from ``t``.
    """
    shares = _thread_bounds(n_outer, n_jobs)
    n_jobs = len(shares)
    if done is not None and len(done) != n_jobs:
        done = None
    tops = [make_collector() for _ in range(n_jobs)]
    lock = threading.Lock()

    def prog(k):
        if progress is not None:
            with lock:
                progress(k)

    def walk(k: int) -> None:
        t0, t1 = shares[k]
        if done is not None:
            t, rec = done[k]
            for counts, masks in rec.offers:
                tops[k].offer(counts, masks)
            if rec.n_done:
                prog(rec.n_done)
            t0 = t
        run_range(t0, t1, tops[k], prog)

    if n_jobs == 1:
        walk(0)
    else:
        with ThreadPoolExecutor(n_jobs) as ex:
            for f in [ex.submit(walk, k) for k in range(n_jobs)]:
                f.result()
    for other in tops[1:]:
        tops[0].merge(other)
    return tops[0]


def shard_bounds(n_outer: int, n_shards: int) -> list[tuple[int, int]]:
    """Split the outer walk ``[0, n_outer)`` into ``n_shards`` contiguous Gray-code ranges.

    A shard starts its walk at its own first outer subset (no state carries over from the
    previous shard) and keeps its own top-k; the best ``k`` of the union is the best ``k``
    of the shards' best ``k`` under the total order of :func:`~blend.search._topk.order_key`,
    so the merged result (ties included) is the single-process one for any boundaries.
    """
    n_shards = max(1, min(int(n_shards), n_outer))
    b = np.linspace(0, n_outer, n_shards + 1).astype(np.int64)
    return [(int(b[i]), int(b[i + 1])) for i in range(n_shards) if b[i + 1] > b[i]]


def _collector(kernel, topk_size: int, shared: SharedFloor | None = None):
    """The kernel's top-k collector: a :class:`LazyTopK` when its margins are inexact.

    Else a plain :class:`TopK` of exact counts.
    """
    if getattr(kernel, "guard", 0):
        return LazyTopK(topk_size, kernel.split.n, kernel.sure_counts, shared=shared)
    return TopK(topk_size, kernel.split.n, getattr(kernel, "tie_perm", None))


def _shard(kernel, t0: int, t1: int, topk_size: int) -> tuple[Any, int, float]:
    """One shard as a task: ``(collector, subsets scored, seconds)`` of outer range [t0, t1)."""
    start = time.perf_counter()
    top = _collector(kernel, topk_size)
    done = [0]

    def count(k):
        done[0] += k

    kernel._run_range(t0, t1, top, count)
    if isinstance(top, LazyTopK):
        top._compact()  # ship only the candidates that can still qualify
    return top, done[0], time.perf_counter() - start


def run_sharded(kernel, topk_size: int, executor, n_shards: int | None = None,
                progress: Callable[[int], None] | None = None, stats: dict | None = None):
    """The whole walk of ``kernel`` as shard tasks on ``executor``; merged (gains, masks).

    The kernel (its tables) is shared once with every task (``executor.map(shared=...)``);
    each task gets only its range. ``n_shards`` defaults to four per worker. ``stats``,
    when given, receives the shard count, per-shard seconds and the merge time. With
    inexact margins (``kernel.guard``) every shard keeps its :class:`GuardedTopK`
    candidates and the merge keeps those that can still be among the best, exactly as
    :meth:`AccuracyKernel.run` does (the caller rescores them in float64).
    """
    n_outer = 1 << kernel.split.a
    shards = shard_bounds(n_outer, n_shards or 4 * executor.n_workers)
    outs = executor.map(_shard, [(t0, t1, topk_size) for t0, t1 in shards], shared=kernel,
                        on_done=None if progress is None else lambda _, o: progress(o[1]))
    t0 = time.perf_counter()
    top = _collector(kernel, topk_size)
    for part, _, _ in outs:
        top.merge(part)
    kernel.truncated = bool(getattr(top, "truncated", False))
    result = top.result()
    if stats is not None:
        stats.update(shards=len(shards), shard_s=[o[2] for o in outs],
                     merge_s=time.perf_counter() - t0)
    return result


class AccuracyKernel:
    """Exact exhaustive accuracy over all subsets (see the module docstring).

    Parameters
    ----------
    S : ndarray of shape (n_models, n_rows, n_classes)
        Each model's scores in the rule's additive space (``blend.combine.to_scores``).
    y : ndarray of shape (n_rows,)
        True class indices.
    cand, forced : sequences of int
        Candidate model indices (bit ``p`` of a mask = ``cand[p]``) and models in every subset.
    """

    def __init__(self, S, y, cand, forced, min_size, max_size, inner_bits=10):
        S = np.asarray(S, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        M, N, C = S.shape
        self.n_rows = N
        cand, forced = list(cand), list(forced)
        self.split = sp = _Split(len(cand), inner_bits, len(forced), min_size, max_size)
        rows = np.arange(N)
        D = S[:, rows, y][:, :, None] - S  # (M, N, C) margins of the true class
        used = cand + forced
        # the largest |margin| of each model, without a copy of the margins
        big = np.maximum(D.max(axis=(1, 2)), -D.min(axis=(1, 2)))
        total = float(big[used].sum()) if used else 0.0
        # int32 when that keeps a resolution of 2**-24 per model's margin, else int64
        # (e.g. logits of very confident models), with at most 2**-40
        fits32 = total == 0 or np.floor(np.log2(2.0**30 / total)) >= 24

        def scale_for(bits):
            return min(2.0 ** np.floor(np.log2(2.0**bits / total)), 2.0**40) if total > 0 else 1.0

        self.scale = scale_for(30 if fits32 else 52)  # 52: float64-exact for the torch path too
        # in place: every large temporary is fresh memory, costly on some VMs (page faults)
        D *= self.scale
        R = np.rint(D)
        #: exact: no margin was rounded; else every summed margin is within ``guard`` units
        self.exact = bool(np.array_equal(R, D))
        del D
        Q = R.astype(np.int64)
        del R
        self.dtype = np.int32 if fits32 else np.int64
        self.shift = 31 if fits32 else 63
        self.guard = 0 if self.exact else (len(used) + 1) // 2 + 1
        g = self.guard
        eps = (np.arange(C)[None, :] < y[:, None]).astype(np.int64)
        base = Q[forced].sum(axis=0) - eps if forced else -eps  # (N, C)
        Qc = Q[cand]
        neg = np.minimum(Qc, 0).sum(axis=0)
        pos = np.maximum(Qc, 0).sum(axis=0)
        if forced:  # the empty choice is allowed: bounds include it
            lo_any, hi_any = base + neg, base + pos
        else:
            lo_any = base + np.where(neg < 0, neg, Qc.min(axis=0))
            hi_any = base + np.where(pos > 0, pos, Qc.max(axis=0))
        sat = lo_any >= g
        sat[rows, y] = True
        vio = hi_any < -g
        vio[rows, y] = False
        row_wrong = vio.any(axis=1)
        self.always_right = int((sat.all(axis=1) & ~row_wrong).sum())
        live = ~sat & ~row_wrong[:, None]
        ri, ci = np.nonzero(live)
        self.n_constraints = len(ri)
        self.n_live_rows = len(np.unique(ri))
        _, rowpos = np.unique(ri, return_inverse=True)
        self.rowpos = rowpos.astype(np.int64)
        self.row_starts = (
            np.flatnonzero(np.r_[True, rowpos[1:] != rowpos[:-1]]) if len(ri) else np.zeros(0, np.int64)
        )
        Qk = Qc[:, ri, ci]  # (n_cand, K)
        self.base = base[ri, ci]
        # the (models, rows, classes) arrays are done with: their memory serves the tables
        del Q, Qc, neg, pos, lo_any, hi_any, sat, vio, live
        self.QA = Qk[: sp.a]
        self.QB = QB = Qk[sp.a :]
        self.negB = np.minimum(QB, 0).sum(axis=0)
        self.posB = np.maximum(QB, 0).sum(axis=0)
        # (K, block) column blocks of the inner subsets' sums, inner subsets by size: a block
        # stays in cache while a batch of outer subsets uses it. Each block is one float64
        # matrix product (integer sums below 2**53: exact), cast to the kernel's type.
        self.block = min(1 << sp.b, 128)
        QBt = np.ascontiguousarray(QB.T, dtype=np.float64)  # (K, b)
        shifts = np.arange(sp.b)
        # one small float64 product buffer for every block, cast into one array of blocks:
        # a new (K, block) float64 temporary per block cost 0.3-0.6 s at 20 models on a VM
        # where fresh memory is slow (page faults); 2**b is a multiple of the block (both
        # are powers of two)
        K = len(QBt)
        tb = np.empty(((1 << sp.b) // self.block, K, self.block), dtype=self.dtype)
        rows_per = max(1, min(K, (1 << 19) // self.block))  # a 4 MiB buffer
        prod = np.empty((rows_per, self.block))
        # small products: one BLAS thread (several spin for 0.2 s on a busy 2-core machine)
        with blas_limit(1):
            for i in range(len(tb)):
                c = i * self.block
                bits_t = ((sp.order[c : c + self.block] >> shifts[:, None]) & 1).astype(np.float64)
                for k0 in range(0, K, rows_per):
                    k1 = min(K, k0 + rows_per)
                    np.matmul(QBt[k0:k1], bits_t, out=prod[: k1 - k0])
                    tb[i, k0:k1] = prod[: k1 - k0]
        del prod
        self.TB_blocks = list(tb)
        self.cand = cand
        #: kernel bit p is bit tie_perm[p] in model order (ties are broken in model order)
        self.tie_perm = list(np.argsort(np.argsort(cand, kind="stable"), kind="stable"))
        self.prune = False
        self.truncated = False
        self.n_pruned = 0
        self._Qf = None
        #: ``(n_jobs, [(outer position, recorded counts)] per thread)`` of the timing sample
        self._sampled = None

    # -- scoring outer subsets -------------------------------------------------------------
    def _prepare_outer(self, outer_mask: int, av: np.ndarray, floor: float = -np.inf):
        """What one outer subset needs: the undecided margins and the fixed part of the count.

        Returns None (no inner subset of an allowed size), an int (the number of its inner
        subsets, pruned: no row count of theirs can reach ``floor``), or
        ``(outer_mask, j0, j1, base, idx, thr, sizes, n_groups)``; with ``idx`` None every
        inner subset scores ``base``. With a ``guard`` the counts are upper bounds (rows
        possibly right): ``thr`` includes ``+guard``.
        """
        sp = self.split
        j0, j1 = sp.inner_range(outer_mask)
        if j1 <= j0:
            return None
        if self.n_constraints == 0:
            return outer_mask, j0, j1, self.always_right, None, None, None, 0
        vio = av + self.posB < -self.guard
        row_vio = np.logical_or.reduceat(vio, self.row_starts)
        n_row_vio = int(np.count_nonzero(row_vio))
        # the bound: rows no inner subset can make right are lost for the whole inner table
        if self.always_right + self.n_live_rows - n_row_vio < floor:
            return j1 - j0
        sat = av + self.negB >= self.guard
        livec = ~sat & ~vio & ~row_vio[self.rowpos]
        idx = np.flatnonzero(livec)
        L = len(idx)
        n_groups = 0
        if L:
            rp = self.rowpos[idx]
            new = np.r_[True, rp[1:] != rp[:-1]]
            gstart = np.flatnonzero(new)
            n_groups = len(gstart)
        # rows with every rival decided in favour of the true class, whatever the inner subset
        base = self.always_right + self.n_live_rows - n_row_vio - n_groups
        if L == 0:
            return outer_mask, j0, j1, base, None, None, None, 0
        sizes = None
        if n_groups < L:
            # Rows with several live rivals: lay the margins out in blocks (1st rival of every
            # row, rows with most rivals first; then 2nd rivals; ...), so the row-wise minimum
            # is a few contiguous np.minimum calls.
            grp = np.cumsum(new) - 1
            cnt = np.diff(np.r_[gstart, L])
            pos = np.arange(L) - gstart[grp]
            idx = idx[np.lexsort((grp, -cnt[grp], pos))]
            sizes = np.bincount(pos)[1:].tolist()  # rows with > l live rivals, l = 1, 2, ...
        thr = (av[idx] + self.guard).astype(self.dtype)[:, None]
        return outer_mask, j0, j1, base, idx, thr, sizes, n_groups

    def _score_batch(self, states):
        """Counts of right rows for a batch of prepared outer subsets.

        The loop runs over column blocks of the inner table outermost, so one block
        (``K x block`` int32) stays in cache while every outer subset of the batch uses it.
        With a ``guard`` (inexact margins) the counts are of the rows *possibly* right (the
        summed margin ``>= -guard``): upper bounds, as cheap as exact counts (the ``+guard``
        is folded into the outer sums).
        """
        blk = self.block
        counts = [None if st is None else np.full(st[2] - st[1], st[3] + st[7], dtype=np.int64)
                  for st in states]
        # one gather buffer for the batch (a new array per gather was 256 allocations of up
        # to K x block per batch)
        n_max = max((len(st[4]) for st in states if st is not None and st[4] is not None),
                    default=0)
        buf = np.empty((n_max, blk), dtype=self.dtype)
        for c, Tc in enumerate(self.TB_blocks):
            c0, c1 = c * blk, (c + 1) * blk
            for st, cnt in zip(states, counts, strict=False):
                if st is None or st[4] is None:
                    continue
                _, j0, j1, _, idx, thr, sizes, n_groups = st
                lo, hi = max(j0, c0), min(j1, c1)
                if lo >= hi:
                    continue
                # gather the undecided margins of this block, add the outer sums, row-wise
                # minimum over rivals, count negatives through the sign bit
                if hi - lo == blk:  # idx holds valid rows: "clip" skips the bounds check
                    work = np.take(Tc, idx, axis=0, out=buf[: len(idx)], mode="clip")
                else:
                    work = Tc[idx, lo - c0 : hi - c0]
                np.add(work, thr, out=work)
                if sizes is not None:
                    off = n_groups
                    for n_l in sizes:
                        np.minimum(work[:n_l], work[off : off + n_l], out=work[:n_l])
                        off += n_l
                    work = work[:n_groups]
                np.right_shift(work, self.shift, out=work)
                cnt[lo - j0 : hi - j0] += np.einsum("ij->j", work)
        return counts

    def _run_range(self, t0, t1, topk, progress, batch: int = 32):
        """Walk outer subsets ``[t0, t1)`` (Gray-code order), offering every count to ``topk``.

        With ``self.prune`` an outer subset whose bound (rows not surely wrong for any inner
        subset) is below ``topk.threshold`` (a proven lower bound on the k-th best) is
        skipped without its broadcast; ``topk.n_pruned`` counts its subsets.
        """
        sp = self.split
        g = _gray(t0)
        av = self.base.copy()
        for p in range(sp.a):
            if (g >> p) & 1:
                av += self.QA[p]
        for b0 in range(t0, t1, batch):
            states = []
            pruned = 0
            floor = topk.threshold if self.prune else -np.inf
            for t in range(b0, min(b0 + batch, t1)):
                g = _gray(t)
                st = self._prepare_outer(g, av, floor)
                if isinstance(st, int):
                    pruned += st
                    st = None
                states.append(st)
                if t + 1 < t1:  # Gray-code step: one model joins or leaves the outer subset
                    flip = ((t + 1) & -(t + 1)).bit_length() - 1
                    if (g >> flip) & 1:
                        av -= self.QA[flip]
                    else:
                        av += self.QA[flip]
            done = 0
            for st, cnt in zip(states, self._score_batch(states), strict=False):
                if st is not None:
                    topk.offer(cnt, sp.masks(st[0], st[1], st[2]))
                    done += len(cnt)
            topk.n_pruned += pruned
            if progress is not None and done + pruned:
                progress(done + pruned)

    def sure_counts(self, masks: np.ndarray, sure: bool = True) -> np.ndarray:
        """Rows surely right (``sure``; else possibly right) for each subset in ``masks``.

        A lower (upper) bound on the float64 count, exact when ``guard`` is 0: the summed
        fixed-point margins as one float64 matrix product (integers below 2**53: exact).
        """
        masks = np.asarray(masks, dtype=np.int64)
        if len(masks) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.n_constraints == 0:
            return np.full(len(masks), self.always_right, dtype=np.int64)
        if self._Qf is None:
            self._Qf = np.concatenate([self.QA, self.QB], axis=0).astype(np.float64)
        bits = ((masks[:, None] >> np.arange(self.split.n)) & 1).astype(np.float64)
        sums = bits @ self._Qf + self.base
        ok = sums >= (self.guard if sure else -self.guard)
        right = np.logical_and.reduceat(ok, self.row_starts, axis=1).sum(axis=1)
        return self.always_right + right.astype(np.int64)

    def run(self, topk_size: int, progress: Callable[[int], None] | None = None, n_jobs: int = 2,
            prune: bool = False):
        """Score every subset; return (gains, masks) of the best ``topk_size``, best first.

        Gains are numbers of correctly predicted rows. With inexact margins (``guard > 0``)
        the masks are every candidate that can be among the best (possibly more than
        ``topk_size``) and the gains their upper bounds: the caller rescores them in
        float64. ``self.truncated`` says whether pathological ties overflowed the candidates.
        ``prune`` skips the outer subsets the bound rules out (branch and bound: the same
        result); ``self.n_pruned`` counts the subsets skipped.
        """
        self.prune = bool(prune)
        shared = SharedFloor()
        # the plan's timing sample walked the start of each thread's share: walk on from there
        done, self._sampled = self._sampled, None
        if done is not None and done[0] != n_jobs:
            done = None
        # the walk's threads are the parallelism: the lower bounds' small products (in
        # LazyTopK) take one BLAS thread each
        with blas_limit(1):
            top = _walk_in_threads(self._run_range, 1 << self.split.a,
                                   lambda: _collector(self, topk_size, shared), progress, n_jobs,
                                   done=None if done is None else done[1])
        self.truncated = bool(getattr(top, "truncated", False))
        self.n_pruned = int(top.n_pruned)
        self.n_lower = int(getattr(top, "n_lower", 0))
        return top.result()

    def estimate_seconds(self, n_jobs: int = 2, sample_s: float = 0.15, keep: bool = True) -> float:
        """Wall time for the whole walk, extrapolated from its first outer subsets.

        The sample walks the start of each thread's share exactly as the search does, in
        ``n_jobs`` threads at once, so the machine's current load and the threads' real
        speed-up are in the figure (an earlier estimate timed random single outer subsets on
        one thread and divided by a fixed factor: 3.5x low at load 7, 2.6-2.8x high at 24
        models). For ``prune=True`` it is an upper bound (the sample does not prune).

        With ``keep`` the sampled counts are kept, and :meth:`run` with the same ``n_jobs``
        offers them and walks on from where the sample stopped: the sample is part of the
        search instead of 0.15-0.4 s spent before it (every outer subset is still scored
        once). Runs of 8 outer subsets, so the sample ends close to ``sample_s``.
        """
        n_outer = 1 << self.split.a
        shares = _thread_bounds(n_outer, n_jobs)
        n_jobs = len(shares)
        pos = [t0 for t0, _ in shares]
        recs = [_Recorder() for _ in range(n_jobs)]
        done = [0] * n_jobs
        stop = 0.0  # set below, after the warm-up

        def work(k: int) -> None:
            while time.perf_counter() < stop and pos[k] < shares[k][1]:
                t1 = min(shares[k][1], pos[k] + 8)
                self._run_range(pos[k], t1, recs[k], None)
                done[k] += t1 - pos[k]
                pos[k] = t1

        # warm-up, untimed: first-call costs (allocations, thread start) are not per subset
        t1 = min(shares[0][1], 4)
        self._run_range(0, t1, recs[0], None)
        pos[0] = t1
        stop = time.perf_counter() + sample_s
        t0 = time.perf_counter()
        if n_jobs == 1:
            work(0)
        else:
            with ThreadPoolExecutor(n_jobs) as ex:
                list(ex.map(work, range(n_jobs)))
        est = (time.perf_counter() - t0) / max(sum(done), 1) * n_outer
        self._sampled = (n_jobs, list(zip(pos, recs, strict=True))) if keep else None
        return est


class GenericKernel:
    """Exhaustive search for any metric: each subset blended in float64 and scored.

    Parameters
    ----------
    S : ndarray of shape (n_models, n_rows, n_classes)
        Scores in the rule's additive space.
    y : ndarray
        Targets as the metric expects them.
    metric : Metric
    rule, kind : str
        Passed to ``blend.combine.finalize``.
    """

    def __init__(self, S, y, cand, forced, min_size, max_size, *, metric: Metric, rule, kind, inner_bits=None):
        S = np.asarray(S, dtype=np.float64)
        self.y, self.metric, self.rule, self.kind = y, metric, rule, kind
        cand, forced = list(cand), list(forced)
        per_subset = S[0].nbytes
        if inner_bits is None:
            inner_bits = int(max(0, min(8, np.floor(np.log2(max(1, 32 * 2**20 // per_subset))))))
        self.split = sp = _Split(len(cand), inner_bits, len(forced), min_size, max_size)
        self.base = S[forced].sum(axis=0) if forced else np.zeros(S.shape[1:])
        self.SA = S[cand[: sp.a]]
        self.TB = _table(S[cand[sp.a :]], np.float64)[sp.order]
        self.sizes_B = popcount(sp.order)
        self.cand = cand

    def _score_outer(self, g: int):
        sp = self.split
        j0, j1 = sp.inner_range(g)
        if j1 <= j0:
            return None
        av = self.base.copy()
        for p in range(sp.a):
            if (g >> p) & 1:
                av += self.SA[p]
        k = sp.nf + int(g).bit_count() + self.sizes_B[j0:j1]
        blend = (av[None] + self.TB[j0:j1]) / k[:, None, None]
        P = finalize(blend, rule=self.rule, kind=self.kind)
        if P.shape[-1] == 1:
            P = P[..., 0]
        scores = np.array([self.metric(self.y, P[t]) for t in range(len(P))])
        return self.metric.gain(scores), sp.masks(g, j0, j1)

    def _run_range(self, t0: int, t1: int, top: TopK, progress) -> None:
        for t in range(t0, t1):
            out = self._score_outer(t)
            if out is not None:
                top.offer(*out)
                if progress is not None:
                    progress(len(out[0]))

    def run(self, topk_size: int, progress=None, n_jobs: int = 2):
        """Score every subset; (gains, masks) of the best ``topk_size``, best first.

        ``n_jobs`` threads share the outer subsets (numpy releases the GIL in the blend and
        in most metrics).
        """
        return _walk_in_threads(self._run_range, 1 << self.split.a,
                                lambda: TopK(topk_size, self.split.n), progress, n_jobs).result()

    def estimate_seconds(self, n_jobs: int = 1, sample_s: float = 0.3) -> float:
        n_outer = 1 << self.split.a
        t_start = time.perf_counter()
        n_sub = 0
        for t in range(n_outer):
            out = self._score_outer(t)
            n_sub += 0 if out is None else len(out[0])
            if time.perf_counter() - t_start > sample_s:
                break
        elapsed = time.perf_counter() - t_start
        total = count_subsets(self.split.n, self.split.nf, self.split.min_size, self.split.max_size)
        return elapsed / max(n_sub, 1) * total
