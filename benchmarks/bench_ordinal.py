"""Benchmark of ordinal blending: nested QWK with fitted cut points, and cut-fitting speed.

    python3 benchmarks/bench_ordinal.py [--rows 6000] [--folds 5] [--data friedman|diabetes]

Data (nothing is downloaded): scikit-learn's generated ``make_friedman1`` (non-linear, so
the base models differ; 6,000 rows + 1,000 test rows by default) or the ``load_diabetes``
table that ships with scikit-learn (442 rows). The target is binned into 6 grades at fixed
quantiles (10/20/30/20/12/8 %). Six base regressors (ridge, lgbm, knn, random forest,
extra trees, an MLP) are trained on the grade with K-fold CV into a regression store.

Every candidate is scored by the same nested CV on the store's folds: weights and cut
points fitted on K-1 folds, grades of the held-out fold from them, QWK of the pooled
held-out grades (fold QWKs beside). Candidates: the plain mean rounded to the nearest grade;
the mean with cut points; greedy ensemble selection (Caruana, 25 steps with replacement)
on RMSE followed by cut points; weights and cut points fitted for QWK (after RMSE weights,
or jointly), for each cut-point method.

Speed: cut points fitted on 20,000 rows by each method (median of repeats), beside the time
of one ``np.argsort`` of those rows measured in the same run, with the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from blend.ordinal import Grades, apply_cuts, available_cut_methods, fit_cuts, qwk_grades
from blend.ordinal._fit import fit_ordinal
from oof_store import Store

QUANTILES = np.cumsum([0.10, 0.20, 0.30, 0.20, 0.12])


def make_data(kind: str, rows: int, seed: int = 0):
    from sklearn.datasets import load_diabetes, make_friedman1

    if kind == "diabetes":
        X, t = load_diabetes(return_X_y=True)
    else:
        X, t = make_friedman1(n_samples=rows + rows // 6, n_features=10, noise=1.0,
                              random_state=seed)
    edges = np.quantile(t, QUANTILES)
    y = 1 + np.searchsorted(edges, t, side="right")  # grades 1..6
    return X, y.astype(np.float64)


def base_models(seed: int):
    from lightgbm import LGBMRegressor
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "ridge": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        "lgbm": LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15,
                              random_state=seed, verbose=-1, n_jobs=1),
        "knn": make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=15)),
        "rf": RandomForestRegressor(n_estimators=100, min_samples_leaf=3, random_state=seed,
                                    n_jobs=1),
        "et": ExtraTreesRegressor(n_estimators=100, min_samples_leaf=3, random_state=seed,
                                  n_jobs=1),
        "mlp": make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(64, 32), max_iter=300,
                                                            random_state=seed)),
    }


def build_store(root: Path, kind: str, rows: int, folds: int, seed: int = 0) -> Store:
    from sklearn.base import clone

    X, y = make_data(kind, rows, seed)
    n_test = len(y) // 7
    Xtr, ytr, Xte = X[n_test:], y[n_test:], X[:n_test]
    n = len(ytr)
    fold = np.random.default_rng(seed).permutation(np.arange(n) % folds)
    ids = np.array([f"r{i:05d}" for i in range(n)])
    test_ids = np.array([f"t{i:05d}" for i in range(n_test)])
    store = Store.create(root, pd.DataFrame({"id": ids, "target": ytr, "fold": fold}),
                         task="regression", test_ids=test_ids)
    for name, est in base_models(seed).items():
        t = time.perf_counter()
        for k in store.fold_ids:
            tr, va = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            m = clone(est).fit(Xtr[tr], ytr[tr])
            store.write_block("oof", name, k, 0, ids[va], m.predict(Xtr[va])[:, None].astype(np.float32))
            store.write_block("test", name, k, 0, test_ids, m.predict(Xte)[:, None].astype(np.float32))
        store.finish_model(name, kind="raw", source="bench_ordinal")
        print(f"  trained {name:6s} ({folds} folds) in {time.perf_counter() - t:5.1f} s")
    return Store(root)


def bench_quality(store: Store, seed: int) -> None:
    oof = store.load_oof(store.models(), tta="mean", output="raw")
    P, y, folds = oof.preds, oof.y, oof.folds
    g = Grades(tuple(float(v) for v in range(1, 7)))
    yi = g.index(y)
    print(f"\nstore: {len(oof.models)} models x {len(y)} rows, {store.n_folds} folds, grade "
          f"histogram {np.bincount(yi, minlength=6).tolist()}")
    corr = np.corrcoef(P[:, 0, :, 0])
    off = corr[~np.eye(len(corr), dtype=bool)]
    print(f"model correlation {off.min():.3f}..{off.max():.3f}")
    for i, m in enumerate(oof.models):
        s = P[i, 0, :, 0]
        rmse = float(np.sqrt(np.mean((s - y) ** 2)))
        print(f"  {m:6s} RMSE {rmse:.4f}  QWK rounded {qwk_grades(yi, apply_cuts(s, g.midpoints()), 6):.4f}")
    caruana = {"n_init": 1, "max_steps": 25, "n_bags": 1, "bag_fraction": 1.0}
    rows = [
        ("mean + rounding", dict(method="mean", cut_method="round")),
        ("mean + cut points (coordinate)", dict(method="mean", cut_method="coordinate")),
        ("Caruana RMSE (25 steps) + cut points (coordinate)",
         dict(method="hill-climb", cut_method="coordinate", params=caruana)),
    ]
    for cm in available_cut_methods():
        if cm == "round":
            continue
        rows.append((f"nelder-mead RMSE weights + {cm} (after)",
                     dict(method="nelder-mead", cut_method=cm, mode="after")))
    for cm in ("coordinate", "distribution"):
        rows.append((f"nelder-mead QWK weights + {cm} (joint)",
                     dict(method="nelder-mead", cut_method=cm, mode="joint")))
    rows.append(("Caruana on QWK-after-cuts + coordinate (joint)",
                 dict(method="hill-climb", cut_method="coordinate", mode="joint", params=caruana)))
    rows.append(("Caruana RMSE (25 steps) + bagged (after)",
                 dict(method="hill-climb", cut_method="bagged", params=caruana)))
    print(f"\nnested QWK (pooled held-out grades; fold QWKs; load {os.getloadavg()[0]:.2f})")
    print(f"{'candidate':55s} {'nested':>8s} {'in-sample':>9s} {'rounded':>8s}  folds")
    held = {}
    for label, kw in rows:
        t = time.perf_counter()
        r = fit_ordinal(P, y, folds, grades=g, rng=seed, **kw)
        dt = time.perf_counter() - t
        held[label] = r.heldout
        fs = " ".join(f"{s:.4f}" for s in r.fold_scores)
        print(f"{label:55s} {r.nested_score:8.4f} {r.score:9.4f} {r.rounding_nested_score:8.4f}  "
              f"{fs}  ({dt:.1f} s)")
    stack_rows(store, g, held)
    ref = "Caruana RMSE (25 steps) + cut points (coordinate)"
    print(f"\npaired bootstrap over rows (1000 resamples) of nested QWK minus '{ref}':")
    for label, h in held.items():
        if label != ref:
            lo, mid, hi = paired_bootstrap(yi, h, held[ref], 6, seed)
            print(f"  {label:55s} {mid:+.4f}  95% [{lo:+.4f}, {hi:+.4f}]")


def stack_rows(store: Store, g: Grades, held: dict) -> None:
    """``stack linear|lgbm --metric qwk``: stacker on RMSE, cut points nested per fold."""
    from blend.ordinal._stack import stack_cuts
    from blend.stack import fit_stacker, make_features

    oof = store.load_oof(store.models(), tta="mean", output="probs")
    X = make_features(oof.preds, features="probs", task="regression")
    for st in ("linear", "lgbm"):
        t = time.perf_counter()
        main = fit_stacker(st, X, oof.y, oof.folds, task="regression", metric="rmse", rng=0)
        r = stack_cuts(st, X, oof.y, oof.folds, main.oof, grades=g, cut_method="coordinate")
        label = f"stack {st} (RMSE) + coordinate, cuts nested"
        held[label] = r.heldout
        fs = " ".join(f"{s:.4f}" for s in r.fold_scores)
        print(f"{label:55s} {r.nested_score:8.4f} {'':>9s} {r.rounding_nested_score:8.4f}  "
              f"{fs}  ({time.perf_counter() - t:.1f} s)")


def paired_bootstrap(yi, a, b, n_grades, seed, n_boot=1000):
    """2.5 %, 50 % and 97.5 % quantiles of QWK(a) - QWK(b) over row resamples."""
    rng = np.random.default_rng(seed)
    n = len(yi)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        take = rng.integers(0, n, n)
        diffs[i] = (qwk_grades(yi[take], a[take], n_grades)
                    - qwk_grades(yi[take], b[take], n_grades))
    return tuple(float(q) for q in np.quantile(diffs, [0.025, 0.5, 0.975]))


def bench_speed(n: int = 20_000, repeats: int = 15) -> None:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=n)
    y = np.clip(np.rint(3.5 + 1.3 * latent), 1, 6)
    s = 3.5 + 0.8 * 1.3 * latent + rng.normal(0, 0.6, n)
    g = Grades(tuple(float(v) for v in range(1, 7)))
    yi = g.index(y)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.argsort(s, kind="stable")
        times.append(time.perf_counter() - t)
    base = float(np.median(times))
    print(f"\ncut fitting on {n:,} rows, 6 grades (median of {repeats}; load "
          f"{os.getloadavg()[0]:.2f}); one stable argsort of the rows: {base * 1e3:.2f} ms")
    for m in available_cut_methods():
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            c = fit_cuts(s, yi, g, m)
            times.append(time.perf_counter() - t)
        med = float(np.median(times))
        q = qwk_grades(yi, apply_cuts(s, c), 6)
        flag = "" if med < 0.050 or m in ("nelder-mead", "bagged") else "  OVER 50 ms"
        print(f"  {m:12s} {med * 1e3:7.2f} ms per fit ({med / base:5.1f}x the argsort), "
              f"in-sample QWK {q:.4f}{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["friedman", "diabetes"], default="friedman")
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", help="reuse (or create) the store here instead of a temp dir")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}; cpu_count {os.cpu_count()}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.store) if args.store else Path(tmp) / "store"
        if (root / "store.json").exists():
            store = Store(root)
        else:
            size = "442 rows" if args.data == "diabetes" else f"{args.rows} rows"
            print(f"building the {args.data} store ({size}, {args.folds} folds)")
            store = build_store(root, args.data, args.rows, args.folds, args.seed)
        bench_quality(store, args.seed)
    bench_speed()
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
