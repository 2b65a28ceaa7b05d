"""Benchmark: exhaustive subset search by OOF accuracy.

Data: ``oof_store.synthetic.make_oof`` shaped like the Cassava seeds (21,397 rows,
5 classes, models 88-90% accurate, correlation 0.8). Times, on this machine:

1. the seed's approach (the Cassava 1st place: a pandas ``apply`` per subset, summing each
   row's per-model probability lists, then ``accuracy_score``), on a sample of subsets;
2. plain numpy (sum the subset's probabilities, argmax, compare), on a sample of subsets;
3. ``blend.search.search_subsets``, ``--method exact`` (branch and bound: subsets scored,
   pruned fraction) and ``--method exhaustive``, with the plan's time estimate beside each;
4. the float64 near-tie guard's cost: the same kernel's walk with and without it;
5. the whole command ``blend search STORE --top 50`` (a fresh interpreter: start-up, store
   load, search, table) on a store holding the same predictions;

and prints subsets/s and the ratios (against plain numpy timed in the same run). Usage::

    python3 benchmarks/bench_search.py --models 20          # all 2^20 - 1 subsets
    python3 benchmarks/bench_search.py --models 27 --skip-baselines --methods exact
    python3 benchmarks/bench_search.py --models 24 --family weak --skip-baselines

``--family seeds`` (default): models 88-90 % accurate, correlation 0.8 (the Cassava seeds);
``--family weak``: 70-80 % accurate, correlation 0.5.

The load average is printed too: on a shared machine the figures scale with the CPU share.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
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


FAMILIES = {"seeds": dict(accuracy=(0.88, 0.90), correlation=0.8),
            "weak": dict(accuracy=(0.70, 0.80), correlation=0.5)}


def make_data(models: int, rows: int, family: str):
    """``(make_oof's data, probabilities (M, N, 5) float32)`` of a family of :data:`FAMILIES`."""
    from oof_store import synthetic

    data = synthetic.make_oof(n_models=models, n_rows=rows, n_classes=5, seed=0, **FAMILIES[family])
    z = data.logits[:, 0].astype(np.float64)
    P = np.exp(z - z.max(-1, keepdims=True))
    return data, (P / P.sum(-1, keepdims=True)).astype(np.float32)


def timed_search(P, y, folds, method, jobs, device=None):
    from blend.search import search_subsets

    plans = []
    t = time.perf_counter()
    res = search_subsets(P[:, None], y, folds, top=50, method=method, n_jobs=jobs, device=device,
                         on_plan=plans.append)
    return res, time.perf_counter() - t, plans[0].est_seconds


class _Stop(Exception):
    pass


def partial_search(P, y, folds, method, jobs, seconds: float):
    """Run ``method`` for ``seconds`` only: (subsets done, seconds, plan estimate).

    The walk is stopped from its progress callback; the rate over the part walked (the
    first outer subsets of the best-first order) projects the whole walk's time.
    """
    from blend.search import search_subsets

    done, plans = [0], []
    t0 = [0.0]

    def progress(k):
        done[0] += k
        if time.perf_counter() - t0[0] > seconds:
            raise _Stop

    def on_plan(plan):
        plans.append(plan)
        t0[0] = time.perf_counter()

    try:
        search_subsets(P[:, None], y, folds, top=50, method=method, n_jobs=jobs, progress=progress,
                       on_plan=on_plan)
    except _Stop:
        pass
    return done[0], time.perf_counter() - t0[0], plans[0].est_seconds


def bound_sample(P, y, n: int, floor: int) -> tuple[np.ndarray, int]:
    """The exact search's bound on ``n`` random outer subsets: (bounds, rows)."""
    from blend.search._core import _kernel, _prepare
    from blend.search._kernels import _gray

    prep = _prepare(P, y, None, metric="accuracy", rule="prob", kind="probs", tta_weights=None,
                    min_size=1, max_size=None, must_include=(), exclude=(), names=None)
    k = _kernel(prep)
    rng = np.random.default_rng(1)
    out = []
    for t in rng.integers(0, 1 << k.split.a, n).tolist():
        g = _gray(t)
        av = k.base.copy()
        for p in range(k.split.a):
            if (g >> p) & 1:
                av += k.QA[p]
        vio = av + k.posB < -k.guard
        lost = np.count_nonzero(np.logical_or.reduceat(vio, k.row_starts)) if k.n_constraints else 0
        out.append(k.always_right + k.n_live_rows - lost)
    return np.array(out), len(y)


def guard_cost(P, y, jobs: int) -> tuple[float, float, int]:
    """(seconds with the guard, seconds without, guard): the same kernel's walk, top 50.

    Without the guard the counts are of fixed-point margins only (no float64 decision at
    near-ties): timed for the comparison, not a correct search.
    """
    from blend.search._core import _kernel, _prepare, _run

    prep = _prepare(P, y, None, metric="accuracy", rule="prob", kind="probs", tta_weights=None,
                    min_size=1, max_size=None, must_include=(), exclude=(), names=None)
    k = _kernel(prep)
    g = k.guard
    t = time.perf_counter()
    _run(prep, "exhaustive", k, 50, n_jobs=jobs)
    with_guard = time.perf_counter() - t
    k.guard = 0
    t = time.perf_counter()
    _run(prep, "exhaustive", k, 50, n_jobs=jobs)
    return with_guard, time.perf_counter() - t, g


def whole_command(args, method: str | None) -> float:
    """Wall seconds of ``blend search STORE --top 50`` in a fresh interpreter."""
    cmd = [sys.executable, "-m", "blend.cli", "search", args.store_path, "--top", "50",
           "--jobs", str(args.jobs)] + (["--method", method] if method else [])
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--rows", type=int, default=21397)
    ap.add_argument("--family", choices=list(FAMILIES), default="seeds")
    ap.add_argument("--rule", default="prob")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--methods", default="exact,exhaustive",
                    help="comma-separated search methods to time (exact, exhaustive)")
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--skip-command", action="store_true",
                    help="do not time the whole `blend search` command")
    ap.add_argument("--skip-guard", action="store_true", help="do not time the guard's cost")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of (whole command, plain numpy sample) (default 3)")
    ap.add_argument("--partial", type=float, default=None, metavar="S",
                    help="stop each search after S seconds and project its time from the rate")
    ap.add_argument("--bound-sample", type=int, default=0, metavar="N",
                    help="the exact search's bound on N random outer subsets, against a "
                         "width-10 beam's 50th best (a lower bound on the true 50th best)")
    ap.add_argument("--device", default=None, help="torch device (cuda) for the torch path")
    ap.add_argument("--seed-sample", type=int, default=10)
    ap.add_argument("--numpy-sample", type=int, default=300)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    fam = FAMILIES[args.family]
    data, P = make_data(args.models, args.rows, args.family)
    y = data.y
    acc = (P.argmax(-1) == y).mean(1)
    n_sub = 2**args.models - 1
    print(f"data: {args.models} models x {args.rows} rows x 5 classes ({args.family}: accuracy "
          f"{acc.min():.3f}-{acc.max():.3f}, correlation {fam['correlation']}); {n_sub:,} subsets; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    where = f"torch {args.device}" if args.device else f"numpy, {args.jobs} threads"
    rates = {}
    if args.bound_sample:
        from blend.search import search_subsets

        beam = search_subsets(P[:, None], y, top=50, method="beam", beam_width=10)
        b, n = bound_sample(P, y, args.bound_sample, 0)
        floor = beam.results[-1].score
        print(f"bound on {args.bound_sample} random outer subsets: min {b.min() / n:.5f}, median "
              f"{np.median(b) / n:.5f} (rows right at most); beam's best {beam.best.score:.5f}, "
              f"50th {floor:.5f}; below the beam's 50th (prunable at that floor): "
              f"{np.mean(b < floor * n):.1%}; {beam.extra['certificate']['text']}")
    if args.partial:
        for method in [m for m in args.methods.split(",") if m]:
            done, dt, est = partial_search(P, y, data.folds, method, args.jobs, args.partial)
            print(f"search_subsets --method {method} ({where}), stopped after {dt:.1f} s: {done:,} "
                  f"subsets ({done / n_sub:.2%}), {done / dt:,.0f} subsets/s: the whole walk "
                  f"would take about {n_sub / (done / dt) / 60:.1f} min; plan estimate "
                  f"{est / 60:.1f} min; load {os.getloadavg()[0]:.1f}")
        args.methods = ""
    for method in [m for m in args.methods.split(",") if m]:
        res, dt, est = timed_search(P, y, data.folds, method, args.jobs, args.device)
        rates[method] = n_sub / dt
        est_s = "-" if est is None else f"{est:.2f} s ({est / dt:.2f}x the run)"
        print(f"search_subsets --method {method} ({where}): {dt:.2f} s, {n_sub / dt:,.0f} subsets/s; "
              f"done: {res.done}, {res.n_evaluated:,} subsets scored, pruned "
              f"{res.extra.get('pruned_fraction') or 0:.1%}; plan estimate {est_s}; "
              f"best {res.best.score:.5f} with {res.best.size} models, 50th "
              f"{res.results[-1].score:.5f}; load {os.getloadavg()[0]:.1f}")

    if not args.skip_guard and args.device is None:
        on, off, g = guard_cost(P, y, args.jobs)
        print(f"guard (exhaustive walk + rescoring, top 50): {on:.2f} s with the guard ({g} units), "
              f"{off:.2f} s without: cost {on / off - 1:+.1%}")

    command = {}
    if not args.skip_command and args.device is None:
        # whole command and plain numpy interleaved, `--repeat` rounds: on a shared machine the
        # load changes within a minute, so each round's ratio is of two figures taken together
        from oof_store import synthetic

        with tempfile.TemporaryDirectory() as tmp:
            args.store_path = os.path.join(tmp, "store")
            synthetic.make_store(args.store_path, n_models=args.models, n_rows=args.rows,
                                 n_classes=5, seed=0, kind="probs", **fam)
            for method in (None, "exhaustive"):
                label = f"`blend search STORE --top 50{' --method ' + method if method else ''}`"
                best = []
                for r in range(args.repeat):
                    dt = whole_command(args, method)
                    plain = numpy_rate(P, y, args.numpy_sample, rng) if not args.skip_baselines else None
                    ratio = "" if plain is None else (f"; plain numpy just after: {plain:,.0f} subsets/s"
                                                      f" -> {n_sub / dt / plain:,.0f}x")
                    print(f"whole command {label}, round {r + 1}: {dt:.2f} s wall, {n_sub / dt:,.0f} "
                          f"subsets/s{ratio}; load {os.getloadavg()[0]:.1f}")
                    best.append((dt, plain))
                command[method] = best

    if not args.skip_baselines:
        seed = seed_pandas_rate(P, y, args.seed_sample, rng)
        plain = numpy_rate(P, y, args.numpy_sample, rng)
        print(f"seed pandas apply: {seed:,.2f} subsets/s (sample of {args.seed_sample}); "
              f"all subsets would take {n_sub / seed / 86400:,.1f} days")
        print(f"plain numpy: {plain:,.0f} subsets/s (sample of {args.numpy_sample}); "
              f"all subsets would take {n_sub / plain / 60:,.1f} min")
        for method, rate in rates.items():
            print(f"ratios, search_subsets --method {method}: {rate / seed:,.0f}x the seed approach, "
                  f"{rate / plain:,.0f}x plain numpy")
        for method, rounds in command.items():
            ratios = [n_sub / dt / p for dt, p in rounds]
            print(f"ratio, whole command{' --method ' + method if method else ''} (each round "
                  f"against plain numpy timed just after it): "
                  f"{', '.join(f'{r:,.0f}x' for r in ratios)}; median {np.median(ratios):,.0f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
