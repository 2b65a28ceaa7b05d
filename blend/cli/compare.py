"""``blend compare STORE``: every candidate under the same folds, what to submit, how good it is.

The workflow (:func:`blend.workflows.compare.compare_store`, ``recipe_for``,
``write_stackers``) connects a store to the pure :func:`blend.compare.compare`;
:func:`compare_cli` prints the leaderboard, the recommendation with its reason and the
procedure score, and writes ``--json``, ``--html`` and ``--recipe``. Nothing is written into
the store, except the stackers a stacker or level-3 recommendation needs when ``--recipe`` is
asked for (``--no-write`` refuses that). See ``docs/commands/compare.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from blend._errors import BlendError
from blend.workflows import _defaults as D
from oof_common.outputs import output_file

if TYPE_CHECKING:
    from blend.compare import CompareResult

__all__ = ["compare_cli", "register"]


# --------------------------------------------------------------------------- CLI layer


def _print(res: CompareResult) -> None:
    from rich.table import Table

    from blend.metrics import get_metric
    from blend.workflows.compare import _fmt
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


def compare_cli(args: argparse.Namespace) -> int:
    """Run ``blend compare`` and print / write its results."""
    from blend.cli._common import print_honesty, warn_models_without_test
    from blend.workflows.api import CompareRun, compare_facts
    from blend.workflows.compare import (
        compare_models,
        compare_store,
        recipe_with_stackers,
        write_html,
    )
    from oof_common.cli import console, progress_bar
    from oof_store import Store

    store = Store(args.store)
    if args.threads is not None and args.threads < 1:
        raise BlendError(f"--threads must be >= 1; got {args.threads}")
    models = compare_models(store, args.models, allow_in_sample=args.allow_in_sample)
    print_honesty(store, models)
    warn_models_without_test(store, models, what="a recommendation")
    from blend.compare._budget import parse_time_limit
    from oof_store.distributed import get_executor

    limit = parse_time_limit(args.time_limit)  # a bad limit fails before any work

    def on_plan(tp) -> None:  # the ComparePlan, or with --time-limit the TimePlan: before the work
        console.print(tp.line(), highlight=False)

    with get_executor(args.ray) as executor, progress_bar(transient=True) as prog:
        task = prog.add_task("candidates x folds", total=None)

        from oof_common.cli import Heartbeat

        beat = Heartbeat(f"blend compare --budget {args.budget}")

        def progress(done: int, total: int, label: str) -> None:
            prog.update(task, completed=done, total=total, description=f"candidates x folds ({label})")
            beat(done, total, f"fits; last: {label}")

        res = compare_store(store, models=models, metric=args.metric, methods=args.methods,
                            budget=args.budget, procedure=not args.no_procedure, seed=args.seed,
                            n_jobs=args.threads, progress=progress,
                            allow_in_sample=args.allow_in_sample,
                            executor=executor if args.ray else None,
                            time_limit=limit, on_plan=on_plan)
    _print(res)
    from blend.metrics import about_positive

    positive = about_positive(res.metric, store.task, store.class_names)
    if positive:
        console.print(positive, highlight=False)
    if args.ray:
        from oof_common.cli import err_console

        err_console.print(executor.summary(), highlight=False)
    if args.json:
        d = CompareRun(res, store, compare_facts(store, res)).to_dict()
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.html:
        write_html(res, args.html)
    if args.recipe:
        recipe, written = recipe_with_stackers(store, res, write=not args.no_write,
                                               prefix=args.prefix, overwrite=args.overwrite)
        for cand, model in (written or {}).items():
            console.print(f"wrote {cand} into the store as model {model!r} (needed by the recipe)",
                          highlight=False)
        recipe.save(args.recipe)
        console.print(f"wrote recipe {args.recipe}: `blend apply {args.recipe} --store {store.uri} "
                      "--out submission.csv`", highlight=False)
    return 0


def register(subparsers) -> None:
    """Add the ``compare`` sub-command to the ``blend`` parser."""
    from blend.compare import BUDGETS
    from blend.metrics import canonical_metric, metric_help
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
    p.add_argument("--metric", type=canonical_metric, help=metric_help())
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="candidates beside the baselines: METHOD[/RULE] (a weighting method), "
                        "caruana, stack:NAME, level3[:METHOD]; with --metric qwk on a regression "
                        "store also mean+cuts and METHOD+cuts (cut points into grades fitted "
                        "inside every fit; added by default) (default: the budget's list)")
    p.add_argument("--budget", choices=list(BUDGETS), default=D.COMPARE_BUDGET,
                   help="fast (default): lbfgs, hill-climb, lgbm and linear stackers, level 3; "
                        "full: every optimiser, the neural stackers, HPO, bagging and seeds")
    p.add_argument("--time-limit", metavar="DURATION",
                   help="plan the whole run (procedure loop included) to end within DURATION "
                        "(15m, 1h, 900s): the strongest candidates first, each estimated from "
                        "its first fit; prints the plan and what it skipped; stackers bagged "
                        "over 2 seeds when that fits too (default: no limit; --budget picks "
                        "the candidates)")
    p.add_argument("--json", metavar="OUT", type=output_file, help="write the result as JSON")
    p.add_argument("--html", metavar="OUT", type=output_file, help="write the leaderboard as an HTML page")
    p.add_argument("--recipe", metavar="OUT", type=output_file,
                   help="write the recommendation as a recipe for `blend apply` (a stacker or "
                        "level-3 recommendation writes its stackers into the store)")
    p.add_argument("--prefix", default=D.COMPARE_PREFIX, help="name prefix of written stackers (default compare_)")
    p.add_argument("--overwrite", action="store_true", help="replace written stackers of the same name")
    p.add_argument("--no-write", action="store_true", help="never write into the store")
    p.add_argument("--no-procedure", action="store_true",
                   help="skip the doubly nested procedure score (faster, less honest)")
    p.add_argument("--threads", type=int, help="threads for the stackers' fits (default: all CPUs)")
    p.add_argument("--seed", type=int, default=D.SEED, help="random seed (default 0)")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="allow in-sample models (blends written back by `blend apply --write-model`, "
                        "fitted on all OOF rows): the scores are then NOT honest, and say so")
    add_ray_flag(p)
    add_debug_flag(p)
    p.set_defaults(func=compare_cli)
