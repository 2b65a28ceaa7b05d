"""How much could any bound prune? The ideal bound of the exact search, measured.

The exact search (``blend search --method exact``) splits the models into outer and inner
ones and walks the outer subsets, scoring each one's whole inner table at once; a bound
skips an outer subset whose best completion cannot reach the K-th best. The best any bound
can do is the *true* best completion: this script computes it by brute force for random
outer subsets (every inner subset scored on the rows that are not decided by every model
alike) and prints the fraction that falls below the beam's K-th best, a lower bound on the
true K-th best, so the fraction is an upper bound on what any bound could prune at that
split. Same data as ``bench_search.py`` (``--family seeds``: models 88-90 % accurate,
correlation 0.8; ``--family weak``: 70-80 %, correlation 0.5). Usage::

    python3 benchmarks/bench_search_ideal.py --models 30 --inner 10 --sample 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import FAMILIES, make_data  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=30)
    ap.add_argument("--rows", type=int, default=21397)
    ap.add_argument("--family", choices=list(FAMILIES), default="seeds")
    ap.add_argument("--inner", type=int, default=10, help="inner models (the kernel's table)")
    ap.add_argument("--sample", type=int, default=200, help="random outer subsets")
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--relax", type=int, nargs="*", default=[10, 7, 5, 3],
                    help="bounds that relax this many inner models per (row, class)")
    args = ap.parse_args()

    from blend.search import search_subsets

    data, P = make_data(args.models, args.rows, args.family)
    y = data.y
    M, N, C = P.shape
    print(f"data: {M} models x {N} rows x {C} classes ({args.family}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t = time.perf_counter()
    beam = search_subsets(P[:, None], y, top=args.top, method="beam", beam_width=10)
    floor = beam.results[-1].score
    print(f"beam (width 10): best {beam.best.score:.5f}, {args.top}th {floor:.5f} "
          f"({time.perf_counter() - t:.1f} s)")

    # rows every subset gets right (each model's true class beats every other class) or
    # wrong (one other class beats the true class in every model) are decided already
    Py = P[:, np.arange(N), y]  # (M, N)
    other = P.copy()
    other[:, np.arange(N), y] = -np.inf
    right_all = (Py[:, :, None] > other).all(axis=2).all(axis=0)
    wrong_all = (other > Py[:, :, None]).all(axis=0).any(axis=1)
    live = ~(right_all | wrong_all)
    R = int(live.sum())
    print(f"rows decided by every model alike: {int(right_all.sum()):,} right, "
          f"{int(wrong_all.sum()):,} wrong; {R:,} rows left to score")
    Q = P[:, live].astype(np.float64)
    yl = y[live]
    a, b = M - args.inner, args.inner
    inner = Q[a:]
    # the inner table: sums of every inner subset (2^b, R, C), built by doubling
    T = np.zeros((1, R, C))
    for u in range(b):
        T = np.concatenate([T, T + inner[u]])
    # margins of the true class over each other class, per model: (M, R, C), the true
    # class's own column set to +inf so it never binds
    D = Q[:, np.arange(R), yl][:, :, None] - Q
    D[:, np.arange(R), yl] = np.inf
    relax = [k for k in args.relax if 0 < k <= b]
    rng = np.random.default_rng(1)
    best, bounds = [], {k: [] for k in relax}
    t = time.perf_counter()
    for _ in range(args.sample):
        mask = rng.random(a) < 0.5
        if not mask.any():
            mask[rng.integers(a)] = True
        S = Q[:a][mask].sum(axis=0)
        right = ((S + T).argmax(axis=2) == yl).sum(axis=1)  # (2^b,)
        best.append((right.max() + right_all.sum()) / N)
        dA = D[:a][mask].sum(axis=0)  # (R, C)
        for k in relax:
            # the last k inner models relaxed per (row, class) to their positive margins,
            # the other b - k enumerated exactly (coupled over the rows)
            pos = np.clip(D[M - k:], 0, None).sum(axis=0)
            Dx = D[a:M - k]
            E = np.zeros((1, R, C))
            for u in range(b - k):
                E = np.concatenate([E, E + Dx[u]])
            ok = ((dA + pos + E) > 0).all(axis=2).sum(axis=1)  # (2^(b-k),)
            bounds[k].append((ok.max() + right_all.sum()) / N)
    best = np.array(best)
    dt = time.perf_counter() - t
    below = float(np.mean(best < floor))
    print(f"true best completion of {args.sample} random outer subsets ({a} outer, {b} inner "
          f"models; {dt:.1f} s): min {best.min():.5f}, median {np.median(best):.5f}, max "
          f"{best.max():.5f}; below the beam's {args.top}th ({floor:.5f}): {below:.1%} -- no "
          f"bound at this split can prune more than that")
    for k in relax:
        v = np.array(bounds[k])
        assert (v >= best - 1e-12).all()  # a bound
        print(f"bound with {k} of the {b} inner models relaxed per (row, class), {b - k} "
              f"enumerated ({2 ** (b - k)} of {2 ** b} inner subsets per outer subset): median "
              f"{np.median(v):.5f}, prunes {np.mean(v < floor):.1%}")


if __name__ == "__main__":
    main()
