"""``blend compare STORE``: every candidate under the same folds, what to submit, how good it is.

The library layer (:func:`compare_store`, :func:`recipe_for`) connects a store to the pure
:func:`blend.compare.compare`; :func:`compare_cli` prints the leaderboard, the
recommendation with its reason and the procedure score, and writes ``--json``, ``--html``
and ``--recipe``. Nothing is written into the store, except the stackers a stacker or
level-3 recommendation needs when ``--recipe`` is asked for (``--no-write`` refuses that).
See ``docs/commands/compare.md``.
"""

from __future__ import annotations

import argparse
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend._write_back import as_block, write_model
from blend.cli._common import (
    honesty_facts,
    print_honesty,
    resolve_models,
    warn_models_without_test,
    without_stackers,
)
from blend.compare import BUDGETS, CompareData, CompareResult, compare

__all__ = ["compare_models", "compare_store", "recipe_for", "write_stackers", "compare_cli", "register"]


def compare_models(store: Any, models: Sequence[str] | None = None, *,
                   allow_in_sample: bool = False) -> list[str]:
    """The models ``blend compare`` runs on: ``models`` checked, or every base model.

    Level-2 models (``source="stack"``) are left out of the default list (compare fits its
    own stackers, properly nested); in-sample models (:mod:`oof_store.flags`) are left out,
    and refused by name, unless ``allow_in_sample``.
    """
    return resolve_models(store, models, need=2, what="compare", default=without_stackers(store),
                          allow_in_sample=allow_in_sample)


def load_data(store: Any, models: Sequence[str] | None = None, *,
              need_logits: bool = True, allow_in_sample: bool = False) -> CompareData:
    """The store's OOF predictions as :class:`CompareData` (TTA views averaged)."""
    chosen = compare_models(store, models, allow_in_sample=allow_in_sample)
    regression = store.task == "regression"
    oof = store.load_oof(chosen, tta="mean", output="raw" if regression else "probs")
    logits = None
    if need_logits and not regression:
        logits = store.load_oof(chosen, tta="mean", output="logits").preds
    return CompareData(probs=oof.preds, y=oof.y, folds=oof.folds, task=store.task,
                       models=list(oof.models), logits=logits)


