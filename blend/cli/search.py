"""``blend search STORE --top 50``: the best subsets of models, exact when it fits the budget.

:func:`blend.workflows.search.search_store` loads the OOF predictions and calls the pure
:func:`blend.search.search_subsets`; ``search_cli`` says how many subsets and about how long
before it starts, shows a progress bar, prints the table and writes the optional ``--json``
and ``--save-recipe`` files. See ``docs/commands/search.md``.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from blend.workflows import _defaults as D
from oof_common.outputs import output_file

if TYPE_CHECKING:
    from blend.search import SearchResult

__all__ = ["search_cli", "register"]


def _tta_arg(value: str) -> str | int:
    return int(value) if value.lstrip("-").isdigit() else value


def _table(result: SearchResult):
    from rich.table import Table

    arrow = "higher is better" if result.greater_is_better else "lower is better"
    t = Table(title=f"top {len(result.results)} subsets by OOF {result.metric} ({arrow}), rule "
                    f"{result.rule}; in-sample: chosen and scored on every OOF row")
    t.add_column("#", justify="right")
    t.add_column(result.metric, justify="right")
    t.add_column("size", justify="right")
    for k in result.fold_ids:
        t.add_column(f"fold {k}", justify="right")
    # one line per subset: a long list is cut with "..." (the --json file has every name),
    # so 50 subsets print as 50 lines instead of wrapping to three times that
    t.add_column("models", no_wrap=True, overflow="ellipsis")
    for i, r in enumerate(result.results, 1):
        t.add_row(str(i), f"{r.score:.5f}", str(r.size), *(f"{s:.4f}" for s in r.fold_scores),
                  ", ".join(r.models))
    return t


def search_cli(args: argparse.Namespace) -> int:
    """Search the best subsets of models and print, and optionally save, them (``blend search``)."""
    # imported here, not at the top: `blend search --help` parses without numpy (issue 22)
    from rich.markup import escape

    from blend.cli import _ordinal
    from blend.cli._common import print_honesty, print_level2, warn_models_without_test
    from blend.workflows._models import resolve_models
    from blend.workflows.api import SearchRun, search_facts
    from blend.workflows.ordinal import is_ordinal
    from blend.workflows.search import recipe_from_result, search_store
    from oof_common.cli import console, err_console, progress_bar
    from oof_store import Store
    from oof_store.distributed import get_executor

    store = Store(args.store)

    if is_ordinal(store, args.metric, args.ordinal):
        return _ordinal.ordinal_search_cli(args, store)
    common = dict(
        metric=args.metric, rule=args.rule, models=args.models, tta=args.tta,
        min_size=args.min_size, max_size=args.max_size, must_include=args.must_include or (),
        exclude=args.exclude or (), method=args.method, time_budget=args.time_budget,
        n_jobs=args.jobs, device=args.device,
    )
    chosen = resolve_models(store, args.models, need=2, what="subset search",
                            allow_in_sample=args.allow_in_sample)
    print_honesty(store, chosen)
    print_level2(store, args.models, chosen)
    warn_models_without_test(store, [m for m in chosen if m not in (args.exclude or ())],
                             what="a subset")
    executor = get_executor(args.ray) if args.ray else None
    with progress_bar(transient=True) as prog:
        task = prog.add_task("scoring subsets", total=None)

        def on_plan(plan):  # printed before the expensive work starts
            err_console.print(f"[bold]plan:[/bold] {escape(plan.summary())}", highlight=False)
            if args.nested:
                err_console.print(f"--nested: the same search runs again on each of the "
                                  f"{store.n_folds} folds' training rows (about that many "
                                  "times longer)", highlight=False)
            if plan.method in ("exact", "exhaustive"):  # pruned subsets count as done
                prog.update(task, total=plan.n_subsets)

        try:
            result = search_store(
                store, top=args.top, nested=args.nested, beam_width=args.beam_width,
                progress=lambda n: prog.advance(task, n), on_plan=on_plan,
                allow_in_sample=args.allow_in_sample, executor=executor, **common,
            )
        finally:
            if executor is not None:
                executor.close()
    if executor is not None:
        err_console.print(executor.summary(), highlight=False)
    console.print(_table(result))
    console.print(escape(result.summary()), highlight=False)
    if result.nested_score is not None and result.extra.get("mean_score") is not None:
        from blend.nested import beside_mean

        console.print("the selection: " + beside_mean(result.nested_score, result.extra["mean_score"],
                                                      result.greater_is_better, 6, result.rule),
                      highlight=False)
    from blend.metrics import about_positive

    positive = about_positive(result.metric, store.task, store.class_names)
    if positive:
        console.print(positive, highlight=False)
    if args.json:
        settings = {"tta": args.tta, "min_size": args.min_size, "max_size": args.max_size,
                    "must_include": list(args.must_include or ()),
                    "exclude": list(args.exclude or ()), "beam_width": args.beam_width}
        d = SearchRun(result, store, search_facts(store, result, chosen, settings)).to_dict()
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=2)
            f.write("\n")
        err_console.print(escape(f"wrote {args.json}"))
    if args.save_recipe:
        recipe_from_result(result, store, tta=args.tta).save(args.save_recipe)
        err_console.print(escape(f"wrote recipe {args.save_recipe}"))
    return 0


def register(subparsers) -> None:
    """Add the ``search`` sub-command to the ``blend`` parser."""
    from blend.cli import SUBCOMMANDS
    from blend.combine import RULES
    from blend.metrics import canonical_metric, metric_help
    from blend.search import METHODS
    from oof_common.cli import add_debug_flag
    from oof_store.distributed import add_ray_flag

    p = subparsers.add_parser(
        "search",
        help=SUBCOMMANDS["search"],
        description=(
            "Score every subset of the store's models by OOF metric and print the best. "
            "Exact when the estimated time fits --time-budget (for accuracy by branch and "
            "bound: subsets a proven bound rules out are skipped; other metrics score every "
            "subset); otherwise beam search (a heuristic, with a certificate for accuracy), "
            "and the output says which was done."
        ),
    )
    p.add_argument("store", help="path or URI of the OOF store")
    p.add_argument("--top", type=int, default=D.SEARCH_TOP, help="how many subsets to show (default 50)")
    p.add_argument("--metric", default=None, type=canonical_metric, help=metric_help())
    p.add_argument("--rule", choices=list(RULES), default=D.RULE, help="combination rule")
    p.add_argument("--models", nargs="+", default=None, help="only these models")
    p.add_argument("--min-size", type=int, default=1)
    p.add_argument("--max-size", type=int, default=None)
    p.add_argument("--must-include", nargs="+", default=None, metavar="MODEL")
    p.add_argument("--exclude", nargs="+", default=None, metavar="MODEL")
    p.add_argument("--tta", type=_tta_arg, default=D.TTA,
                   help="TTA views: mean (default), or a view index or name")
    p.add_argument("--method", choices=list(METHODS), default="auto",
                   help="auto (default): exact if it fits --time-budget, else beam; exact: branch "
                        "and bound (accuracy); exhaustive: every subset; beam: heuristic")
    p.add_argument("--time-budget", type=float, default=D.SEARCH_TIME_BUDGET,
                   help="seconds an exhaustive search may take before --method auto switches to beam search")
    p.add_argument("--beam-width", type=int, default=None)
    p.add_argument("--nested", action="store_true",
                   help="also run the selection inside nested CV and print its held-out score")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="also use blends written by `blend apply --write-model` (fitted on all "
                        "OOF rows): the scores are then NOT honest, and say so")
    p.add_argument("--jobs", type=int, default=D.SEARCH_JOBS, help="threads (default 2)")
    p.add_argument("--device", default=None,
                   help="torch device for the accuracy search, e.g. cuda (default: numpy on the CPU)")
    add_ray_flag(p)
    p.add_argument("--json", default=None, metavar="OUT", type=output_file, help="write the results as JSON")
    p.add_argument("--ordinal", action="store_true",
                   help="ordered classes: search subsets of expected grades graded by cut points")
    p.add_argument("--grades", metavar="SPEC", help="with --metric qwk / --ordinal: grade values, e.g. 1..6")
    p.add_argument("--cuts", default=D.CUT_METHOD, metavar="METHOD",
                   help="with --metric qwk on a regression store (or --ordinal): cut-point "
                        "method fitted for every subset (default coordinate)")
    p.add_argument("--save-recipe", default=None, metavar="PATH", type=output_file,
                   help="save the best subset as a recipe for `blend apply`")
    add_debug_flag(p)
    p.set_defaults(func=search_cli)
