"""Benchmark: exhaustive subset search by OOF accuracy.

Data: ``oof_store.synthetic.make_oof`` shaped like the Cassava seeds (21,397 rows,
5 classes, models 88-90% accurate, correlation 0.8). Times, on this machine:

1. the seed's approach (the Cassava 1st place: a pandas ``apply`` per subset, summing each
   row's per-model probability lists, then ``accuracy_score``), on a sample of subsets;
2. plain numpy (sum the subset's probabilities, argmax, compare), on a sample of subsets;
3. ``blend.search.search_subsets`` over every subset (exact, accuracy kernel);

and prints subsets/s and the ratios. Usage::

    python3 benchmarks/bench_search.py --models 20          # all 2^20 - 1 subsets
    python3 benchmarks/bench_search.py --models 25 --skip-baselines

The load average is printed too: on a shared machine the figures scale with the CPU share.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def seed_pandas_rate(P: np.ndarray, y: np.ndarray, n_subsets: int, rng) -> float:
    """Subsets/s of the seed's pandas code (columns of per-row probability lists)."""
    import pandas as pd
    from sklearn.metrics import accuracy_score

    M = P.shape[0]
    columns = [f"m{i}" for i in range(M)]
    df = pd.DataFrame({c: list(P[i]) for i, c in enumerate(columns)})

    def evaluate_ensemble(df, cols):  # as in the write-up
        return df[[*cols]].apply(
            lambda x: np.argmax([np.sum(v) for v in zip(*[x[c] for c in cols], strict=False)]), axis=1
        ).values

    subsets = [tuple(sorted(rng.choice(columns, size=rng.integers(1, M + 1), replace=False)))
               for _ in range(n_subsets)]
    t = time.perf_counter()
    for c in subsets:
        accuracy_score(y, evaluate_ensemble(df, c))
    return n_subsets / (time.perf_counter() - t)


def numpy_rate(P: np.ndarray, y: np.ndarray, n_subsets: int, rng) -> float:
    M = P.shape[0]
    subsets = [rng.choice(M, size=rng.integers(1, M + 1), replace=False) for _ in range(n_subsets)]
    t = time.perf_counter()
    for s in subsets:
        float(np.mean(P[s].sum(axis=0).argmax(axis=1) == y))
    return n_subsets / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--rows", type=int, default=21397)
    ap.add_argument("--rule", default="prob")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--device", default=None, help="torch device (cuda) for the torch path")
    ap.add_argument("--seed-sample", type=int, default=10)
    ap.add_argument("--numpy-sample", type=int, default=300)
    args = ap.parse_args()

    from blend.search import search_subsets
    from oof_store import synthetic

    rng = np.random.default_rng(0)
    data = synthetic.make_oof(n_models=args.models, n_rows=args.rows, n_classes=5, seed=0)
    z = data.logits[:, 0].astype(np.float64)
    P = np.exp(z - z.max(-1, keepdims=True))
    P = (P / P.sum(-1, keepdims=True)).astype(np.float32)
    y = data.y
    acc = (P.argmax(-1) == y).mean(1)
    n_sub = 2**args.models - 1
    print(f"data: {args.models} models x {args.rows} rows x 5 classes, accuracy "
          f"{acc.min():.3f}-{acc.max():.3f}; {n_sub:,} subsets; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    t = time.perf_counter()
    res = search_subsets(P[:, None], y, data.folds, rule=args.rule, top=50,
                         method="exhaustive", n_jobs=args.jobs, device=args.device)
    dt = time.perf_counter() - t
    rate = n_sub / dt
    where = f"torch {args.device}" if args.device else f"numpy, {args.jobs} threads"
    print(f"blend search ({where}, exact, all subsets): {dt:.2f} s, {rate:,.0f} subsets/s; "
          f"best {res.best.score:.5f} with {res.best.size} models")

    if not args.skip_baselines:
        seed = seed_pandas_rate(P, y, args.seed_sample, rng)
        plain = numpy_rate(P, y, args.numpy_sample, rng)
        print(f"seed pandas apply: {seed:,.2f} subsets/s (sample of {args.seed_sample}); "
              f"all subsets would take {n_sub / seed / 86400:,.1f} days")
        print(f"plain numpy: {plain:,.0f} subsets/s (sample of {args.numpy_sample}); "
              f"all subsets would take {n_sub / plain / 60:,.1f} min")
        print(f"ratios: {rate / seed:,.0f}x the seed approach, {rate / plain:,.0f}x plain numpy")


if __name__ == "__main__":
    main()