def compare_store(store: Any, *, models: Sequence[str] | None = None, metric: str | None = None,
                  methods: Sequence[str] | None = None, budget: str = "fast",
                  procedure: bool = True, seed: int = 0, n_jobs: int | None = None,
                  progress: Any = None, allow_in_sample: bool = False,
                  executor: Any = None) -> CompareResult:
    """Load ``store`` and run :func:`blend.compare.compare` on it.

    In-sample models are left out (refused by name) unless ``allow_in_sample``
    (:func:`compare_models`). ``executor`` runs the candidates' fits as tasks (e.g. on Ray;
    see :mod:`oof_store.distributed`).
    """
    if budget not in BUDGETS:
        raise BlendError(f"unknown --budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    if metric is not None:
        from blend.metrics import get_metric

        get_metric(metric, store.task)  # fail before loading
    data = load_data(store, models, allow_in_sample=allow_in_sample)
    return compare(data, metric=metric, methods=methods, budget=budget, procedure=procedure,
                   seed=seed, n_jobs=n_jobs, progress=progress, executor=executor)


def _stackers_needed(res: CompareResult, name: str) -> list[str]:
    cand = res.engine.by_name[name]
    if cand.kind == "stacker":
        return [cand.name]
    return list(cand.depends)


def write_stackers(store: Any, res: CompareResult, names: Sequence[str], *, prefix: str = "compare_",
                   overwrite: bool = False) -> dict[str, str]:
    """Write the stacker candidates ``names`` into the store as level-2 models.

    Each written model's OOF rows are its outer-fold predictions (the fit that never saw
    the row's fold) and its test predictions are each outer-fold fit's, per fold, as
    ``stack`` writes them (``source="stack"``). Returns ``{candidate: model name}``.
    """
    from blend.stack import make_features

    eng = res.engine
    data = eng.data
    out = {}
    for name in names:
        cand = eng.by_name[name]
        model = prefix + cand.extra["stacker"]
        if model in data.models:
            raise BlendError(f"model name {model!r} is one of the compared models; pass another --prefix")
        if model in store.models(include_incomplete=True) and not overwrite:
            raise BlendError(f"model {model!r} is already in the store {store.uri}; pass "
                             "--overwrite or another --prefix")
        out[name] = model
    for name, model in out.items():
        cand = eng.by_name[name]
        X_test = None
        if len(store.test_ids):
            ts = store.load_test(data.models, tta="mean", folds="mean",
                                 output="raw" if data.regression else "probs")
            X_test = make_features(ts.preds, features=cand.extra["features"], task=data.task)
        score = next(s for s in res.candidates if s.name == name)
        oof = {k: as_block(_squeeze(eng.predict(name, {k}, k), data)) for k in eng.fold_ids}
        test = None
        if X_test is not None:
            test = {k: as_block(np.mean([_predict_one(cand, m, X_test) for m in eng.fit(name, {k})],
                                        axis=0))
                    for k in eng.fold_ids}
        # one write: an existing model is replaced all at once, never removed first
        write_model(
            store, model, "blend compare", oof=oof, test=test, replace=True,
            kind="raw" if data.regression else "probs",
            params={"stacker": cand.extra["stacker"], "written_by": "blend compare",
                    "features": cand.extra["features"], "models": list(data.models),
                    "metric": res.metric, "nested_score": score.nested_score,
                    "fold_scores": list(score.fold_scores)},
            source="stack",
            parents=list(data.models),
            overwrite=True,
            fitted_on_all_rows=False,  # nested; in-sample over in-sample models (write_model)
        )
    return out


def _squeeze(pred: np.ndarray, data: CompareData) -> np.ndarray:
    return pred[:, 0] if data.regression else pred


def _predict_one(cand, fitted, X):
    from blend.stack import get_stacker

    return get_stacker(cand.extra["stacker"]).predict_one(fitted, X, None)


def recipe_for(store: Any, res: CompareResult, written: dict[str, str] | None = None) -> Any:
    """The recommendation as a recipe for ``blend apply``.

    Stacker and level-3 recommendations name the stackers written by :func:`write_stackers`
    (``written``: candidate -> model name).
    """
    from blend.recipe import Recipe

    eng = res.engine
    data = eng.data
    rec = res.recommended
    cand = eng.by_name[rec.name]
    common = {"metric": res.metric, "score": rec.in_sample_score, "nested_score": rec.nested_score,
              "source": f"compare:{rec.name}"}
    everyone = frozenset()
    if "cuts" in cand.extra:  # ordinal: weights and cut points into grades
        w, cuts = eng.fit(cand, everyone)
        return Recipe.for_store(store, data.models, rule="prob", weights=tuple(float(x) for x in w),
                                cuts=tuple(float(c) for c in cuts),
                                grades=tuple(cand.extra["grades"]), **common)
    if cand.kind == "mean":
        return Recipe.for_store(store, data.models, rule="prob", **common)
    if cand.name == "best single":
        return Recipe.for_store(store, (data.models[eng.fit(cand, everyone)],), rule="prob", **common)
    if cand.kind == "selection":
        idx = eng.fit(cand, everyone)
        return Recipe.for_store(store, [data.models[i] for i in idx], rule="prob", **common)
    if cand.kind == "weights":
        w = eng.fit(cand, everyone)
        return Recipe.for_store(store, data.models, rule=cand.extra["rule"],
                                weights=tuple(float(x) for x in w), **common)
    need = _stackers_needed(res, cand.name)
    missing = [n for n in need if not written or n not in written]
    if missing:
        raise BlendError(f"the recommendation {cand.name!r} needs the stacker(s) {missing} "
                         "written into the store; run without --no-write")
    models = [written[n] for n in need]
    if cand.kind == "stacker":
        return Recipe.for_store(store, models, rule="prob", **common)
    w = eng.fit(cand, everyone)
    return Recipe.for_store(store, models, rule="prob", weights=tuple(float(x) for x in w), **common)


# --------------------------------------------------------------------------- CLI layer


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.5f}"


