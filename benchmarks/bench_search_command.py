"""Benchmark: the whole ``blend search STORE --top 50`` command, from several checkouts.

Per round and method, the command runs in a fresh interpreter from each checkout in turn
(``python -m blend.cli search STORE --top 50 --jobs 2 [--method M]``, that checkout first on
``PYTHONPATH``), each followed by plain numpy on a sample of subsets
(``bench_search.numpy_rate``), so every ratio is against a baseline timed just after it.
The store is ``oof_store.synthetic.make_store`` shaped like the seeds, as in
``bench_search.py``. Usage::

    python3 benchmarks/bench_search_command.py --rounds 3 --methods auto,exhaustive OLD NEW
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_search import FAMILIES, numpy_rate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", help="checkouts to time (each first on PYTHONPATH)")
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--rows", type=int, default=21397)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="auto,exhaustive")
    ap.add_argument("--numpy-sample", type=int, default=300)
    args = ap.parse_args()

    from oof_store import synthetic

    fam = FAMILIES["seeds"]
    data = synthetic.make_oof(n_models=args.models, n_rows=args.rows, n_classes=5, seed=0, **fam)
    z = data.logits[:, 0].astype(np.float64)
    P = np.exp(z - z.max(-1, keepdims=True))
    P = (P / P.sum(-1, keepdims=True)).astype(np.float32)
    rng = np.random.default_rng(0)
    n_sub = 2**args.models - 1
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        synthetic.make_store(store, n_models=args.models, n_rows=args.rows, n_classes=5, seed=0,
                             kind="probs", **fam)
        for r in range(args.rounds):
            for method in args.methods.split(","):
                for root in args.roots:
                    cmd = [sys.executable, "-m", "blend.cli", "search", store, "--top", "50",
                           "--jobs", "2"] + ([] if method == "auto" else ["--method", method])
                    env = {**os.environ, "PYTHONPATH": root}
                    t = time.perf_counter()
                    subprocess.run(cmd, check=True, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    dt = time.perf_counter() - t
                    plain = numpy_rate(P, data.y, args.numpy_sample, rng)
                    out.setdefault((root, method), []).append((dt, n_sub / dt / plain))
                    print(f"round {r + 1}, {root}, --method {method}: {dt:.2f} s wall; plain numpy "
                          f"just after {plain:,.0f} subsets/s -> {n_sub / dt / plain:,.0f}x; load "
                          f"{os.getloadavg()[0]:.2f}", flush=True)
    for (root, method), rounds in out.items():
        walls = ", ".join(f"{d:.2f}" for d, _ in rounds)
        ratios = ", ".join(f"{x:,.0f}x" for _, x in rounds)
        print(f"{root}, --method {method}: wall {walls} s; ratios {ratios}; median "
              f"{np.median([x for _, x in rounds]):,.0f}x")


if __name__ == "__main__":
    main()
