"""``blend optimize STORE --method de|optuna|nelder-mead|lbfgs|hill-climb``: fit blend weights.

``optimize_store(store, ...)`` loads the OOF predictions and calls the pure
:func:`blend.optimize.optimize`; ``optimize_cli`` prints the weights (with each held-out
fold's weights beside them), the in-sample and nested-CV scores, and writes the optional
``--json`` facts and ``--recipe``. See ``docs/commands/optimize.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.cli._common import (
    honesty_facts,
    level2_facts,
    print_honesty,
    print_level2,
    resolve_models,
    warn_models_without_test,
)
from blend.optimize import OptimizeResult, available_optimizers, optimize, optimizer_capabilities
from blend.ordinal import available_cut_methods

__all__ = ["optimize_store", "optimize_cli", "register", "models_from_search", "selection_from_search",
           "default_storage", "recipe_from_result"]


def models_from_search(path: str | Path, rank: int = 1) -> list[str]:
    """The models of the ``rank``-th result (1 = best) of a ``blend search --json`` file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise BlendError(f"{path} is not JSON ({exc}); pass the file `blend search --json` wrote") from exc
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not results:
        raise BlendError(f"{path} has no 'results' list; pass the file `blend search --json` wrote")
    if not 1 <= rank <= len(results):
        raise BlendError(f"--rank must be between 1 and {len(results)} for {path}; got {rank}")
    models = results[rank - 1].get("models")
    if not isinstance(models, list) or not models:
        raise BlendError(f"result {rank} in {path} has no 'models' list")
    return [str(m) for m in models]