def _print(res: CompareResult) -> None:
    from rich.table import Table

    from blend.metrics import get_metric
    from oof_common.cli import console

    met = get_metric(res.metric)
    K = len(res.fold_ids)
    table = Table(title=f"blend compare: nested {res.metric} (pooled over the held-out rows of "
                        f"{K} folds), best first")
    for col, just in (("candidate", "left"), ("nested", "right"), ("fold scores", "left"),
                      ("spread / SE", "right"), ("in-sample", "right"), ("optimism", "right"),
                      ("seconds", "right")):
        table.add_column(col, justify=just)
    for c in res.candidates:
        name = c.name + (" [dim](baseline)[/dim]" if c.baseline else "")
        if c.name == res.recommended.name:
            name = f"[bold green]{name} <-[/bold green]"
        ins = _fmt(c.in_sample_score) + (" (OOF)" if c.kind == "stacker" else "")
        table.add_row(name, _fmt(c.nested_score), " ".join(f"{s:.4f}" for s in c.fold_scores),
                      f"{c.spread:.4f} / {c.se:.4f}", ins, f"{c.optimism(met):+.5f}",
                      f"{c.seconds:.1f}")
    console.print(table)
    for c in res.candidates:
        if c.note:
            console.print(f"[dim]{c.name}: {c.note}[/dim]", highlight=False)
    for n in res.notes:
        console.print(f"[yellow]{n}[/yellow]", highlight=False)
    console.print(f"recommended: [bold]{res.recommended.name}[/bold], nested {res.metric} "
                  f"{_fmt(res.recommended.nested_score)}. {res.reason}", highlight=False)
    if res.procedure_nested_score is not None:
        picks = ", ".join(f"{k}: {p}" for k, p in zip(res.fold_ids, res.procedure_choices, strict=True))
        console.print(
            f"procedure score (compare + choice rerun inside each outer fold, doubly nested): "
            f"[bold]{_fmt(res.procedure_nested_score)}[/bold] "
            f"(folds {' '.join(f'{s:.4f}' for s in res.procedure_fold_scores)}; chosen: {picks})",
            highlight=False,
        )
        console.print("[dim]the recommended candidate's nested score is itself chosen from the "
                      "labels; the procedure score is the honest estimate of what you submit[/dim]")
    console.print(f"{res.seconds:.1f} s")


def write_html(res: CompareResult, path: str | Path) -> None:
    """A standalone HTML page with the leaderboard and the recommendation."""
    e = html.escape
    rows = "".join(
        f"<tr{' class=rec' if c.name == res.recommended.name else ''}><td>{e(c.name)}"
        f"{' (baseline)' if c.baseline else ''}</td><td>{_fmt(c.nested_score)}</td>"
        f"<td>{' '.join(f'{s:.4f}' for s in c.fold_scores)}</td><td>{c.spread:.4f} / {c.se:.4f}</td>"
        f"<td>{_fmt(c.in_sample_score)}</td><td>{c.seconds:.1f}</td></tr>"
        for c in res.candidates
    )
    proc = _fmt(res.procedure_nested_score)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>blend compare</title><style>"
        "body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}"
        ".rec{font-weight:bold;background:#dfd}</style></head><body>"
        f"<h1>blend compare: nested {e(res.metric)}</h1><table><tr><th>candidate</th><th>nested</th>"
        f"<th>fold scores</th><th>spread / SE</th><th>in-sample</th><th>seconds</th></tr>{rows}</table>"
        f"<p>Recommended: <b>{e(res.recommended.name)}</b>. {e(res.reason)}</p>"
        f"<p>Procedure score (doubly nested): <b>{proc}</b></p></body></html>\n"
    )
    Path(path).write_text(page, encoding="utf-8")


