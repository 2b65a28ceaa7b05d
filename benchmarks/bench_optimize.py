"""Benchmark of ``blend optimize`` (figures in docs/benchmarks/optimize.md).

    python3 benchmarks/bench_optimize.py [--seed-maxiter 2] [--skip-digits]

1. The Cassava 1st place's DE recipe *as written* (object array of per-row probability
   vectors, ``np.mean(weights * Yhat, axis=1)``, ``map(argmax)``, one vector at a time,
   ``differential_evolution(maxiter=20, tol=1e-5, seed=8)``, 4-fold ``KFold``) against ours
   on synthetic data shaped like the seeds' (9 models, 21,397 rows, 5 classes). The seed's
   recipe is timed per evaluation and run in full only with ``maxiter=--seed-maxiter``
   (its full run is extrapolated from ours, which follows the same trajectory when run one
   vector at a time); its weights are compared with ours at that ``maxiter``.
2. L-BFGS log-loss fit, ms per fold.
3. Nested-CV scores of every method beside the best single model and the plain mean on the
   Assembled digits metatask.

BLAS is limited to one thread (environment variables set before numpy is imported, and
threadpoolctl), as the library does during ``optimize``. Every timing is printed as wall
time and CPU time of this process (``time.process_time``), with the 1-minute load average
beside it: on a shared machine wall time includes waiting for a core, CPU time does not.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import differential_evolution  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from blend.combine import combine  # noqa: E402
from blend.metrics import get_metric  # noqa: E402
from blend.optimize import (  # noqa: E402
    Objective,
    available_optimizers,
    get_optimizer,
    optimize,
)
from oof_store import synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """``with Clock() as c: ...; c.wall, c.cpu`` (seconds)."""

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def seed_recipe_objective(yhats_obj: np.ndarray, y: np.ndarray):
    """The 1st place's loss_func, verbatim in substance."""

    def calculate_accuracy(y_true, y_pred):
        return np.average(y_true == y_pred)

    def loss_func(weights, Yhat, Y):
        w = np.mean(weights * Yhat, axis=1)
        return 1 - calculate_accuracy(Y, list(map(lambda x: np.argmax(x), w)))

    return loss_func


