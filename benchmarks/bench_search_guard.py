"""Time the exhaustive accuracy search of one source tree on probabilities and logits.

    python3 benchmarks/bench_search_guard.py TREE

``TREE`` is put first on ``sys.path`` (e.g. a checkout before and one after a change), so two
runs in the same session compare the kernels on the same machine load. Prints the load
average, and per input the best of 3 wall times, the kernel's integer type and its guard.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def main(tree: str) -> None:
    sys.path.insert(0, tree)
    from blend.combine import to_scores
    from blend.search import search_subsets
    from blend.search._kernels import AccuracyKernel
    from oof_store import softmax, synthetic

    d = synthetic.make_oof(n_models=18, n_rows=2000, n_classes=10, n_folds=5,
                           accuracy=(0.7, 0.9), seed=1)
    inputs = [
        ("prob float32", softmax(d.logits).astype(np.float32), "prob", "probs"),
        ("prob float64", softmax(d.logits), "prob", "probs"),
        ("logit float32", d.logits.astype(np.float32), "logit", "logits"),
    ]
    print(os.path.basename(tree.rstrip("/")), f"load {os.getloadavg()[0]:.1f}")
    for name, X, rule, kind in inputs:
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            search_subsets(X, d.y, top=20, method="exhaustive", rule=rule, kind=kind, n_jobs=2)
            best = min(best, time.perf_counter() - t)
        k = AccuracyKernel(to_scores(X, rule=rule, kind=kind), d.y, list(range(18)), [], 1, 18)
        print(f"{name}: {best:.2f}s best of 3, dtype {k.dtype.__name__}, "
              f"guard {getattr(k, 'guard', '-')}")


if __name__ == "__main__":
    main(sys.argv[1])
