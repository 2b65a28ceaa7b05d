"""The ``stack`` command: ``stack lgbm|linear|mlp|cnn1d|cnn2d STORE [options]``.

A thin layer: :func:`blend.workflows.stack.run_stack` reads the store, builds the features,
calls :func:`blend.stack.fit_stacker` (nested CV) and writes the stacker's OOF and test
predictions back into the store as a level-2 model; :func:`stack_cli` prints the result.
One sub-command per registered stacker, so a newly registered stacker appears here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blend._errors import BlendError
from blend.cli._common import parse_param
from blend.workflows import _defaults as D
from oof_common.cli import (
    add_debug_flag,
    add_version_flag,
    console,
    err_console,
    escape,
    progress_callback,
    run_main,
)
from oof_common.outputs import output_file
from oof_store.distributed import add_ray_flag

if TYPE_CHECKING:
    from blend.stack import StackResult

__all__ = ["build_parser", "main", "stack_cli", "ordinal_stack_cli"]


# --------------------------------------------------------------------------- library layer


# --------------------------------------------------------------------------- CLI layer


def stack_cli(args: argparse.Namespace) -> int:
    """Fit a stacker with nested CV, print it, and write it into the store unless ``--no-write``."""
    # imported here, not at the top: `stack --help` parses without them (issue 22)
    from blend.cli._common import print_honesty, refuse_ray, warn_models_without_test
    from blend.stack import get_stacker
    from blend.workflows.api import StackRun, stack_facts
    from blend.workflows.stack import _resolve_models, run_stack, stack_recipe
    from oof_store import Store

    store = Store(args.store)
    params = dict(args.param or [])
    if args.threads is not None:
        if args.threads < 1:
            raise BlendError(f"--threads must be >= 1; got {args.threads}")
        if get_stacker(args.stacker).uses_torch:
            params["num_threads"] = args.threads
    if args.hpo < 0:
        raise BlendError(f"--hpo must be >= 0; got {args.hpo}")
    if args.seeds < 1:
        raise BlendError(f"--seeds must be >= 1; got {args.seeds}")
    if args.recipe and args.no_write:
        raise BlendError("--recipe needs the stacker written back into the store; drop --no-write")

    warn_models_without_test(store, _resolve_models(store, args.models, args.allow_in_sample),
                             what="a stacker")

    from blend.workflows.ordinal import is_ordinal
    from oof_store.distributed import get_executor

    ordinal = is_ordinal(store, args.metric, args.ordinal)
    if ordinal:
        refuse_ray(args, "stack")
    with get_executor(args.ray) as executor, progress_callback(f"stack {args.stacker}") as progress:
        if ordinal:
            return ordinal_stack_cli(args, store, params, progress)
        res, written = run_stack(
            store, args.stacker, models=args.models, features=args.features, tta=args.tta,
            extra_features=args.extra_features, hpo=args.hpo, seeds=args.seeds,
            metric=args.metric, params=params, name=args.name, write=not args.no_write,
            overwrite=args.overwrite, seed=args.seed, progress=progress, n_jobs=args.threads,
            allow_in_sample=args.allow_in_sample, executor=executor if args.ray else None,
        )
    used = res.params.get("models") or []
    print_honesty(store, used)
    _print_result(res, written)
    from blend.metrics import about_positive

    positive = about_positive(res.metric, store.task, store.class_names)
    if positive:
        console.print(positive, highlight=False)
    if args.ray:
        err_console.print(executor.summary(), highlight=False)
    if written and res.fold_test is None:
        why = res.params.get("test", "the store has no test rows")
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(f'the stacker written as {written!r} has no test predictions ({why}); `blend apply` cannot write a submission from it')}",
            highlight=False)
    if args.json:
        d = StackRun(res, store, stack_facts(store, res), written).to_dict()
        Path(args.json).write_text(json.dumps(d, indent=2))
    if args.recipe:
        stack_recipe(store, res, written).save(args.recipe)
        console.print(escape(f"wrote recipe {args.recipe}: `blend apply {args.recipe} --store {store.uri} --out submission.csv`"))
    return 0


def _print_result(res: StackResult, written: str | None) -> None:
    from rich.table import Table

    table = Table(title=f"stack {res.stacker}: outer-fold (nested CV) {res.metric}")
    table.add_column("what")
    table.add_column(res.metric, justify="right")
    table.add_column("stacker gain", justify="right")
    table.add_row(f"stack {res.stacker} (nested)", f"{res.nested_score:.5f}", "")
    if res.best_base is not None:
        table.add_row(
            f"best base model (picked on all rows): {res.best_base['model']}",
            f"{res.best_base['score']:.5f}",
            f"{res.gain(res.best_base['score']):+.5f}",
        )
    if res.mean_blend_score is not None:
        table.add_row("plain mean of the models", f"{res.mean_blend_score:.5f}", f"{res.gain(res.mean_blend_score):+.5f}")
    console.print(table)
    if res.mean_blend_score is not None:
        from blend.nested import beside_mean

        console.print(f"stack {res.stacker}: "
                      + beside_mean(res.nested_score, res.mean_blend_score, res.greater_is_better, 5),
                      highlight=False)
    console.print("fold scores: " + ", ".join(f"{k}: {s:.5f}" for k, s in zip(res.fold_ids, res.fold_scores, strict=True)))
    g = res.gain(res.mean_blend_score)
    if g is not None and g <= 0:
        console.print("[yellow]the stacker does not beat the plain mean of the models on these rows[/yellow]")
    if written:
        console.print(f"written to the store as model [bold]{escape(written)}[/bold] (source=stack) in {res.seconds:.1f} s")
    else:
        console.print(f"not written (--no-write); {res.seconds:.1f} s")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``stack`` parser with one sub-command per registered stacker."""
    # the stacker registry is filled by the modules that define them (numpy; LightGBM,
    # scikit-learn and torch are imported when a stacker is fitted)
    from blend.metrics import canonical_metric, metric_help
    from blend.stack import FEATURES, available_stackers, get_stacker

    parser = argparse.ArgumentParser(
        prog="stack",
        description=(
            "Fit a level-2 model over the models' OOF predictions with nested CV (outer loop = "
            "the store's folds) and write it back into the store as a new model."
        ),
    )
    add_version_flag(parser)
    sub = parser.add_subparsers(title="stackers", metavar="STACKER")
    for name in available_stackers():
        st = get_stacker(name)
        doc = (type(st).__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=doc, description=doc)
        p.add_argument("store", help="the OOF store (path or URI)")
        p.add_argument("--models", nargs="+", metavar="MODEL", help="models to stack (default: every base model, level-2 ones left out)")
        p.add_argument("--features", choices=FEATURES, default=D.STACK_FEATURES, help="stacker input (default: the stacker's own, as compare uses it: logits for linear, probs for the others)")
        p.add_argument("--tta", choices=("mean", "all"), default=D.TTA, help="average TTA views, or give each view to the stacker")
        p.add_argument("--recipe", metavar="OUT", type=output_file, help="write a recipe for `blend apply` (the stacker alone)")
        p.add_argument("--extra-features", metavar="FILE", help="CSV/Parquet with the store's id column and numeric columns")
        p.add_argument("--hpo", type=int, default=0, metavar="N", help="Optuna trials per outer fold, scored by the inner CV (0: defaults)")
        p.add_argument("--seeds", type=int, default=1, metavar="S", help="average S seeds (default 1)")
        p.add_argument("--metric", type=canonical_metric,
                       help=metric_help() + "; qwk on a regression store fits cut points too")
        p.add_argument("--ordinal", action="store_true", help="ordered classes: stack on log loss, grade the expected grade with cut points (QWK)")
        p.add_argument("--grades", metavar="SPEC", help="with --metric qwk / --ordinal: grade values, e.g. 1..6 (default: from integer targets or the classes)")
        p.add_argument("--cuts", default=D.CUT_METHOD, help="with --metric qwk: cut-point method (default coordinate)")
        p.add_argument("--param", type=parse_param, action="append", metavar="KEY=VALUE", help="override a hyper-parameter (repeatable)")
        p.add_argument("--threads", type=int, help="CPU threads: parallel one-thread fits for lgbm/linear, torch threads for the neural stackers (default: all CPUs / 1)")
        p.add_argument("--seed", type=int, default=D.SEED, help="random seed (default 0)")
        p.add_argument("--allow-in-sample", action="store_true",
                       help="also stack blends written by `blend apply --write-model` (fitted on "
                            "all OOF rows): the result is then NOT honest, and marked so")
        p.add_argument("--name", help=f"name of the written model (default: stack_{name})")
        p.add_argument("--overwrite", action="store_true", help="replace a model of that name")
        p.add_argument("--no-write", action="store_true", help="do not write the stacker back into the store")
        add_ray_flag(p)
        p.add_argument("--json", metavar="OUT", type=output_file, help="write the result as JSON")
        add_debug_flag(p)
        p.set_defaults(func=stack_cli, stacker=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stack`` command on ``argv`` and return its exit code."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def ordinal_stack_cli(args: Any, store: Any, params: dict[str, Any], progress: Any) -> int:
    """``stack NAME STORE --metric qwk`` on a regression store (or ``--ordinal``): stacker + cuts.

    The stacker is fitted (and early-stopped or tuned) on RMSE (ordered classes: log loss,
    then its expected grade is graded) with its nested CV and written back as usual; its out-of-fold score is then graded by cut points fitted without each
    fold (:func:`blend.ordinal._stack.stack_cuts`), and the recipe holds the final cuts.
    """
    import dataclasses

    import numpy as np
    from rich.table import Table

    from blend.ordinal import qwk_grades
    from blend.ordinal._stack import stack_cuts
    from blend.stack import make_features
    from blend.workflows.ordinal import store_grades
    from blend.workflows.stack import run_stack, stack_recipe
    from oof_common.cli import console

    if args.extra_features:
        raise BlendError("--metric qwk with cut points does not take --extra-features yet")
    g = store_grades(store, args.grades)
    regression = store.task == "regression"
    if store.n_folds < 4:
        raise BlendError(f"cut points for a stacker need 4 folds or more; the store has "
                         f"{store.n_folds}")
    res, written = run_stack(
        store, args.stacker, models=args.models, features=args.features, tta=args.tta,
        hpo=args.hpo, seeds=args.seeds, metric="rmse" if regression else "logloss",
        params=params, name=args.name,
        write=not args.no_write, overwrite=args.overwrite, seed=args.seed, progress=progress,
        n_jobs=args.threads, allow_in_sample=args.allow_in_sample,
    )
    _print_result(res, written)
    oof = store.load_oof(res.params["models"], tta=args.tta, output="probs")
    X = make_features(oof.preds, features=res.params["features"], task=store.task)
    score = res.oof if regression else np.asarray(res.oof) @ g.array  # expected grade
    cuts = stack_cuts(args.stacker, X, oof.y, oof.folds, score, grades=g, task=store.task,
                      cut_method=args.cuts, rng=args.seed,
                      fit_kwargs={"params": params, "hpo": args.hpo, "seeds": args.seeds,
                                  "n_jobs": args.threads})
    table = Table(title=f"stack {res.stacker} --metric qwk: {args.cuts} cut points "
                        "fitted without the fold they grade")
    table.add_column("")
    table.add_column("QWK", justify="right")
    table.add_row("nested, fitted cut points", f"{cuts.nested_score:.5f}")
    table.add_row("rounded to the nearest grade", f"{cuts.rounding_nested_score:.5f}")
    if not regression:
        argmax = qwk_grades(np.asarray(oof.y, np.int64), np.asarray(res.oof).argmax(axis=1), g.n)
        table.add_row("argmax of the classes", f"{argmax:.5f}")
    for k, s in zip(cuts.fold_ids, cuts.fold_scores, strict=True):
        table.add_row(f"fold {k}", f"{s:.5f}", style="dim")
    console.print(table)
    console.print("cut points (all rows): " + ", ".join(f"{c:.4f}" for c in cuts.cuts),
                  highlight=False)
    if args.json:
        d = res.to_dict()
        d["ordinal"] = cuts.to_dict()
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.recipe:
        recipe = dataclasses.replace(
            stack_recipe(store, res, written), cuts=tuple(cuts.cuts),
            grades=tuple(cuts.grades), metric="qwk", score=None,
            nested_score=cuts.nested_score)
        recipe.save(args.recipe)
    return 0
