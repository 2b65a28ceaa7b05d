"""The objective the weight optimisers minimise, scored a whole population at a time.

:class:`Objective` turns ``P (U, N, C)`` and the labels into a function of weight matrices
``W (S, K)`` (``S`` candidate weight vectors, ``K = U`` or ``U * C`` with per-class weights)
returning ``S`` metric values in one broadcast. Three specialised kernels keep it fast:

* **accuracy** under a linear rule (prob, logit, geo): the blend's argmax is the argmax of
  ``sum_u w_u X_u`` (``X`` = probabilities, logits or log-probabilities), so a row is right
  iff every margin ``sum_u w_u (X_u[y] - X_u[c])`` is positive. Margins against the true
  class are computed once; rows that every non-zero weight vector gets right (every unit's
  margins positive) or wrong (one class beats the true class in every unit) are dropped and
  counted once; a population is then one matrix product ``W @ D``.
* **log loss / KL / cross-entropy**: closed forms in the probabilities of the true class
  (prob rule) or ``logsumexp(z) - z[y]`` (logit and geo rules), with an analytic gradient
  (:meth:`Objective.loss_and_grad`) for L-BFGS.
* **any other metric** under a linear rule: the population's blends are built by one
  ``einsum`` per chunk and the core metric is called on each.

The rank rule falls back to :func:`blend.combine.combine` one vector at a time.
:func:`reference_scores` is the plain twin (core ``combine`` + core metric, one vector at a
time); the tests hold the two equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import LINEAR_RULES, blend_per_class, finish_linear, transform

__all__ = ["Objective", "reference_scores", "blend_per_class", "CE_METRICS", "LINEAR_RULES"]

#: Metrics that are (shifts of) the cross-entropy of the blended probabilities.
CE_METRICS = ("logloss", "log_loss", "kl", "cross_entropy", "crossentropy", "ce")
_EPS = 1e-15
_CHUNK_BYTES = 64 * 2**20


def normalise(W: np.ndarray, n_units: int, per_class: bool, n_classes: int) -> np.ndarray:
    """Clip to non-negative and normalise to sum one (per class); all-zero -> uniform.

    Parameters
    ----------
    W : ndarray of shape (S, K)
        ``K = U`` or ``U * C`` (unit-major) with ``per_class``.

    Returns
    -------
    ndarray of shape (S, U) or (S, U, C)
    """
    W = np.clip(np.asarray(W, dtype=np.float64), 0.0, None)
    if per_class:
        W = W.reshape(W.shape[0], n_units, n_classes)
        s = W.sum(axis=1, keepdims=True)
        return np.where(s > 0, W / np.where(s > 0, s, 1.0), 1.0 / n_units)
    s = W.sum(axis=1, keepdims=True)
    return np.where(s > 0, W / np.where(s > 0, s, 1.0), 1.0 / n_units)


def _maybe_duplicates(key: np.ndarray) -> bool:
    """Whether some rows of ``key`` (R, L) may be equal.

    A cheap 1-D screen before the exact (sorting) ``np.unique(axis=0)``. Equal rows always get
    equal hashes; a false alarm only costs the exact test, never correctness, since the exact
    test decides.
    """
    if len(key) < 2:
        return False
    h = key @ np.random.default_rng(0).random(key.shape[1])
    h.sort()
    return bool((h[1:] == h[:-1]).any())


class Objective:
    """Metric of the blend for populations of weight vectors.

    Parameters
    ----------
    P : ndarray of shape (U, N, C)
        One score matrix per unit, as stored (``kind`` says what it holds).
    y : ndarray of shape (N,) or (N, C)
        Labels as ``store.y``: int classes, soft targets or regression targets.
    metric : blend.metrics.Metric
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
    per_class : bool
        One weight per (unit, class) instead of per unit.

    Attributes
    ----------
    n_params : int
        ``K``, the length of one weight vector.
    evaluations : int
        Weight vectors scored so far.
    """

    def __init__(
        self,
        P: np.ndarray,
        y: np.ndarray,
        metric: Any,
        *,
        rule: str = "prob",
        kind: str = "probs",
        per_class: bool = False,
    ) -> None:
        P = np.asarray(P)
        if P.ndim != 3:
            raise BlendError(f"P must have shape (units, rows, classes); got shape {P.shape}")
        self.P, self.y, self.metric = P, np.asarray(y), metric
        self.rule, self.kind, self.per_class = rule, kind, per_class
        self.n_units, self.n_rows, self.n_classes = P.shape
        self.regression = self.n_classes == 1 and self.y.ndim == 1 and self.y.dtype.kind == "f"
        if per_class and (self.regression or self.n_classes < 2):
            raise BlendError("per-class weights need a classification task with >= 2 classes")
        self.n_params = self.n_units * (self.n_classes if per_class else 1)
        self.sign = -1.0 if metric.greater_is_better else 1.0
        self.evaluations = 0
        name = getattr(metric, "name", "")
        linear = rule in LINEAR_RULES
        self.X = transform(P, rule, kind) if linear else None
        hard = self.y.ndim == 1 and self.y.dtype.kind in "iub"
        if linear and not per_class and name == "accuracy" and hard and not self.regression:
            self.path = "accuracy"
            self._prepare_margins()
        elif linear and not per_class and name in CE_METRICS and not self.regression:
            self.path = "ce"
            self._prepare_ce(name, hard)
        elif linear:
            self.path = "generic"
        else:
            self.path = "combine"

    # ------------------------------------------------------------------ accuracy kernel
    def _prepare_margins(self) -> None:
        """Compress the accuracy problem once: margins, dropped rows and columns, float32.

        A row is right iff for every other class ``c`` the margin ``m_c = sum_u w_u D_u[c]``
        (``D_u[c] = X_u[y] - X_u[c]``) is positive, or zero with ``c > y`` (``np.argmax``
        takes the first maximum). With ``w >= 0`` (not all zero):

        * a column with every ``D_u[c] > 0`` (or ``>= 0`` and ``c > y``) is always satisfied,
          one with every ``D_u[c] < 0`` (or ``<= 0`` and ``c < y``) always violated: rows
          with all columns satisfied are always right, rows with one violated always wrong;
          both are counted once and dropped;
        * of two columns with ``D[c] >= D[c']`` for every unit, ``c`` is implied by ``c'``
          (``m_c >= m_c'``) and is dropped from the fast pass;
        * a row's sign pattern is unchanged by a positive scale: each row is scaled by a
          power of two (exact) to max ``|D|`` in ``[0.5, 1)``, so one absolute error bound
          ``_guard`` covers the float32 pass;
        * rows are grouped by their number ``k`` of remaining columns, and identical rows
          are merged with a count.

        The fast pass decides every (vector, row) whose smallest margin is farther than
        ``_guard`` from zero; the rest (near-ties, exact ties) are recomputed in float64 on
        all columns, exactly as :meth:`_accuracy_f64` does.
        """
        X, y = self.X, self.y.astype(np.int64)
        U, N, C = X.shape
        rows = np.arange(N)
        true = X[:, rows, y]  # (U, N)
        others = np.array([[c for c in range(C) if c != k] for k in range(C)])[y]  # (N, C-1)
        D = true[:, :, None] - X[:, rows[:, None], others]  # (U, N, C-1)
        gt = others > y[:, None]  # argmax picks the first max: a tie wins only if c > y
        sat = (D > 0).all(axis=0) | ((D >= 0).all(axis=0) & gt)  # (N, C-1)
        vio = (D < 0).all(axis=0) | ((D <= 0).all(axis=0) & ~gt)
        always_right = sat.all(axis=1)
        always_wrong = vio.any(axis=1)
        keep = ~(always_right | always_wrong)
        self.n_always_right = int(always_right.sum())
        self.n_kept = int(keep.sum())
        D, gt, sat = D[:, keep, :], gt[keep], sat[keep]
        # the float64 twin's data (also the fallback for near-ties)
        self._D = np.ascontiguousarray(D.reshape(U, -1))  # (U, R*(C-1))
        self._D3 = self._D.reshape(U, self.n_kept, C - 1)
        self._gt = gt
        self._groups: list[tuple[int, int, int, np.ndarray, np.ndarray | None]] = []
        self._Dfast = np.zeros((U, 0), dtype=np.float32)
        if self.n_kept == 0:
            return
        # drop satisfied and dominated columns from the fast pass
        active = ~sat
        if C - 1 <= 16:
            for c in range(C - 1):
                for c2 in range(C - 1):
                    if c2 == c:
                        continue
                    dom = active[:, c] & active[:, c2] & (D[:, :, c] >= D[:, :, c2]).all(axis=0)
                    if c2 > c:  # identical columns: keep the first
                        dom &= ~(D[:, :, c] == D[:, :, c2]).all(axis=0)
                    active[:, c] &= ~dom
        # scale each row by a power of two so that max |D| lies in [0.5, 1)
        big = np.abs(D).max(axis=(0, 2))
        _, e = np.frexp(np.where(big > 0, big, 1.0))
        Ds = D * np.ldexp(1.0, -e)[None, :, None]
        # guard: float32 rounding of D and w, and the float32 sum of U products, each
        # bounded by U * 2**-24 * max|D| (< 1); doubled for safety
        self._guard = np.float32(2.0 * (U + 4) * 2.0**-24)
        order = np.argsort(~active, axis=1, kind="stable")  # active columns first
        kcount = active.sum(axis=1)
        parts, offset = [], 0
        for k in np.unique(kcount):
            idx = np.flatnonzero(kcount == k)  # kept-row indices
            cols = order[idx, :k]  # (R_k, k)
            key = np.concatenate(
                [Ds[:, idx, :].transpose(1, 0, 2).reshape(len(idx), -1), y[keep][idx, None]],
                axis=1,
            )
            cnt = None
            if _maybe_duplicates(key):
                _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
                if counts.max() > 1:
                    idx, cols, cnt = idx[first], cols[first], counts.astype(np.float32)
            Rk = len(idx)
            seg = Ds[:, idx[:, None], cols]  # (U, R_k, k)
            parts.append(seg.transpose(0, 2, 1).reshape(U, k * Rk))  # column-major in k
            self._groups.append((offset, int(k), Rk, idx, cnt))
            offset += int(k) * Rk
        self._Dfast = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def _accuracy_f64(self, W: np.ndarray) -> np.ndarray:
        """The float64 margin kernel on all kept rows and columns (the fast one's twin)."""
        S = W.shape[0]
        if self.n_kept == 0:
            return np.full(S, self.n_always_right / self.n_rows)
        out = np.empty(S)
        width = self._D.shape[1]
        step = max(1, _CHUNK_BYTES // (8 * width))
        for a in range(0, S, step):
            M = (W[a : a + step] @ self._D).reshape(-1, self.n_kept, self.n_classes - 1)
            ok = (M > 0) | ((M == 0) & self._gt)
            out[a : a + step] = ok.all(axis=2).sum(axis=1)
        return (out + self.n_always_right) / self.n_rows

    def _exact_rows(self, W: np.ndarray, si: np.ndarray, ri: np.ndarray) -> np.ndarray:
        """Float64 verdicts for vectors ``W[si]`` on kept rows ``ri`` (all columns)."""
        M = np.einsum("pu,upc->pc", W[si], self._D3[:, ri, :])
        return ((M > 0) | ((M == 0) & self._gt[ri])).all(axis=1)

    def _accuracy(self, W: np.ndarray) -> np.ndarray:
        S = W.shape[0]
        if self.n_kept == 0:
            return np.full(S, self.n_always_right / self.n_rows)
        out = np.zeros(S)
        W32 = W.astype(np.float32)
        g = self._guard
        step = max(1, _CHUNK_BYTES // (4 * self._Dfast.shape[1]))
        for a in range(0, S, step):
            b = min(a + step, S)
            M = W32[a:b] @ self._Dfast  # (s, width): every margin of the fast pass
            for offset, k, Rk, idx, cnt in self._groups:
                seg = M[:, offset : offset + k * Rk]
                mn = seg if k == 1 else np.minimum.reduce(seg.reshape(b - a, k, Rk), axis=1)
                sure = mn > g  # right beyond any rounding
                if cnt is None:
                    out[a:b] += sure.view(np.uint8).sum(axis=1, dtype=np.int64)
                else:
                    out[a:b] += sure.astype(np.float32) @ cnt
                near = np.abs(mn) <= g  # (near-)ties: decide them in float64
                if near.any():
                    si, ri = np.divmod(np.flatnonzero(near), Rk)  # 1-D nonzero is fast
                    ok = self._exact_rows(W, si + a, idx[ri])
                    add = ok.astype(np.float64) if cnt is None else ok * cnt[ri].astype(np.float64)
                    np.add.at(out, si + a, add)
        return (out + self.n_always_right) / self.n_rows

    # ------------------------------------------------------------------ cross-entropy kernel
    def _prepare_ce(self, name: str, hard: bool) -> None:
        U, N, C = self.X.shape
        if hard:
            T = np.zeros((N, C))
            T[np.arange(N), self.y.astype(np.int64)] = 1.0
        else:
            T = np.asarray(self.y, dtype=np.float64)
            if T.shape != (N, C):
                raise BlendError(f"soft targets must have shape {(N, C)}; got {T.shape}")
        self._T = T
        self._hard = hard
        self._ce_shift = 0.0  # KL = cross-entropy - entropy of the targets (0 for labels)
        if name == "kl" and not hard:
            tlogt = np.where(T > 0, T * np.log(np.where(T > 0, T, 1.0)), 0.0).sum(axis=1)
            self._ce_shift = -float(tlogt.mean())
        if self.rule == "prob" and hard:
            self._py = np.ascontiguousarray(self.X[:, np.arange(N), self.y.astype(np.int64)])
            return  # the loss and its gradient need only P_u[n, y_n]
        # contiguous (U, N*C) once (a fancy-indexed fold's X is not, and tensordot copied it
        # at every call); logit/geo: sum_c T_nc Z_nc is linear in w, so its mean is w @ xt
        self._Xflat = np.ascontiguousarray(self.X.reshape(U, N * C))
        if self.rule != "prob":
            self._xt = self._Xflat @ T.reshape(-1) / N  # (U,)
            self._xmax = (max(-float(self._Xflat.min()), float(self._Xflat.max()))
                          if self._Xflat.size else 0.0)

    def _ce(self, Wn: np.ndarray) -> np.ndarray:
        S = Wn.shape[0]
        if self.rule == "prob" and self._hard:
            p = Wn @ self._py  # (S, N)
            return -np.log(np.clip(p, _EPS, None)).mean(axis=1) - self._ce_shift
        out = np.empty(S)
        N, C = self.n_rows, self.n_classes
        t = self._T.reshape(-1)
        ones = np.ones(C)
        # in place on the chunk's (s, N, C) blend; the row sums and the sums against the
        # targets as products (numpy's reductions over a short last axis are 10x slower)
        for a, b in self._chunks(S):
            Z = self._blend_scores(Wn[a:b])
            s = b - a
            if self.rule == "prob":
                den = Z @ ones
                np.maximum(den, _EPS, out=den)
                Z /= den[..., None]
                np.maximum(Z, _EPS, out=Z)
                np.log(Z, out=Z)
                out[a:b] = -(Z.reshape(s, N * C) @ t) / N
            else:
                tz = Z.reshape(s, N * C) @ t / N  # mean over rows of sum_c T Z
                if self._xmax <= 300.0:  # |Z| <= max|X|: exp neither overflows nor underflows
                    np.exp(Z, out=Z)
                    lse = np.log(Z @ ones).mean(axis=1)
                else:
                    m = Z.max(axis=-1, keepdims=True)
                    Z -= m
                    np.exp(Z, out=Z)
                    lse = (m[..., 0] + np.log(Z @ ones)).mean(axis=1)
                out[a:b] = lse - tz
        return out - self._ce_shift

    def loss_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Cross-entropy-family loss of the blend with weights ``w / sum(w)``, and its gradient.

        Parameters
        ----------
        w : ndarray of shape (U,)
            Non-negative weights (not all zero); the loss depends only on ``w / sum(w)``.

        Returns
        -------
        loss : float
        grad : ndarray of shape (U,)
            ``d loss / d w``; for ``sum(w) = 1`` it is orthogonal to ``w``.
        """
        if self.path != "ce":
            raise BlendError(
                f"an analytic gradient exists only for log loss, KL and cross-entropy "
                f"(without per-class weights); got metric {self.metric.name!r}"
            )
        self.evaluations += 1
        w = np.asarray(w, dtype=np.float64)
        s = float(w.sum())
        wn = w / s
        T, N = self._T, self.n_rows
        if self.rule == "prob":
            if self._hard:
                p = np.clip(wn @ self._py, _EPS, None)
                loss = float(-np.log(p).mean() - self._ce_shift)
                g = -(self._py @ (1.0 / p)) / N
            else:
                Z = np.clip((wn @ self._Xflat).reshape(N, self.n_classes), _EPS, None)
                Z = Z / Z.sum(-1, keepdims=True)
                loss = float(-(T * np.log(Z)).sum(-1).mean() - self._ce_shift)
                g = -(self._Xflat @ (T / Z).reshape(-1)) / N
        else:
            # loss = mean_n logsumexp(Z_n) - w.xt; d/dw_u = mean_n sum_c softmax(Z_n)_c X_u[n, c] - xt_u
            C = self.n_classes
            Z = (wn @ self._Xflat).reshape(N, C)
            if self._xmax <= 300.0:  # |Z| <= max|X|: exp neither overflows nor underflows
                m = 0.0
            else:
                m = Z.max(axis=1)
                Z -= m[:, None]
            np.exp(Z, out=Z)
            den = Z @ np.ones(C)  # a row sum as a product: 10x faster than sum(axis=1)
            loss = float(np.mean(np.log(den) + m) - wn @ self._xt - self._ce_shift)
            Z /= den[:, None]  # softmax
            g = self._Xflat @ Z.reshape(-1) / N - self._xt
        # chain rule through wn = w / s
        return loss, (g - wn @ g) / s

    # ------------------------------------------------------------------ generic paths
    def _chunks(self, S: int) -> list[tuple[int, int]]:
        step = max(1, _CHUNK_BYTES // (8 * self.n_rows * self.n_classes))
        return [(a, min(a + step, S)) for a in range(0, S, step)]

    def _blend_scores(self, Wn: np.ndarray) -> np.ndarray:
        """``Z[s] = sum_u Wn[s, u] X[u]`` (per class with ``per_class``): (S, N, C)."""
        U, N, C = self.X.shape
        if not self.per_class:
            if not hasattr(self, "_Xflat"):
                self._Xflat = np.ascontiguousarray(self.X.reshape(U, N * C))
            return (Wn @ self._Xflat).reshape(-1, N, C)
        if not hasattr(self, "_Xc"):
            self._Xc = np.ascontiguousarray(self.X.transpose(2, 0, 1))  # (C, U, N)
        Z = np.empty((Wn.shape[0], N, C))
        for c in range(C):
            Z[:, :, c] = Wn[:, :, c] @ self._Xc[c]
        return Z

    def _generic(self, Wn: np.ndarray) -> np.ndarray:
        S = Wn.shape[0]
        out = np.empty(S)
        fast_acc = self.metric.name == "accuracy" and self.y.ndim == 1 and not self.regression
        for a, b in self._chunks(S):
            Z = self._blend_scores(Wn[a:b])
            if fast_acc:  # argmax is unchanged by the row-wise normalisation or softmax
                out[a:b] = (Z.argmax(axis=-1) == self.y).mean(axis=-1)
                continue
            B = finish_linear(Z, self.rule, self.regression)
            for i in range(b - a):
                out[a + i] = self.metric(self.y, B[i])
        return out

    def _combine(self, Wn: np.ndarray) -> np.ndarray:
        return reference_scores(
            self.P, self.y, Wn.reshape(Wn.shape[0], -1), self.metric,
            rule=self.rule, kind=self.kind, per_class=self.per_class, normalised=True,
        )

    # ------------------------------------------------------------------ public
    def scores(self, W: np.ndarray) -> np.ndarray:
        """Metric values of the blends of a population.

        Parameters
        ----------
        W : ndarray of shape (S, K) or (K,)
            Non-negative weights (normalised here; an all-zero vector means uniform).

        Returns
        -------
        ndarray of shape (S,) (a float for a single vector)
        """
        W = np.asarray(W, dtype=np.float64)
        single = W.ndim == 1
        W = np.atleast_2d(W)
        if W.shape[1] != self.n_params:
            raise BlendError(f"expected {self.n_params} weights per vector; got {W.shape[1]}")
        self.evaluations += W.shape[0]
        Wn = normalise(W, self.n_units, self.per_class, self.n_classes)
        if self.path == "accuracy":
            out = self._accuracy(Wn)
        elif self.path == "ce":
            out = self._ce(Wn)
        elif self.path == "generic":
            out = self._generic(Wn)
        else:
            out = self._combine(Wn)
        return float(out[0]) if single else out

    def loss(self, W: np.ndarray) -> np.ndarray:
        """``scores`` turned into a quantity to minimise (negated when greater is better)."""
        return self.sign * self.scores(W)

    def weights(self, w: np.ndarray) -> np.ndarray:
        """One raw vector ``(K,)`` -> normalised weights ``(U,)`` or ``(U, C)``."""
        return normalise(np.atleast_2d(w), self.n_units, self.per_class, self.n_classes)[0]


def reference_scores(
    P: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    metric: Any,
    *,
    rule: str = "prob",
    kind: str = "probs",
    per_class: bool = False,
    normalised: bool = False,
) -> np.ndarray:
    """The plain twin of :meth:`Objective.scores`: core ``combine`` + core metric per vector.

    Parameters
    ----------
    P : ndarray of shape (U, N, C)
    W : ndarray of shape (S, K)

    Returns
    -------
    ndarray of shape (S,)
    """
    from blend.combine import combine

    P = np.asarray(P)
    U, N, C = P.shape
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    if not normalised:
        W = normalise(W, U, per_class, C).reshape(W.shape[0], -1)
    out = np.empty(W.shape[0])
    for i, w in enumerate(W):
        if per_class:
            B = blend_per_class(transform(P, rule, kind), w.reshape(U, C), rule)
        else:
            B = combine(P, w, rule=rule, kind=kind)
        out[i] = metric(y, B)
    return out