def compare_cli(args: argparse.Namespace) -> int:
    """Run ``blend compare`` and print / write its results."""
    from oof_common.cli import console, progress_bar
    from oof_store import Store

    store = Store(args.store)
    if args.threads is not None and args.threads < 1:
        raise BlendError(f"--threads must be >= 1; got {args.threads}")
    models = compare_models(store, args.models, allow_in_sample=args.allow_in_sample)
    print_honesty(store, models)
    warn_models_without_test(store, models, what="a recommendation")
    from oof_store.distributed import get_executor

    with get_executor(args.ray) as executor, progress_bar(transient=True) as prog:
        task = prog.add_task("candidates x folds", total=None)

        def progress(done: int, total: int, label: str) -> None:
            prog.update(task, completed=done, total=total, description=f"candidates x folds ({label})")

        res = compare_store(store, models=models, metric=args.metric, methods=args.methods,
                            budget=args.budget, procedure=not args.no_procedure, seed=args.seed,
                            n_jobs=args.threads, progress=progress,
                            allow_in_sample=args.allow_in_sample,
                            executor=executor if args.ray else None)
    _print(res)
    if args.ray:
        from oof_common.cli import err_console

        err_console.print(executor.summary(), highlight=False)
    if args.json:
        d = {**res.to_dict(), "models": list(res.engine.data.models),
             **honesty_facts(store, res.engine.data.models)}
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.html:
        write_html(res, args.html)
    if args.recipe:
        written = None
        need = _stackers_needed(res, res.recommended.name)
        if need:
            if args.no_write:
                raise BlendError(f"the recommendation {res.recommended.name!r} needs its stacker(s) "
                                 "written into the store for a recipe; drop --no-write")
            written = write_stackers(store, res, need, prefix=args.prefix, overwrite=args.overwrite)
            for cand, model in written.items():
                console.print(f"wrote {cand} into the store as model {model!r} (needed by the recipe)",
                              highlight=False)
        recipe_for(store, res, written).save(args.recipe)
        console.print(f"wrote recipe {args.recipe}: `blend apply {args.recipe} --store {store.uri} "
                      "--out submission.csv`", highlight=False)
    return 0


def register(subparsers) -> None:
    """Add the ``compare`` sub-command to the ``blend`` parser."""
    from oof_common.cli import add_debug_flag
    from oof_store.distributed import add_ray_flag

    p = subparsers.add_parser(
        "compare", help="compare every blend and stacker under the same folds and say what to submit",
        description="Run baselines, weighting methods, stackers and level 3 under the same outer "
                    "folds, print a leaderboard, recommend one candidate and score that procedure "
                    "doubly nested.")
    p.add_argument("store", help="path or URI of the OOF store")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to compare over (default: every base model; level-2 ones left out)")
    p.add_argument("--metric", help="metric (default: the task's default)")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="candidates beside the baselines: METHOD[/RULE] (a weighting method), "
                        "caruana, stack:NAME, level3[:METHOD]; with --metric qwk on a regression "
                        "store also mean+cuts and METHOD+cuts (cut points into grades fitted "
                        "inside every fit; added by default) (default: the budget's list)")
    p.add_argument("--budget", choices=list(BUDGETS), default="fast",
                   help="fast (default): lbfgs, hill-climb, lgbm and linear stackers, level 3; "
                        "full: every optimiser, the neural stackers, HPO, bagging and seeds")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.add_argument("--html", metavar="OUT", help="write the leaderboard as an HTML page")
    p.add_argument("--recipe", metavar="OUT",
                   help="write the recommendation as a recipe for `blend apply` (a stacker or "
                        "level-3 recommendation writes its stackers into the store)")
    p.add_argument("--prefix", default="compare_", help="name prefix of written stackers (default compare_)")
    p.add_argument("--overwrite", action="store_true", help="replace written stackers of the same name")
    p.add_argument("--no-write", action="store_true", help="never write into the store")
    p.add_argument("--no-procedure", action="store_true",
                   help="skip the doubly nested procedure score (faster, less honest)")
    p.add_argument("--threads", type=int, help="threads for the stackers' fits (default: all CPUs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="allow in-sample models (blends written back by `blend apply --write-model`, "
                        "fitted on all OOF rows): the scores are then NOT honest, and say so")
    add_ray_flag(p)
    add_debug_flag(p)
    p.set_defaults(func=compare_cli)