def kfold4(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """sklearn KFold(n_splits=4) without shuffling: contiguous blocks."""
    sizes = np.full(4, n // 4)
    sizes[: n % 4] += 1
    edges = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.arange(n)
    return [(np.concatenate([idx[: edges[k]], idx[edges[k + 1]:]]), idx[edges[k]: edges[k + 1]])
            for k in range(4)]


def part1(seed_maxiter: int) -> None:
    s = synthetic.make_oof(n_models=9, n_rows=21397, n_classes=5, accuracy=(0.88, 0.90),
                           correlation=0.8, seed=0)
    z = s.logits[:, 0].astype(np.float64)
    P = np.exp(z - z.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)  # (M, N, C) probabilities
    y = s.y
    M, N, C = P.shape
    acc = get_metric("accuracy")
    print(f"data: {M} models x {N} rows x {C} classes; single-model accuracy "
          f"{min(acc(y, p) for p in P):.4f}-{max(acc(y, p) for p in P):.4f}")
    # the seed's layout: a DataFrame column per model holding each row's probability vector
    yhats = np.empty((N, M), dtype=object)
    for n in range(N):
        for m in range(M):
            yhats[n, m] = P[m, n]
    loss_func = seed_recipe_objective(yhats, y)
    folds = kfold4(N)
    fit_de = get_optimizer("de")

    # 1a: seed objective speed
    tr, _ = folds[0]
    args = (np.take(yhats, tr, axis=0), np.take(y, tr, axis=0))
    w0 = np.full(M, 1.0 / M)
    k = 0
    with Clock() as c:
        t = time.perf_counter()
        while time.perf_counter() - t < 5.0:
            loss_func(w0 * (1 + 0.01 * k), *args)
            k += 1
    seed_eval_s = c.cpu / k
    print(f"seed objective: {k / c.cpu:.1f} evaluations/s CPU, {k / c.wall:.1f}/s wall "
          f"({k} timed; {load()})")

    # 1a': our objective alone, one population of scipy's size (15 x 9 = 135 vectors)
    obj = Objective(P[:, tr], y[tr], acc)
    Wpop = np.random.default_rng(0).random((15 * M, M))
    with threadpool_limits(1):
        obj.scores(Wpop)
        reps = 200
        with Clock() as c:
            for _ in range(reps):
                obj.scores(Wpop)
        Wn = Wpop / Wpop.sum(1, keepdims=True)
        with Clock() as c64:
            for _ in range(20):
                obj._accuracy_f64(Wn)
    n_ev = reps * len(Wpop)
    print(f"our objective, {len(Wpop)} vectors per call ({obj.n_kept} of {obj.n_rows} rows kept, "
          f"{obj._Dfast.shape[1]} float32 margins per vector): {n_ev / c.cpu:,.0f} evaluations/s "
          f"CPU, {n_ev / c.wall:,.0f}/s wall ({load()}); float64 twin "
          f"{20 * len(Wpop) / c64.cpu:,.0f}/s CPU")

    # 1b: same weights at reduced maxiter, fold 0, seed=8
    with Clock() as c:
        sol = differential_evolution(loss_func, [(0.0, 1.0)] * M, args, maxiter=seed_maxiter,
                                     tol=1e-5, seed=8)
    seed_s = c.cpu
    ours = fit_de(P[:, tr], y[tr], metric=acc, maxiter=seed_maxiter, seed=8, vectorized=False)
    same = np.allclose(ours.info["raw_x"], sol.x, rtol=0, atol=0)
    print(f"maxiter={seed_maxiter}, fold 0: seed recipe {seed_s:.1f} s CPU ({c.wall:.1f} s wall, "
          f"{load()}), {sol.nfev} evaluations, "
          f"1-acc {sol.fun:.6f}; ours (one vector at a time) {ours.seconds:.3f} s, "
          f"1-acc {1 - ours.score:.6f}; identical x: {same}")
    print(f"   seed x: {np.round(sol.x, 6).tolist()}")
    print(f"   our  x: {np.round(ours.info['raw_x'], 6).tolist()}")

    # 1c: full 4-fold runs, ours both ways
    for vectorized in (False, True):
        evals, scores = 0, []
        with threadpool_limits(1), Clock() as c:  # whole fits: objective set-up included
            for tr, te in folds:
                r = fit_de(P[:, tr], y[tr], metric=acc, seed=8, vectorized=vectorized)
                evals += r.evaluations
                scores.append(acc(y[te], combine(P[:, te], r.weights)))
        tot = c.cpu
        label = "vectorized (deferred)" if vectorized else "one vector at a time (immediate)"
        print(f"ours {label}: {tot:.3f} s CPU for 4 folds ({tot / 4:.3f} s/fold; wall "
              f"{c.wall:.3f} s, {load()}), {evals} evaluations ({evals / tot:,.0f}/s CPU, "
              f"{evals / c.wall:,.0f}/s wall); held-out accuracies {np.round(scores, 4).tolist()}")
        if not vectorized:
            extrap = evals * seed_eval_s
            print(f"   seed recipe extrapolated for the same {evals} evaluations: "
                  f"{extrap:.0f} s ({extrap / 4:.0f} s/fold)")
            seed_total = extrap
        else:
            print(f"   speed-up vs the seed recipe: {seed_total / tot:,.0f}x")

    # 2: L-BFGS log loss per fold (the whole call: objective set-up, fit, final score)
    ll = get_metric("logloss")
    lbfgs = get_optimizer("lbfgs")
    with threadpool_limits(1):
        for rule in ("prob", "logit"):
            X = np.log(np.clip(P, 1e-7, 1)) if rule == "logit" else P
            kind = "logits" if rule == "logit" else "probs"
            for param in ("nonneg", "softmax"):
                cpu, wall, nev = [], [], []
                for tr, _ in folds:
                    Xtr, ytr = X[:, tr], y[tr]
                    with Clock() as c:
                        r = lbfgs(Xtr, ytr, metric=ll, rule=rule, kind=kind,
                                  parameterization=param)
                    cpu.append(c.cpu * 1000)
                    wall.append(c.wall * 1000)
                    nev.append(r.evaluations)
                print(f"L-BFGS log loss, {rule} rule, {param}: CPU {np.round(cpu, 1).tolist()} ms "
                      f"per fold (mean {np.mean(cpu):.1f}), wall mean {np.mean(wall):.1f} ms, "
                      f"{nev} evaluations, loss {r.score:.8f} on fold 3 ({load()})")


def part3() -> None:
    from oof_store.assembled import import_metatask

    d = ROOT / "tests" / "data" / "assembled_metatasks"
    store = import_metatask(d / "metatask_-2.csv", d / "metatask_-2.json",
                            Path(tempfile.mkdtemp()) / "digits")
    o = store.load_oof(output="probs")
    print(f"\ndigits metatask: {len(o.models)} models, {o.preds.shape[2]} rows, "
          f"{o.preds.shape[3]} classes, {len(np.unique(o.folds))} folds")
    for metric in ("accuracy", "logloss"):
        m = get_metric(metric)
        singles = {name: m(o.y, o.preds[i, 0]) for i, name in enumerate(o.models)}
        best = max(singles, key=singles.get) if m.greater_is_better else min(singles, key=singles.get)
        print(f"\n| {metric} | in-sample | nested CV | seconds |\n|---|---|---|---|")
        print(f"| best single ({best}) | {singles[best]:.4f} | {singles[best]:.4f} | - |")
        print(f"| plain mean | {m(o.y, combine(o.preds)):.4f} | {m(o.y, combine(o.preds)):.4f} | - |")
        for meth in available_optimizers():
            if meth == "lbfgs" and metric != "logloss":
                continue
            r = optimize(o.preds, o.y, o.folds, method=meth, metric=metric, models=o.models,
                         rng=0)
            print(f"| {meth} | {r.score:.4f} | {r.nested_score:.4f} | {r.seconds:.1f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed-maxiter", type=int, default=2)
    ap.add_argument("--skip-digits", action="store_true")
    a = ap.parse_args()
    part1(a.seed_maxiter)
    if not a.skip_digits:
        part3()
