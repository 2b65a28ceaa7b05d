"""``blend apply RECIPE --store STORE --out submission.csv``: a submission from a recipe.

Writes the blended test predictions (labels, or probabilities with ``--probs``) in Kaggle
style, and with ``--write-model NAME`` stores the blend back into the store as a new model
(OOF per fold and test), so it can itself be searched, weighted or stacked. Every recipe
``blend optimize --recipe`` writes applies, including per-(model, TTA view) weights,
per-(model, class) weights and per-model temperatures; see ``docs/commands/apply.md``.
"""

from __future__ import annotations

import argparse

from blend.recipe import Recipe

__all__ = ["apply_cli", "register"]


def apply_cli(args: argparse.Namespace) -> int:
    """Write a submission from a recipe and/or write the blend into the store (``blend apply``)."""
    from oof_store import Store
    from oof_store.cli_utils import console

    recipe = Recipe.load(args.recipe)
    store = Store(args.store)
    if args.out:
        sub = recipe.submission(store, probabilities=args.probs, raw=args.raw)
        sub.to_csv(args.out, index=False)
        console.print(f"wrote {args.out}: {len(sub)} rows, {recipe.describe()}",
                      highlight=False)
    if args.write_model:
        recipe.write_to_store(store, args.write_model, overwrite=args.overwrite)
        console.print(f"wrote model {args.write_model!r} into {store.uri}", highlight=False)
    return 0


def register(subparsers) -> None:
    """Add the ``apply`` sub-command to the ``blend`` parser."""
    from oof_store.cli_utils import add_debug_flag

    p = subparsers.add_parser("apply", help="write a submission (and optionally a store model) from a recipe")
    p.add_argument("recipe", help="recipe JSON written by search, optimize or stack")
    p.add_argument("--store", required=True, help="path or URI of the OOF store")
    p.add_argument("--out", default=None, help="submission CSV to write")
    p.add_argument("--probs", action="store_true", help="write class probabilities, not labels")
    p.add_argument("--raw", action="store_true",
                   help="ordinal recipe (cut points): write the continuous score, not the grade")
    p.add_argument("--write-model", default=None, metavar="NAME",
                   help="also write the blend into the store as model NAME")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model NAME")
    add_debug_flag(p)
    p.set_defaults(func=apply_cli)
