"""Benchmark of ``blend compare``: its time on a large store, and the quality it reaches.

Parts (``--part``, default all):

- ``time``: ``--budget fast`` (the default), procedure loop included, on a 28-model x
  21,000-row x 6-class synthetic store (``oof_store.synthetic``) with 2 threads. The machine
  is shared, so beside the wall time it prints the load average and the process CPU time
  (all threads): on an idle 2-core machine the wall time lies between CPU/2 and CPU. The
  same LightGBM settings run alone through ``blend.stack.fit_stacker`` (what ``stack lgbm``
  runs) in the same process give the baseline of "a stack lgbm run inside compare costs no
  more than the same run alone".
- ``noisy``: small noisy binary stores (400 rows, 20 weakly informative correlated models,
  several seeds): the procedure score against the plain mean's nested score (AUC).
  ``noisy-low``: the same with weaker models whose noise is barely shared (correlation 0.3),
  where nothing should beat the mean.
- ``soft``: a larger soft-label multiclass store: the procedure score against greedy
  ensemble selection (Caruana et al., 25 steps with replacement, as AutoGluon runs it)
  fitted on the same folds, and level 3 against the best single stacker (KL, lower is
  better).
- ``real``: the same figures on the assembled metatasks in ``tests/data/assembled_metatasks``.
- ``gaps``: the stores of issue 18 (:data:`STORES`: 28 models x 21,000 rows x 6 classes
  soft labels on KL; binary 35 models x 34,000 rows, a few strong and many weak correlated
  models, on log loss; the small noisy family on AUC, seeds 0-4; the assembled metatasks):
  the procedure score against each single command run alone on the same store and seed
  (``stack lgbm`` with its defaults, ``blend optimize --method lbfgs --rule logit``, greedy
  ensemble selection). ``--rows N`` shrinks the two large stores to N rows for a quick run
  (the figures then say so); ``--stores`` picks some of them.

Run: ``PYTHONPATH=. python3 benchmarks/bench_compare.py --part noisy soft real time``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blend.compare import CompareData, compare  # noqa: E402
from blend.compare._budget import parse_time_limit  # noqa: E402
from blend.metrics import get_metric  # noqa: E402
from oof_store import synthetic  # noqa: E402

ASSEMBLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "assembled_metatasks"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def from_synthetic(**kw) -> CompareData:
    d = synthetic.make_oof(**kw)
    from oof_store._store import softmax

    probs = softmax(d.logits.astype(np.float64))
    return CompareData(probs=probs, y=d.y, folds=d.folds, task=d.task,
                       models=[f"m{i:02d}" for i in range(probs.shape[0])],
                       logits=np.log(np.clip(probs, 1e-7, 1.0)))


#: The synthetic stores of issue 18, by name: ``(make_oof keyword arguments, metric)``.
#: ``binary35``: 4 strong models (accuracy 0.985-0.99) among 31 weak ones (0.90-0.96), their
#: noise 70 % shared.
STORES: dict[str, tuple[dict, str]] = {
    "soft28": ({"n_models": 28, "n_rows": 21000, "n_classes": 6, "task": "softclass",
                "accuracy": (0.55, 0.75), "correlation": 0.6, "seed": 0}, "kl"),
    "binary35": ({"n_models": 35, "n_rows": 34000, "task": "binary", "correlation": 0.7,
                  "accuracies": tuple(np.r_[np.linspace(0.985, 0.99, 4),
                                            np.linspace(0.90, 0.96, 31)]), "seed": 0},
                 "logloss"),
    **{f"noisy20-s{s}": ({"n_models": 20, "n_rows": 400, "task": "binary",
                          "accuracy": (0.55, 0.60), "correlation": 0.8, "seed": s}, "auc")
       for s in range(5)},
}


def store_data(name: str, rows: int | None = None) -> tuple[CompareData, str, str]:
    """``(data, metric, label)`` of a store of :data:`STORES` (``rows``: fewer rows)."""
    kw, metric = STORES[name]
    kw = dict(kw, n_folds=5)
    if rows and kw["n_rows"] > rows:
        kw["n_rows"] = rows
    d = from_synthetic(**kw)
    M, _, N, C = d.probs.shape
    return d, metric, f"{name} ({M} x {N:,} x {C})"


def metatasks() -> list[tuple[CompareData, str, str]]:
    """The assembled metatasks (real OOF, 10 folds) as ``(data, metric, label)``."""
    from oof_store.assembled import import_metatask

    out = []
    for csv in sorted(ASSEMBLED.glob("metatask_*.csv")):
        with tempfile.TemporaryDirectory() as tmp:
            store = import_metatask(csv, csv.with_suffix(".json"), Path(tmp) / "s")
            oof = store.load_oof(tta="mean", output="probs")
            data = CompareData(probs=oof.preds.astype(np.float64), y=oof.y, folds=oof.folds,
                               task=store.task, models=list(oof.models),
                               logits=store.load_oof(tta="mean", output="logits").preds)
            from blend.metrics import default_metric

            out.append((data, default_metric(store.task),
                        f"{csv.stem} ({len(oof.y)} x {len(oof.models)})"))
    return out


def singles(data: CompareData, metric: str, seed: int = 0, res=None) -> dict[str, float]:
    """Nested scores of the single commands run alone on ``data`` (same folds, same seed).

    ``stack lgbm`` (its defaults), ``blend optimize --method lbfgs --rule logit`` (weights
    fitted on log loss where lbfgs cannot fit the metric, as compare does) and greedy
    ensemble selection (Caruana, 25 steps with replacement, by compare's engine on the same
    folds). Compare's ``stack:lgbm`` and ``lbfgs logit`` rows *are* those commands (the
    same fits: ``tests/compare/test_stack_equals_compare.py``,
    ``tests/compare/test_compare_scores_agree.py``), so they are read from ``res`` when it
    has them and run alone otherwise.
    """
    from blend.stack import fit_stacker, make_features

    met = get_metric(metric, data.task)
    have = {} if res is None else {c.name: c.nested_score for c in res.candidates}
    out = {}
    if "stack:lgbm" in have:
        out["stack lgbm"] = have["stack:lgbm"]
    else:
        X = make_features(data.probs, features="probs", task=data.task)
        out["stack lgbm"] = fit_stacker("lgbm", X, data.y, data.folds, task=data.task,
                                        metric=metric, n_jobs=2,
                                        rng=np.random.default_rng(seed)).nested_score
    out["lbfgs logit"] = have.get("lbfgs logit")
    if out["lbfgs logit"] is None:
        out["lbfgs logit"] = by_name(compare(data, metric=metric, methods=["lbfgs/logit"],
                                             procedure=False, seed=seed), "lbfgs logit").nested_score
    car = compare(data, metric=met, methods=["caruana"], seed=seed, procedure=False)
    out["caruana"] = by_name(car, "caruana").nested_score
    return out


def unpaired(res) -> tuple[str, float, list[str]]:
    """What the previous rule (simplicity by the *unpaired* SE of the best's fold scores)
    would recommend on ``res``, and its procedure score (from the cached fits)."""
    import dataclasses

    from blend.compare import recommend

    eng = res.engine
    met = eng.metric

    def strip(rows):
        return [dataclasses.replace(r, boot=None) for r in rows]

    rec, _ = recommend(strip(res.candidates), met)
    preds, picks = {}, []
    for k in eng.fold_ids:
        pick, _ = recommend(strip(eng.compare_inside(k)), met)
        picks.append(pick.name)
        preds[k] = eng.predict(pick.name, {k}, k)
    return rec.name, eng._pooled(preds)[0], picks


def part_gaps(names: list[str], rows: int | None, seed: int = 0, budget: str = "fast",
              time_limit: str | None = None) -> None:
    print(f"\n== issue 18 stores: procedure vs single commands ({load()}"
          + (f"; large stores cut to {rows} rows" if rows else "") + ")")
    items = [store_data(n, rows) for n in names if n != "metatasks"]
    if "metatasks" in names:
        items += metatasks()
    for data, metric, label in items:
        t0 = time.perf_counter()
        res = compare(data, metric=metric, seed=seed, n_jobs=2, budget=budget,
                      time_limit=time_limit,
                      on_plan=lambda tp: print("  " + tp.line(), flush=True))
        t_cmp = time.perf_counter() - t0
        met = get_metric(res.metric)
        t0 = time.perf_counter()
        one = singles(data, metric, seed, res)
        t_one = time.perf_counter() - t0
        best = max(one, key=lambda k: met.gain(one[k]) if k != "caruana" else -math.inf)
        g = met.gain
        mean = by_name(res, "mean").nested_score
        print(f"{label:40s} {metric:7s} procedure {res.procedure_nested_score:.5f} "
              f"(recommends {res.recommended.name}, choices {res.procedure_choices}); mean "
              f"{mean:.5f}; " + "; ".join(f"{k} {v:.5f}" for k, v in one.items())
              + f"  [procedure {'>=' if g(res.procedure_nested_score) >= g(one[best]) else '<'} "
              f"best single command ({best}); procedure "
              f"{'>' if g(res.procedure_nested_score) > g(one['caruana']) else '<='} caruana; "
              f"procedure {'>=' if g(res.procedure_nested_score) >= g(mean) else '<'} mean]"
              f"  compare {t_cmp:.0f} s"
              + (f" (--time-limit {time_limit}: {t_cmp / parse_time_limit(time_limit):.2f} of it)"
                 if time_limit else "")
              + f", singles {t_one:.0f} s, {load()}", flush=True)
        if res.procedure_nested_score is not None:
            name, score, picks = unpaired(res)
            print(f"    unpaired rule (before issue 18): recommends {name}; procedure {score:.5f}, "
                  f"choices {picks}", flush=True)
        for c in res.candidates:
            print(f"    {c.name:22s} nested {c.nested_score:.5f}  folds "
                  + " ".join(f"{s:.4f}" for s in c.fold_scores) + f"  {c.seconds:6.1f} s")


def by_name(res, name):
    return next(c for c in res.candidates if c.name == name)


def quality(data: CompareData, label: str, metric: str | None = None, methods=None) -> dict:
    """Compare, then Caruana on the same folds; one line of figures."""
    t0 = time.perf_counter()
    res = compare(data, metric=metric, methods=methods, seed=0, n_jobs=2)
    car = compare(data, metric=metric, methods=["caruana"], seed=0, procedure=False)
    met = get_metric(res.metric)
    mean = by_name(res, "mean").nested_score
    caruana = by_name(car, "caruana").nested_score
    stackers = [c for c in res.candidates if c.kind == "stacker"]
    l3 = [c for c in res.candidates if c.kind == "level3"]
    best_st = max(stackers, key=lambda c: met.gain(c.nested_score)) if stackers else None
    out = {
        "label": label, "metric": res.metric, "mean": mean, "caruana": caruana,
        "procedure": res.procedure_nested_score, "recommended": res.recommended.name,
        "recommended_nested": res.recommended.nested_score,
        "best_stacker": None if best_st is None else (best_st.name, best_st.nested_score),
        "level3": None if not l3 else l3[0].nested_score,
        "choices": res.procedure_choices, "seconds": time.perf_counter() - t0,
    }
    g = met.gain
    flags = [
        f"procedure {'>=' if g(out['procedure']) >= g(mean) else '<'} mean",
        f"procedure {'>' if g(out['procedure']) > g(caruana) else '<='} caruana",
    ]
    if best_st is not None and l3:
        flags.append(f"level3 {'>' if g(out['level3']) > g(best_st.nested_score) else '<='} best stacker")
    print(f"{label:34s} {res.metric:8s} mean {mean:.5f}  caruana {caruana:.5f}  "
          f"procedure {out['procedure']:.5f}  recommended {res.recommended.name} "
          f"({res.recommended.nested_score:.5f})  best stacker "
          f"{'-' if best_st is None else f'{best_st.name} {best_st.nested_score:.5f}'}  level3 "
          f"{'-' if not l3 else format(out['level3'], '.5f')}"
          f"  [{'; '.join(flags)}]  choices {res.procedure_choices}  "
          f"{out['seconds']:.0f} s, {load()}", flush=True)
    return out


def part_noisy(seeds: int, correlation: float = 0.8, accuracy=(0.55, 0.60)) -> None:
    print(f"\n== small noisy binary stores: 400 rows, 20 weak models, accuracy {accuracy}, "
          f"noise correlation {correlation} ({load()})")
    rows = []
    for seed in range(seeds):
        data = from_synthetic(n_models=20, n_rows=400, n_folds=5, task="binary",
                              accuracy=accuracy, correlation=correlation, seed=seed)
        rows.append(quality(data, f"noisy binary corr {correlation} seed {seed}", metric="auc"))
    wins = sum(r["procedure"] >= r["mean"] - 1e-12 for r in rows)
    print(f"procedure >= mean on {wins} of {len(rows)} stores; mean gap "
          f"{np.mean([r['procedure'] - r['mean'] for r in rows]):+.5f} AUC")


def part_soft() -> None:
    print(f"\n== soft-label multiclass store: 8,000 rows, 12 models, 5 classes ({load()})")
    data = from_synthetic(n_models=12, n_rows=8000, n_classes=5, n_folds=5, task="softclass",
                          accuracy=(0.55, 0.75), correlation=0.6, seed=0)
    quality(data, "softclass 8000x12x5", metric="kl")


def part_real() -> None:
    print(f"\n== assembled metatasks (real OOF, 10 folds) ({load()})")
    for data, _metric, label in metatasks():
        quality(data, label)


def part_time() -> None:
    from blend.compare import BUDGETS
    from blend.stack import fit_stacker, make_features

    print(f"\n== time: --budget fast on 28 models x 21,000 rows x 6 classes, 2 threads ({load()})")
    data = from_synthetic(n_models=28, n_rows=21000, n_classes=6, n_folds=5, task="multiclass",
                          accuracy=(0.6, 0.75), correlation=0.6, seed=0)
    c0, t0 = time.process_time(), time.perf_counter()
    res = compare(data, seed=0, n_jobs=2)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"compare --budget fast: {wall:.0f} s wall, {cpu:.0f} s CPU (idle 2 cores: "
          f"{cpu / 2:.0f}-{cpu:.0f} s), {load()}")
    for c in res.candidates:
        print(f"  {c.name:22s} nested {c.nested_score:.5f}  in-sample {c.in_sample_score:.5f}  "
              f"SE {c.se:.5f}  z {c.z_vs_mean:6.2f}  {c.seconds:7.1f} s")
    print(f"  recommended {res.recommended.name}: {res.reason}")
    print(f"  procedure {res.procedure_nested_score:.5f}, choices {res.procedure_choices}")
    lg = by_name(res, "stack:lgbm")
    n_fits = sum(1 for (n, _) in res.engine._fits if n == "stack:lgbm")
    X = make_features(data.probs, features="probs", task=data.task)
    t0 = time.perf_counter()
    alone = fit_stacker("lgbm", X, data.y, data.folds, task=data.task, metric="accuracy",
                        params=BUDGETS["fast"]["stacker_params"].get("lgbm", {}), n_jobs=2, rng=0)
    t_alone = time.perf_counter() - t0
    print(f"stack lgbm alone (fit_stacker, same settings, 20 fits): {t_alone:.0f} s wall, "
          f"{t_alone / 20:.1f} s per fit; inside compare: {lg.seconds:.0f} s summed over "
          f"{n_fits} fits, {lg.seconds / n_fits:.1f} s per fit (ratio per fit "
          f"{lg.seconds / n_fits / (t_alone / 20 * 2):.2f}, both with 2 threads); "
          f"nested accuracy alone {alone.nested_score:.5f}, in compare {lg.nested_score:.5f}; "
          f"{load()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", nargs="+", default=["noisy", "noisy-low", "soft", "real", "time"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--stores", nargs="+", default=[*STORES, "metatasks"],
                    help="stores of the gaps part (names in STORES, or metatasks)")
    ap.add_argument("--rows", type=int, help="cut the large stores to this many rows")
    ap.add_argument("--budget", default="fast")
    ap.add_argument("--time-limit", help="compare's --time-limit in the gaps part")
    args = ap.parse_args()
    print(f"bench_compare: {load()}, {os.cpu_count()} CPUs")
    for part in args.part:
        {"noisy": lambda: part_noisy(args.seeds),
         "noisy-low": lambda: part_noisy(args.seeds, correlation=0.3, accuracy=(0.52, 0.56)),
         "soft": part_soft, "real": part_real,
         "gaps": lambda: part_gaps(args.stores, args.rows, budget=args.budget,
                                   time_limit=args.time_limit),
         "time": part_time}[part]()


if __name__ == "__main__":
    main()
