"""The accuracy search on a torch device (a GPU when there is one), exact.

Same margins as ``AccuracyKernel`` (integer fixed point, the same rows and rivals dropped),
but no outer/inner split: a chunk of subsets is a 0/1 matrix ``(B, n_cand)`` and the summed
margins of every subset are one float64 matrix product with the margins ``(n_cand, K)``.
Every product and partial sum is an integer below 2**53, so float64 is exact whatever the
summation order. Rows are grouped by their number of live rivals, so the row-wise minimum is
an ``amin`` over a small last axis. With inexact margins (``kernel.guard > 0``) it counts
the rows surely and possibly right, like the CPU kernel, and returns every candidate that
can reach the top ``top`` for the caller to rescore in float64. torch is imported only here.
"""

from __future__ import annotations

import numpy as np

from blend.search._kernels import AccuracyKernel, GuardedTopK
from blend.search._topk import TopK

__all__ = ["torch_accuracy_search"]


def torch_accuracy_search(kernel: AccuracyKernel, top: int, *, device: str = "cuda",
                          chunk: int | None = None, progress=None):
    """Best ``top`` subsets (gains, masks), like ``AccuracyKernel.run``, on ``device``."""
    import torch

    sp = kernel.split
    n = sp.n
    dev = torch.device(device)
    Q = np.concatenate([kernel.QA, kernel.QB], axis=0)  # (n_cand, K), outer then inner bits
    K = Q.shape[1]
    fixed = kernel.always_right
    # group constraints by row, rows by their number of rivals
    rowpos = kernel.rowpos
    counts = np.bincount(rowpos, minlength=kernel.n_live_rows) if K else np.zeros(0, np.int64)
    groups = []
    for g in np.unique(counts):
        rows = np.flatnonzero(counts == g)
        sel = np.flatnonzero(np.isin(rowpos, rows))  # rows' constraints, row-major (sorted)
        groups.append((int(g), torch.as_tensor(Q[:, sel], dtype=torch.float64, device=dev),
                       torch.as_tensor(kernel.base[sel], dtype=torch.float64, device=dev)))
    total = 1 << n
    if chunk is None:
        per = max(K, 1) * 8 * 3
        chunk = int(max(1024, min(1 << 16, (512 * 2**20) // per)))
    bits = torch.arange(n, device=dev, dtype=torch.int64)
    guard = float(getattr(kernel, "guard", 0))
    topk = GuardedTopK(top, n) if guard else TopK(top, n, getattr(kernel, "tie_perm", None))
    size_lo = max(sp.min_size - sp.nf, 0)
    size_hi = sp.max_size - sp.nf
    for s0 in range(0, total, chunk):
        t = torch.arange(s0, min(s0 + chunk, total), device=dev, dtype=torch.int64)
        # candidate bit p of mask t: the outer part is bits 0..a-1, inner a..n-1, as masks
        X = ((t[:, None] >> bits[None, :]) & 1).to(torch.float64)
        size = X.sum(dim=1)
        ok = (size >= size_lo) & (size <= size_hi)
        if sp.nf == 0:
            ok &= size > 0
        right = torch.full((len(t),), float(fixed), device=dev, dtype=torch.float64)
        maybe = right.clone()
        for g, Qg, bg in groups:
            sums = X @ Qg + bg  # (B, rows_g * g), exact integers in float64
            worst = sums.view(len(t), -1, g).amin(dim=2)
            right += (worst >= guard).sum(dim=1).to(torch.float64)
            if guard:
                maybe += (worst >= -guard).sum(dim=1).to(torch.float64)
        right = torch.where(ok, right, torch.full_like(right, -1.0))
        thr = topk.threshold
        if guard:
            maybe = torch.where(ok, maybe, torch.full_like(maybe, -1.0))
            keep = torch.nonzero(maybe >= (thr if np.isfinite(thr) else 0.0)).flatten()
            topk.offer(right[keep].cpu().numpy(), maybe[keep].cpu().numpy(),
                       t[keep].cpu().numpy())
        else:
            keep = torch.nonzero(right >= (thr if np.isfinite(thr) else 0.0)).flatten()
            topk.offer(right[keep].cpu().numpy(), t[keep].cpu().numpy())
        if progress is not None:
            progress(int(ok.sum()))
    kernel.truncated = bool(getattr(topk, "truncated", False))
    return topk.result()
