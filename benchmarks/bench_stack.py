"""Benchmark of ``stack``: time on a Cassava-shaped synthetic set, and scores on real OOF.

    python3 benchmarks/bench_stack.py time  [--stackers lgbm cnn1d cnn2d] [--epochs 10] [--rows 21490]
    python3 benchmarks/bench_stack.py score [--stackers lgbm linear mlp cnn1d cnn2d]

``time``: nested 5-fold, no HPO, 28 models x 21,490 rows x 6 classes from
``oof_store.synthetic.make_oof`` (88-90% accurate, correlation 0.8); every stacker's full
nested CV (5 outer folds x 4 inner models) on this machine's CPU threads (2 here).
``score``: outer-fold accuracy of each stacker beside the best base model and the plain
mean on the Assembled digits metatask (real OOF of 5 sklearn models, 10-fold CV), and on
the built-in synthetic example.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from blend.stack import fit_stacker, make_features
from oof_store import softmax, synthetic

ASSEMBLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "assembled_metatasks"


def bench_time(stackers, rows, epochs, threads):
    t0 = time.perf_counter()
    d = synthetic.make_oof(n_models=28, n_rows=rows, n_classes=6, n_folds=5, accuracy=(0.88, 0.90),
                           correlation=0.8, seed=0)
    P = softmax(d.logits)
    X = make_features(P, features="probs", task="multiclass")
    print(f"data: 28 models x {rows} rows x 6 classes, 5 folds ({time.perf_counter() - t0:.1f} s to generate)")
    print(f"parallel fits (lgbm/linear): {threads}, 1 thread each; cpu_count: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
    for name in stackers:
        params = {"max_epochs": epochs} if name in ("mlp", "cnn1d", "cnn2d") else None
        t = time.perf_counter()
        res = fit_stacker(name, X, d.y, d.folds, task="multiclass", metric="accuracy",
                          params=params, base_preds=P, rng=0, n_jobs=threads)
        dt = time.perf_counter() - t
        ep = f", max_epochs={epochs}" if name in ("mlp", "cnn1d", "cnn2d") else ""
        print(f"stack {name:6s}: {dt:7.1f} s  nested acc {res.nested_score:.4f}  best base "
              f"{res.best_base['score']:.4f}  mean {res.mean_blend_score:.4f}  (no HPO{ep})")


def bench_score(stackers, epochs):
    from blend.workflows.stack import run_stack
    from oof_store.assembled import import_metatask

    with tempfile.TemporaryDirectory() as tmp:
        sets = []
        if (ASSEMBLED / "metatask_-2.csv").exists():
            sets.append(("assembled digits (1797 rows, 5 models, 10 classes, 10 folds)",
                         import_metatask(ASSEMBLED / "metatask_-2.csv", ASSEMBLED / "metatask_-2.json",
                                         Path(tmp) / "digits")))
        sets.append(("synthetic example (9 models, 5000 rows, 5 classes, 5 folds)",
                     synthetic.make_store(Path(tmp) / "synth", n_models=9, n_rows=5000, n_classes=5,
                                          n_folds=5, seed=0)))
        for label, store in sets:
            print(label)
            for name in stackers:
                params = {"max_epochs": epochs} if name in ("mlp", "cnn1d", "cnn2d") else None
                t = time.perf_counter()
                res, _ = run_stack(store, name, metric="accuracy", params=params, write=False)
                print(f"  stack {name:6s}: nested acc {res.nested_score:.4f} | best base "
                      f"{res.best_base['model']} {res.best_base['score']:.4f} | mean "
                      f"{res.mean_blend_score:.4f} | {time.perf_counter() - t:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("time", "score"))
    ap.add_argument("--stackers", nargs="+")
    ap.add_argument("--rows", type=int, default=21490)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="parallel one-thread fits for lgbm/linear (n_jobs)")
    a = ap.parse_args()
    if a.what == "time":
        bench_time(a.stackers or ["lgbm", "cnn1d", "cnn2d"], a.rows, a.epochs, a.threads)
    else:
        bench_score(a.stackers or ["lgbm", "linear", "mlp", "cnn1d", "cnn2d"], a.epochs)


if __name__ == "__main__":
    main()
