"""Benchmark: the commands with ``--ray local`` against the plain run, and a sharded search.

Part 1 (``--commands``): starts one local Ray, then runs ``blend search``, ``blend optimize``
(de and optuna), ``stack`` (linear, lgbm) and ``base-models tabular`` on a synthetic store, each
plainly and with ``--ray local`` (joining that Ray), checks that the answers are identical,
and prints the wall times and Ray's own overhead: start-up, and the round trip of a no-op
task (latency of one, throughput of many).

Part 2 (``--cluster``): a "simulated cluster": Ray started with ``--cpus`` worker slots
(more than the machine's cores when asked: Ray's CPU count is a resource, not a core count)
runs an exhaustive accuracy search over ``2**models - 1`` subsets (Cassava-shaped data:
21,397 rows, 5 classes) in ``--shards`` shards, and prints the per-shard times, the merge
time and (with ``--baseline``) the single-process time and the check that the top-k agree.

Usage::

    python3 benchmarks/bench_ray.py --commands
    python3 benchmarks/bench_ray.py --cluster --models 24 --cpus 4 --shards 64 --baseline

The load average is printed: on a shared machine the figures scale with the CPU share.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _noop(i: int) -> int:
    return i


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def _ray_init(cpus: int) -> float:
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    t = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    return time.perf_counter() - t


def overhead() -> dict:
    from oof_store.distributed import get_executor

    ex = get_executor("local")  # joins the running Ray
    ex.map(_noop, [(0,)])  # a first task starts the workers
    t = time.perf_counter()
    for i in range(20):
        ex.map(_noop, [(i,)])
    one = (time.perf_counter() - t) / 20
    t = time.perf_counter()
    ex.map(_noop, [(i,) for i in range(500)])
    many = (time.perf_counter() - t) / 500
    big = np.zeros((2000, 1000))  # 16 MB, put once
    t = time.perf_counter()
    ex.map(lambda_shape, [(i,) for i in range(20)], shared=big)
    shared = time.perf_counter() - t
    return {"one_task_s": one, "per_task_of_500_s": many, "20_tasks_sharing_16MB_s": shared}


def lambda_shape(a: np.ndarray, i: int) -> int:
    return a.shape[0] + i


def _timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t


def commands(tmp: Path) -> list[dict]:
    import pandas as pd

    from base_models.cli import main as base_models
    from blend.cli import main as blend
    from blend.cli.stack import main as stack
    from oof_store import Store, synthetic

    rows = []
    store = synthetic.make_store(tmp / "s", n_models=14, n_rows=3000, n_classes=4, n_folds=5,
                                 n_test=200, n_tta=1, accuracy=(0.6, 0.85), seed=1, kind="probs")

    def compare(name, plain_args, ray_args, read):
        (_, t_plain) = _timed(plain_args[0], plain_args[1])
        (_, t_ray) = _timed(ray_args[0], ray_args[1])
        same = read()
        rows.append({"command": name, "plain_s": t_plain, "ray_s": t_ray, "identical": same})
        print(f"{name:44s} plain {t_plain:7.2f} s   --ray local {t_ray:7.2f} s   identical: {same}",
              flush=True)

    def js(p):
        return json.loads(Path(p).read_text())

    a, b = tmp / "a.json", tmp / "b.json"
    s = ["search", str(store.uri), "--top", "50", "--method", "exhaustive", "--nested"]
    compare("blend search (14 models, --nested)", (blend, [*s, "--json", str(a)]),
            (blend, [*s, "--json", str(b), "--ray", "local"]),
            lambda: js(a)["results"] == js(b)["results"] and js(a)["nested_score"] == js(b)["nested_score"])

    def no_seconds(d):
        return {k: v for k, v in d.items() if k != "seconds"}

    o = ["optimize", str(store.uri), "--models", *store.models()[:6], "--method", "de"]
    compare("blend optimize --method de (6 models)", (blend, [*o, "--json", str(a)]),
            (blend, [*o, "--json", str(b), "--ray", "local"]),
            lambda: no_seconds(js(a)) == no_seconds(js(b)))
    o = ["optimize", str(store.uri), "--models", *store.models()[:6], "--method", "optuna",
         "--trials", "100"]
    compare("blend optimize --method optuna (100 trials)",
            (blend, [*o, "--json", str(a), "--storage", str(tmp / "a.journal")]),
            (blend, [*o, "--json", str(b), "--storage", str(tmp / "b.journal"), "--ray", "local"]),
            lambda: no_seconds(js(a)) == no_seconds(js(b)))
    for st, extra in (("linear", ["--hpo", "5"]), ("lgbm", ["--param", "num_threads=1"])):
        k = ["--models", *store.models()[:6], "--no-write"]
        compare(f"stack {st} {' '.join(extra)}", (stack, [st, str(store.uri), *k, *extra, "--json", str(a)]),
                (stack, [st, str(store.uri), *k, *extra, "--json", str(b), "--ray", "local"]),
                lambda: js(a)["nested_score"] == js(b)["nested_score"]
                and js(a)["fold_scores"] == js(b)["fold_scores"])

    rows.extend(compare_command(tmp, store))

    # a table for the tabular trainer: 3000 rows, 20 features
    rng = np.random.default_rng(0)
    n, nt = 3000, 300
    tstore = Store.create(tmp / "t", pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "fold": np.arange(n) % 5,
        "target": rng.integers(0, 3, n)}), target_cols="target",
        test_ids=[f"t{i}" for i in range(nt)])
    X = rng.normal(size=(n + nt, 20))
    y = tstore.y
    X[:n, 0] += y
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    frame.insert(0, "id", [f"r{i}" for i in range(n)] + [f"t{i}" for i in range(nt)])
    data = tmp / "t.csv"
    frame.to_csv(data, index=False)
    t = ["tabular", str(tstore.uri), "--data", str(data), "--model", "lgbm",
         "--params", '{"n_estimators": 200}']
    compare("base-models tabular lgbm (5 folds)", (base_models, [*t, "--name", "plain"]),
            (base_models, [*t, "--name", "on_ray", "--ray", "local"]),
            lambda: bool(np.array_equal(*Store(tstore.uri).load_oof(["plain", "on_ray"]).preds)))
    return rows


def cluster(models: int, shards: int, top: int, baseline: bool) -> dict:
    from blend.search._core import _kernel, _prepare
    from blend.search._kernels import run_sharded
    from oof_store import softmax, synthetic
    from oof_store.distributed import get_executor

    d = synthetic.make_oof(n_models=models, n_rows=21397, n_classes=5, n_folds=5,
                           accuracy=(0.88, 0.90), seed=0)
    P = softmax(d.logits.mean(axis=1).astype(np.float64))
    t = time.perf_counter()
    prep = _prepare(P, d.y, None, metric="accuracy", rule="prob", kind="probs", tta_weights=None,
                    min_size=1, max_size=None, must_include=(), exclude=(), names=None)
    kernel = _kernel(prep)
    build = time.perf_counter() - t
    ex = get_executor("local")
    stats: dict = {}
    t = time.perf_counter()
    g, m = run_sharded(kernel, top, ex, n_shards=shards, stats=stats)
    wall = time.perf_counter() - t
    sh = np.array(stats["shard_s"])
    out = {"models": models, "subsets": 2**models - 1, "workers": ex.n_workers,
           "shards": stats["shards"], "kernel_build_s": build, "wall_s": wall,
           "shard_s_mean": float(sh.mean()), "shard_s_min": float(sh.min()),
           "shard_s_max": float(sh.max()), "shard_s_sum": float(sh.sum()),
           "merge_s": stats["merge_s"], "kernel_mb": sum(b.nbytes for b in kernel.TB_blocks) / 2**20}
    print(f"{2**models - 1:,} subsets ({models} models) on {ex.n_workers} Ray workers, "
          f"{stats['shards']} shards: {wall:.1f} s wall; per shard {sh.mean():.2f} s "
          f"(min {sh.min():.2f}, max {sh.max():.2f}), merge {stats['merge_s'] * 1e3:.1f} ms; "
          f"kernel tables {out['kernel_mb']:.0f} MB put once; {_load()}", flush=True)
    if baseline:
        t = time.perf_counter()
        g0, m0 = kernel.run(top, n_jobs=2)
        out["single_process_s"] = time.perf_counter() - t
        out["identical"] = bool(np.array_equal(m0, m) and np.array_equal(g0, g))
        print(f"single process (2 threads): {out['single_process_s']:.1f} s; top-{top} identical: "
              f"{out['identical']}; {_load()}", flush=True)
    return out


def compare_command(tmp: Path, store=None) -> list[dict]:
    """``blend compare`` (fast budget, procedure score) plain and with ``--ray local``."""
    from blend.cli import main as blend
    from oof_store import synthetic

    if store is None:
        store = synthetic.make_store(tmp / "s", n_models=14, n_rows=3000, n_classes=4, n_folds=5,
                                     n_test=200, n_tta=1, accuracy=(0.6, 0.85), seed=1, kind="probs")
    a, b = tmp / "ca.json", tmp / "cb.json"
    c = ["compare", str(store.uri), "--models", *store.models()[:8]]
    (_, t_plain) = _timed(blend, [*c, "--json", str(a)])
    (_, t_ray) = _timed(blend, [*c, "--json", str(b), "--ray", "local"])

    def no_seconds(d):
        d = {k: v for k, v in d.items() if k != "seconds"}
        d["candidates"] = [{k: v for k, v in x.items() if k != "seconds"} for x in d["candidates"]]
        return d

    same = no_seconds(json.loads(a.read_text())) == no_seconds(json.loads(b.read_text()))
    name = "blend compare (8 models, fast, procedure)"
    print(f"{name:44s} plain {t_plain:7.2f} s   --ray local {t_ray:7.2f} s   identical: {same}",
          flush=True)
    return [{"command": name, "plain_s": t_plain, "ray_s": t_ray, "identical": same}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", action="store_true", help="part 1: each command plain and --ray local")
    ap.add_argument("--compare", action="store_true",
                    help="only blend compare, plain and --ray local (part 1 includes it)")
    ap.add_argument("--cluster", action="store_true", help="part 2: a sharded subset search")
    ap.add_argument("--models", type=int, default=24)
    ap.add_argument("--cpus", type=int, default=4, help="Ray worker slots (part 2; part 1 uses 2)")
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--baseline", action="store_true", help="part 2: also the single-process run")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(_load(), f"({os.cpu_count()} cores)", flush=True)
    import ray

    report: dict = {}
    startup = _ray_init(args.cpus if args.cluster and not args.commands else 2)
    print(f"ray {ray.__version__}: local start-up {startup:.2f} s", flush=True)
    report["startup_s"] = startup
    report["overhead"] = overhead()
    print("per-task overhead: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in report["overhead"].items()),
          flush=True)
    if args.commands:
        with tempfile.TemporaryDirectory() as tmp:
            report["commands"] = commands(Path(tmp))
    elif args.compare:
        with tempfile.TemporaryDirectory() as tmp:
            report["commands"] = compare_command(Path(tmp))
    if args.cluster:
        if args.commands:
            ray.shutdown()
            report["cluster_startup_s"] = _ray_init(args.cpus)
        report["cluster"] = cluster(args.models, args.shards, args.top, args.baseline)
    report["load_end"] = os.getloadavg()
    print(_load())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
