"""Nested-CV score of every `blend optimize` method beside the best single model and the mean.

    python benchmarks/optimize_table.py STORE [--rule logit] [--metrics accuracy logloss]

Runs ``blend optimize STORE --method M --metric X --json ...`` for every method and metric
(as a user would) and prints one markdown table per metric. The best single model and the
plain mean are scored the same way as the nested score: per fold, averaged weighted by fold
size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from blend.metrics import get_metric
from blend.optimize import available_optimizers
from oof_store import Store

# methods that need a gradient of the metric (lbfgs) only run for the cross-entropy ones
_GRADIENT_ONLY = {"lbfgs": ("logloss", "kl")}


def fold_weighted(metric, y, p, folds) -> float:
    ids = np.unique(folds)
    scores = [metric(y[folds == f], p[folds == f]) for f in ids]
    return float(np.average(scores, weights=[np.mean(folds == f) for f in ids]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--rule", default="logit")
    ap.add_argument("--metrics", nargs="+", default=["accuracy", "logloss"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    store = Store(args.store)
    oof = store.load_oof(tta="mean", output="probs")
    P = oof.preds[:, 0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.metrics:
            metric = get_metric(name, store.task)
            singles = [(fold_weighted(metric, store.y, P[i], store.folds), m) for i, m in enumerate(oof.models)]
            best = max(singles) if metric.greater_is_better else min(singles)
            mean = fold_weighted(metric, store.y, P.mean(axis=0), store.folds)
            print(f"\n{len(oof.models)} models: {', '.join(oof.models)}; rule {args.rule}\n")
            print(f"| {name} | in-sample | nested CV | seconds |\n|---|---|---|---|")
            print(f"| best single ({best[1]}) | {best[0]:.4f} | {best[0]:.4f} | - |")
            print(f"| plain mean of probabilities | {mean:.4f} | {mean:.4f} | - |")
            for method in available_optimizers():
                if method in _GRADIENT_ONLY and name not in _GRADIENT_ONLY[method]:
                    continue
                out = os.path.join(tmp, f"{name}-{method}.json")
                cmd = [sys.executable, "-m", "blend.cli", "optimize", args.store, "--method", method,
                       "--metric", name, "--rule", args.rule, "--seed", str(args.seed), "--json", out]
                if method == "optuna":  # a fresh study, not one resumed from the store's journal
                    cmd += ["--storage", os.path.join(tmp, f"{name}.journal")]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                with open(out) as f:
                    r = json.load(f)
                print(f"| {method} | {r['score']:.4f} | {r['nested_score']:.4f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
