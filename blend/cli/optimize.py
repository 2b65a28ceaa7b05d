"""``blend optimize STORE --method de|optuna|nelder-mead|lbfgs|hill-climb``: fit blend weights.

:func:`blend.workflows.optimize.optimize_store` loads the OOF predictions and calls the pure
:func:`blend.optimize.optimize`; ``optimize_cli`` prints the weights (with each held-out
fold's weights beside them), the in-sample and nested-CV scores, and writes the optional
``--json`` facts and ``--recipe``. See ``docs/commands/optimize.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blend._errors import BlendError
from blend.cli._common import parse_param
from blend.workflows import _defaults as D
from oof_common.outputs import output_file

if TYPE_CHECKING:
    from blend.optimize import OptimizeResult

__all__ = ["optimize_cli", "register"]


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
    nested = "skipped" if result.nested_score is None else result.versus_mean().removeprefix("nested ")
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


def optimize_cli(args: argparse.Namespace) -> int:
    """Fit blend weights on the store and print, and optionally save, the result (``blend optimize``)."""
    from blend.cli._common import print_honesty, print_level2, warn_models_without_test
    from blend.workflows._models import honesty_facts, level2_facts
    from blend.workflows.api import OptimizeRun
    from blend.workflows.optimize import optimize_store, recipe_from_result
    from oof_common.cli import progress_callback
    from oof_store import Store

    if args.models and args.from_search:
        raise BlendError("give either --models or --from-search, not both")
    params: dict[str, Any] = dict(args.param or [])
    for key in ("maxiter", "popsize", "trials", "timeout", "sampler", "storage", "study_name",
                "workers"):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    store = Store(args.store)
    from blend.cli import _ordinal
    from blend.workflows.ordinal import is_ordinal

    if is_ordinal(store, args.metric, args.ordinal):
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
    from blend.metrics import about_positive
    from oof_common.cli import console

    positive = about_positive(result.metric, store.task, store.class_names)
    if positive:
        console.print(positive, highlight=False)
    if args.ray:
        err_console.print(executor.summary(), highlight=False)
    if args.json:
        d = OptimizeRun(result, store, {**honesty_facts(store, result.models),
                                        **level2_facts(store, result.models)}).to_dict()
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.recipe:
        recipe_from_result(result, store).save(args.recipe)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``optimize`` sub-command to the ``blend`` parser."""
    # the registries of optimisers and cut-point methods are filled by the modules that
    # define them (numpy, not scipy: that is imported where used)
    from blend.metrics import canonical_metric, metric_help
    from blend.optimize import available_optimizers, optimizer_capabilities
    from blend.ordinal import available_cut_methods
    from oof_common.cli import add_debug_flag

    p = subparsers.add_parser(
        "optimize",
        help="fit blend weights (de, optuna, nelder-mead, lbfgs, hill-climb) with nested CV",
        description="Fit non-negative blend weights that sum to 1, and report the in-sample "
                    "score beside the nested-CV score (weights fitted on K-1 folds, scored "
                    "on the held-out fold).",
    )
    p.add_argument("store", help="path or URI of the OOF store")
    p.add_argument("--method", default=D.OPTIMIZE_METHOD, choices=available_optimizers(),
                   help="weighting method (default de): " + "; ".join(
                       f"{m}: {optimizer_capabilities(m).describe()}" for m in available_optimizers()))
    p.add_argument("--metric", type=canonical_metric, help=metric_help())
    p.add_argument("--rule", default=D.RULE, choices=["prob", "logit", "geo", "rank"])
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
    p.add_argument("--seed", type=int, default=D.SEED)
    p.add_argument("--no-nested", action="store_true", help="skip the nested CV")
    o = p.add_argument_group("ordinal targets (--metric qwk on a regression store, or --ordinal)")
    o.add_argument("--ordinal", action="store_true",
                   help="ordered classes: blend expected grades (sum of p x grade) and fit cut "
                        "points for QWK, instead of the argmax")
    o.add_argument("--grades", metavar="SPEC",
                   help="grade values, e.g. 1..6 or 0,1,2,3 (default: from integer targets, "
                        "or the classes)")
    o.add_argument("--cuts", default=D.CUT_METHOD, choices=[*available_cut_methods(), "all"],
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
    g.add_argument("--param", type=parse_param, action="append", metavar="KEY=VALUE",
                   help="any method parameter, e.g. n_bags=10 (repeatable)")
    from oof_store.distributed import add_ray_flag

    add_ray_flag(p)
    p.add_argument("--json", metavar="OUT", type=output_file, help="write the result as JSON")
    p.add_argument("--recipe", metavar="OUT", type=output_file, help="write a recipe for blend apply")
    add_debug_flag(p)
    p.set_defaults(func=optimize_cli)