def _read_search(path: str | Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise BlendError(f"{path} is not JSON ({exc}); pass the file `blend search --json` wrote") from exc
    except OSError as exc:
        raise BlendError(f"cannot read {path}: {exc.strerror}") from exc
    if not isinstance(data, dict):
        raise BlendError(f"{path} is not a `blend search --json` file")
    return data


def selection_from_search(store: Any, path: str | Path, rank: int = 1,
                          allow_in_sample: bool = False):
    """The subset search of a ``blend search --json`` file, as a function of the rows.

    Returns ``(candidates, select, chosen)``: the models the search chose among, a function
    ``select(rows) -> indices into candidates`` that reruns the same search (metric, rule,
    method, sizes, required and excluded models, TTA handling) on those rows only and
    returns its ``rank``-th subset, and the ``rank``-th subset the file records. Rerun
    inside each outer fold, the selection is covered by the nested score.
    """
    from blend.recipe import _kind_for, load_output_for
    from blend.search import search_subsets

    data = _read_search(path)
    results = data.get("results")
    if not isinstance(results, list) or not results:
        raise BlendError(f"{path} has no 'results' list; pass the file `blend search --json` wrote")
    if not 1 <= rank <= len(results):
        raise BlendError(f"--rank must be between 1 and {len(results)} for {path}; got {rank}")
    missing = [k for k in ("models", "metric", "rule", "method") if k not in data]
    if missing:
        raise BlendError(
            f"{path} lacks the search's {', '.join(missing)}: without them the subset search "
            "cannot be rerun inside the outer folds, and a nested score would not cover the "
            "selection. Rerun `blend search --json` (or pass --models)"
        )
    chosen = results[rank - 1].get("models")
    if not isinstance(chosen, list) or not chosen:
        raise BlendError(f"result {rank} in {path} has no 'models' list")
    candidates = [str(m) for m in data["models"]]
    settings = dict(data.get("settings") or {})
    resolve_models(store, candidates, need=2, what="--from-search",
                   allow_in_sample=allow_in_sample)
    tta = settings.get("tta", "mean")
    output = load_output_for(data["rule"], store.task)
    oof = store.load_oof(candidates, tta=tta, output=output)
    kind = _kind_for(output)
    method = data["method"] if data["method"] in ("exhaustive", "beam") else "auto"

    def select(rows: np.ndarray) -> list[int]:
        res = search_subsets(
            oof.preds[:, :, rows], oof.y[rows], metric=data["metric"], rule=data["rule"],
            kind=kind, top=rank, min_size=settings.get("min_size", 1),
            max_size=settings.get("max_size"), must_include=settings.get("must_include") or (),
            exclude=settings.get("exclude") or (), names=candidates, method=method,
            beam_width=settings.get("beam_width"), n_jobs=1,
        )
        if len(res.results) < rank:  # never fall back to a lower-ranked subset silently
            raise BlendError(
                f"the search of {path} rerun on {len(rows)} rows returned "
                f"{len(res.results)} subsets, fewer than --rank {rank}: that rank does not "
                "exist there; pass a smaller --rank")
        return list(res.results[rank - 1].indices)

    return candidates, select, [str(m) for m in chosen]


def default_storage(store: Any) -> str | None:
    """``<store>/optuna.journal`` (an Optuna journal file) for a local store, else None.

    A journal file is Optuna's own multi-process storage; it is ten times faster than SQLite
    for these small trials (see ``blend.optimize._optuna``). Pass ``--storage
    sqlite:///...`` or ``postgresql://...`` for an RDB.
    """
    uri = str(store.uri)
    if "://" in uri and not uri.startswith("file://"):
        return None
    root = Path(uri.removeprefix("file://")).resolve()
    return str(root / "optuna.journal")


def _default_study_name(store: Any, models: list[str], metric: str, rule: str,
                        flags: str) -> str:
    h = hashlib.sha1("\0".join(models).encode()).hexdigest()[:8]
    fp = str(getattr(store, "fingerprint", ""))[:8]
    return f"blend-optimize-{fp}-{metric}-{rule}{flags}-{h}"


def _tta_mode(store: Any, models: list[str], tta_weights: bool) -> str:
    """How the store is asked for TTA views.

    ``"all"`` (every view, averaged or weighted in the rule's space by the blend) when TTA
    weights are asked for or the models have the same number of views, else ``"mean"``.
    """
    n_views = {len(store.manifest(m).get("tta_views") or [None]) for m in models}
    return "all" if (tta_weights or len(n_views) == 1) else "mean"


def optimize_store(
    store: Any,
    *,
    method: str = "de",
    metric: str | None = None,
    rule: str = "prob",
    models: list[str] | None = None,
    tta_weights: bool = False,
    per_class: bool = False,
    temperature: bool = False,
    seed: int = 0,
    nested: bool = True,
    params: dict[str, Any] | None = None,
    executor: Any = None,
    progress: Any = None,
    from_search: str | Path | None = None,
    rank: int = 1,
    allow_in_sample: bool = False,
) -> OptimizeResult:
    """Load ``store``'s OOF predictions and fit weights (see :func:`blend.optimize.optimize`).

    With ``from_search`` (a ``blend search --json`` file), the weights are fitted on the
    ``rank``-th subset of that search, and the search is rerun on the training rows of every
    outer fold, so that the nested score covers the selection as well as the weights; the
    result's ``conditional_nested_score`` is the old, optimistic number (the subset fixed to
    the one chosen on all rows).

    With ``method="optuna"`` and no ``storage`` in ``params``, the study is kept in
    ``<store>/optuna.journal`` (local stores) under a name derived from the store, the models, the
    metric and the rule, so that re-running the same command resumes it. ``executor`` runs
    the fits as tasks (see :func:`blend.optimize.optimize`).
    """
    from blend.metrics import default_metric

    if method not in available_optimizers():
        raise BlendError(
            f"unknown method {method!r}; choose one of: {', '.join(available_optimizers())}"
        )
    select = None
    if from_search is not None:
        if models:
            raise BlendError("give either --models or --from-search, not both")
        models, select, recorded = selection_from_search(store, from_search, rank,
                                                         allow_in_sample)
        again = [models[i] for i in select(np.arange(len(store.ids)))]
        if sorted(again) != sorted(recorded):
            raise BlendError(
                f"the search of {from_search} rerun on all rows chooses {', '.join(again)}, "
                f"but the file records {', '.join(recorded)} at rank {rank}: the store or the "
                "search changed since; rerun `blend search --json`"
            )
    models = resolve_models(store, models, need=2, what="weight optimisation",
                            allow_in_sample=allow_in_sample)
    metric = metric or default_metric(store.task)
    regression = store.task == "regression"
    output = "probs" if rule in ("prob", "rank") else "logits"
    tta = _tta_mode(store, models, tta_weights)
    oof = store.load_oof(models, tta=tta, output="raw" if regression else output)
    kind = "raw" if regression else output
    params = dict(params or {})
    if method == "optuna":
        if "storage" not in params:
            params["storage"] = default_storage(store)
        if params.get("storage") and not params.get("study_name"):
            flags = ("-tta" if tta_weights else "") + ("-pc" if per_class else "") + (
                "-temp" if temperature else "")
            params["study_name"] = _default_study_name(store, models, metric, rule, flags)
    return optimize(
        oof.preds, oof.y, oof.folds,
        method=method, metric=metric, rule=rule, kind=kind, task=store.task,
        models=list(oof.models), tta_views=list(oof.tta_views), tta_weights=tta_weights,
        per_class=per_class, temperature=temperature, nested=nested, rng=seed, params=params,
        executor=executor,
        progress=progress,
        select=select,
    )


def recipe_from_result(result: OptimizeResult, store: Any):
    """The :class:`blend.recipe.Recipe` of a result of :func:`optimize_store` on ``store``.

    It holds everything the fit produced: one weight per model, or per (model, TTA view)
    (``tta_weights``), or per (model, class) (``per_class``), and the per-model (or per
    (model, view)) temperatures. Applied to the store's OOF rows it reproduces
    ``result.score``: the recipe blends with the same functions as the optimiser.
    """
    from blend.recipe import Recipe

    models = list(result.models) if result.selected is None else list(result.selected)
    tta_weighted = result.unit_weights is not None and not result.per_class
    fields: dict[str, Any] = {}
    if tta_weighted:
        views = list(next(iter(result.unit_weights.values())))
        fields["view_weights"] = tuple(tuple(result.unit_weights[m][v] for v in views)
                                       for m in models)
        if result.temperatures is not None:
            fields["temperatures"] = tuple(tuple(result.temperatures[f"{m}[{v}]"] for v in views)
                                           for m in models)
    else:
        if result.per_class:
            n_cls = len(store.class_names)
            fields["class_weights"] = tuple(tuple(result.unit_weights[m][str(c)]
                                                  for c in range(n_cls)) for m in models)
        else:
            fields["weights"] = tuple(result.weights[m] for m in models)
        if result.temperatures is not None:
            fields["temperatures"] = tuple(result.temperatures[m] for m in models)
    return Recipe.for_store(
        store,
        models,
        rule=result.rule,
        tta=_tta_mode(store, models, tta_weighted),
        metric=result.metric,
        score=result.score,
        nested_score=result.nested_score,
        source=f"optimize:{result.method}",
        **fields,
    )


def _print(result: OptimizeResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    from oof_common.cli import console

    table = Table(title=f"blend optimize --method {result.method} ({result.metric}, "
                        f"{result.rule} rule)")
    table.add_column("model")
    table.add_column("weight", justify="right")
    for k in result.fold_ids:
        table.add_column(f"fold {k}", justify="right", style="dim")
    for m, w in result.weights.items():
        table.add_row(m, f"{w:.4f}", *(f"{fw[m]:.4f}" for fw in result.fold_weights))
    table.add_section()
    table.add_row("score", f"{result.score:.6g} (in-sample)",
                  *(f"{s:.6g}" for s in result.fold_scores))
    console.print(table)
    if result.selected is not None:
        console.print("subset chosen on all rows: " + ", ".join(result.selected), highlight=False)
        for k, sel in zip(result.fold_ids, result.fold_selected or [], strict=False):
            console.print(f"  fold {k}: chosen on the other folds: {', '.join(sel)}",
                          highlight=False)
    nested = "skipped" if result.nested_score is None else f"{result.nested_score:.6g}"
    console.print(
        f"in-sample {result.metric} [bold]{result.score:.6g}[/bold] (fitted and scored on every "
        f"row)   nested-CV [bold]{nested}[/bold] (pooled held-out rows; each fold's "
        f"{' and '.join(result.nested_covers)} chosen on the other folds)   "
        f"{result.evaluations} evaluations in {result.seconds:.2f} s", highlight=False
    )
    if result.conditional_nested_score is not None:
        console.print(
            f"conditional {result.metric} {result.conditional_nested_score:.6g}: weights "
            "nested, but the subset fixed to the one chosen on all rows (held-out rows "
            "included) -- optimistic, shown only to measure what the selection costs",
            highlight=False)
    if result.temperatures:
        console.print("temperatures: " + ", ".join(
            f"{escape(u)} {t:.3g}" for u, t in result.temperatures.items()))


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise BlendError(f"--param takes KEY=VALUE; got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def optimize_cli(args: argparse.Namespace) -> int:
    """Fit blend weights on the store and print, and optionally save, the result (``blend optimize``)."""
    from oof_common.cli import progress_callback
    from oof_store import Store

    if args.models and args.from_search:
        raise BlendError("give either --models or --from-search, not both")
    params: dict[str, Any] = dict(_parse_param(p) for p in args.param or [])
    for key in ("maxiter", "popsize", "trials", "timeout", "sampler", "storage", "study_name",
                "workers"):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    store = Store(args.store)
    from blend.cli import _ordinal

    if _ordinal.is_ordinal(store, args.metric, args.ordinal):
        if args.from_search:
            raise BlendError("--from-search does not combine with cut points (--metric qwk / "
                             "--ordinal) yet; name the models with --models")
        return _ordinal.ordinal_optimize_cli(args, store, args.models, params)
    finished = store.models()
    warn_models_without_test(store, [m for m in (args.models or finished) if m in finished],
                             what="a weighted blend")
    from oof_store.distributed import get_executor

    with get_executor(args.ray) as executor, \
            progress_callback(f"optimize --method {args.method}") as progress:
        result = optimize_store(
            store, method=args.method, metric=args.metric, rule=args.rule, models=args.models,
            tta_weights=args.tta_weights, per_class=args.per_class, temperature=args.temperature,
            seed=args.seed, nested=not args.no_nested, params=params, progress=progress,
            from_search=args.from_search, rank=args.rank, allow_in_sample=args.allow_in_sample,
            executor=executor if args.ray else None,
        )
    print_honesty(store, result.models)
    print_level2(store, args.models or ([] if args.from_search else None), result.models)
    from oof_common.cli import err_console

    for line in result.announcements:
        err_console.print(line, highlight=False)
    _print(result)
    if args.ray:
        err_console.print(executor.summary(), highlight=False)
    if args.json:
        d = {**result.to_dict(), **honesty_facts(store, result.models),
             **level2_facts(store, result.models)}
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.recipe:
        recipe_from_result(result, store).save(args.recipe)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``optimize`` sub-command to the ``blend`` parser."""
    from oof_common.cli import add_debug_flag

    p = subparsers.add_parser(
        "optimize",
        help="fit blend weights (de, optuna, nelder-mead, lbfgs, hill-climb) with nested CV",
        description="Fit non-negative blend weights that sum to 1, and report the in-sample "
                    "score beside the nested-CV score (weights fitted on K-1 folds, scored "
                    "on the held-out fold).",
    )
    p.add_argument("store", help="path or URI of the OOF store")
    p.add_argument("--method", default="de", choices=available_optimizers(),
                   help="weighting method (default de): " + "; ".join(
                       f"{m}: {optimizer_capabilities(m).describe()}" for m in available_optimizers()))
    p.add_argument("--metric", help="metric name or module:function (default: the task's)")
    p.add_argument("--rule", default="prob", choices=["prob", "logit", "geo", "rank"])
    p.add_argument("--models", nargs="+", help="models to weight (default: all)")
    p.add_argument("--from-search", metavar="FILE",
                   help="weight the subset a `blend search --json` file chose; the search is "
                        "rerun inside every outer fold so the nested score covers it")
    p.add_argument("--rank", type=int, default=1, help="which result of --from-search (1 = best)")
    p.add_argument("--tta-weights", action="store_true", help="one weight per model x TTA view")
    p.add_argument("--per-class", action="store_true", help="one weight per model x class")
    p.add_argument("--temperature", action="store_true",
                   help="fit a temperature per model before blending (logit/geo rule)")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="also use blends written by `blend apply --write-model` (fitted on all "
                        "OOF rows): the scores are then NOT honest, and say so")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-nested", action="store_true", help="skip the nested CV")
    o = p.add_argument_group("ordinal targets (--metric qwk on a regression store, or --ordinal)")
    o.add_argument("--ordinal", action="store_true",
                   help="ordered classes: blend expected grades (sum of p x grade) and fit cut "
                        "points for QWK, instead of the argmax")
    o.add_argument("--grades", metavar="SPEC",
                   help="grade values, e.g. 1..6 or 0,1,2,3 (default: from integer targets, "
                        "or the classes)")
    o.add_argument("--cuts", default="coordinate", choices=[*available_cut_methods(), "all"],
                   help="cut-point method, fitted on the training folds (default coordinate; "
                        "all: every method, compared by nested QWK)")
    o.add_argument("--cuts-mode", default="both", choices=["after", "joint", "both"],
                   help="cut points after weights fitted on RMSE, weights fitted on the QWK "
                        "after cut points, or both compared by nested QWK (default)")
    o.add_argument("--procedure", action="store_true",
                   help="also score the choice between the candidates (modes, --cuts all) "
                        "doubly nested (each candidate rerun on every fold's training rows)")
    g = p.add_argument_group("method options")
    g.add_argument("--maxiter", type=int, help="de: generations (default 20)")
    g.add_argument("--popsize", type=int, help="de: population multiplier (default 15)")
    g.add_argument("--trials", type=int, help="optuna: trials per fit (default 200)")
    g.add_argument("--timeout", type=float, help="optuna: seconds per fit")
    g.add_argument("--sampler", choices=["tpe", "cmaes"], help="optuna: sampler (default tpe)")
    g.add_argument("--storage", help="optuna: RDB URL or journal file path (default <store>/optuna.journal)")
    g.add_argument("--study-name", dest="study_name", help="optuna: study name prefix")
    g.add_argument("--workers", type=int,
                   help="optuna: workers sharing each fit's study (Ray tasks with --ray; default 1)")
    g.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="any method parameter, e.g. n_bags=10 (repeatable)")
    from oof_store.distributed import add_ray_flag

    add_ray_flag(p)
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.add_argument("--recipe", metavar="OUT", help="write a recipe for blend apply")
    add_debug_flag(p)
    p.set_defaults(func=optimize_cli)
