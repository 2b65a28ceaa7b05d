"""``blend apply RECIPE --store STORE --out submission.csv``: a submission from a recipe.

Writes the blended test predictions in Kaggle style: with ``--sample-submission`` exactly the
sample's columns in the sample's id order. A column holds probabilities when the recipe's
metric scores them (AUC, log loss) and labels when it scores only the most likely class
(accuracy, F1, QWK); ``--labels`` or ``--probs`` overrides that. With ``--write-model NAME``
the blend is stored back into the store as a new model (OOF per fold and test), so it can
itself be searched, weighted or stacked. Every recipe ``blend optimize --recipe`` writes
applies, including per-(model, TTA view) weights, per-(model, class) weights and per-model
temperatures; see ``docs/commands/apply.md``.
"""

from __future__ import annotations

import argparse

from blend._errors import BlendError
from oof_common.outputs import output_file

__all__ = ["apply_cli", "register", "warn_flagged_test_predictions"]


def apply_cli(args: argparse.Namespace) -> int:
    """Write a submission from a recipe and/or write the blend into the store (``blend apply``)."""
    from rich.markup import escape

    from blend.recipe import Recipe
    from blend.workflows.apply import submission, write_to_store
    from blend.workflows.submission import output_for, read_sample
    from oof_common.cli import console
    from oof_store import Store

    if not args.out and not args.write_model:
        raise BlendError(
            "blend apply writes nothing without an output: pass --out submission.csv (a "
            "submission file) and/or --write-model NAME (the blend as a model in the store)"
        )
    if args.sample_submission and not args.out:
        raise BlendError("--sample-submission shapes the --out file; pass --out submission.csv too")
    recipe = Recipe.load(args.recipe)
    store = Store(args.store)
    if args.out:
        warn_flagged_test_predictions(store, recipe.models)
        sample = read_sample(args.sample_submission) if args.sample_submission else None
        output = "labels" if args.labels else "probs" if args.probs else "auto"
        sub = submission(recipe, store, output=output, sample=sample, raw=args.raw)
        sub.to_csv(args.out, index=False)
        held = output_for(recipe.metric, store.task, output)
        why = "" if output != "auto" or held == "values" else f" (the recipe's metric: {recipe.metric})"
        if held == "probs" and store.task == "binary":
            why += f"; the probability of the positive class {store.class_names[1]!r}"
        console.print(escape(f"wrote {args.out}: {len(sub)} rows, columns {', '.join(map(str, sub.columns))}; "
                             f"{held}{why}; {recipe.describe()}"), highlight=False)
    if args.write_model:
        man = write_to_store(recipe, store, args.write_model, overwrite=args.overwrite)
        mark = (" (marked IN-SAMPLE: fitted on all OOF rows; search, optimize, stack and report "
                "leave it out unless --allow-in-sample)" if man["params"]["in_sample"] else "")
        console.print(escape(f"wrote model {args.write_model!r} into {store.uri}{mark}"), highlight=False)
    return 0


def warn_flagged_test_predictions(store, models) -> list:
    """Warn, before a submission is written, about the models whose test predictions look wrong.

    Runs :func:`oof_store.submission_checks.check_store` (every model with test predictions
    serves as a peer) and prints one warning per finding that concerns ``models``.
    """
    from rich.markup import escape

    from oof_common.cli import err_console
    from oof_store.submission_checks import check_store

    used = set(models)
    found = [f for f in check_store(store) if f.model in used]
    for f in found:
        err_console.print(f"[yellow]warning[/yellow]: the submission uses {escape(f.summary())}",
                          highlight=False)
    return found


def register(subparsers) -> None:
    """Add the ``apply`` sub-command to the ``blend`` parser."""
    from oof_common.cli import add_debug_flag

    p = subparsers.add_parser(
        "apply", help="write a submission (and/or a store model) from a recipe",
        description="Blend the store's test predictions with a recipe and write a submission "
                    "file (--out), and/or write the blend into the store (--write-model). "
                    "At least one of the two is needed.")
    p.add_argument("recipe", help="recipe JSON written by search, optimize or stack")
    p.add_argument("--store", required=True, help="path or URI of the OOF store")
    p.add_argument("--out", default=None, type=output_file, help="submission CSV to write")
    p.add_argument("--sample-submission", default=None, metavar="CSV",
                   help="write this sample's columns, in its id order (its ids must be the "
                        "store's test ids)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--labels", action="store_true",
                      help="write the most likely class (default: labels when the recipe's "
                           "metric scores labels, e.g. accuracy; probabilities for auc, logloss)")
    what.add_argument("--probs", action="store_true",
                      help="write probabilities (a binary task: the positive class's; "
                           "otherwise one column per class)")
    p.add_argument("--raw", action="store_true",
                   help="ordinal recipe (cut points): write the continuous score, not the grade")
    p.add_argument("--write-model", default=None, metavar="NAME",
                   help="also write the blend into the store as model NAME")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model NAME")
    add_debug_flag(p)
    p.set_defaults(func=apply_cli)
