"""Pieces the ``blend`` and ``stack`` commands share: warnings printed, flags refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blend._errors import BlendError
from blend.workflows._models import honesty_facts, level2_models, models_without_test

__all__ = ["print_honesty", "print_level2", "warn_models_without_test", "refuse_ray", "parse_param"]


def warn_models_without_test(store: Any, models: Sequence[str], *, what: str = "a blend") -> list[str]:
    """Print one warning line (stderr) naming the ``models`` that have no test predictions.

    Called when a command starts, so the user learns it before the work, not at
    ``blend apply`` time. Returns those models.
    """
    from rich.markup import escape

    from oof_common.cli import err_console

    missing = models_without_test(store, models)
    if not missing:
        return missing
    if not len(store.test_ids):
        text = (f"the store {store.uri} has no test rows, so {what} of its models cannot be "
                "applied to a test set (`blend apply --out` needs test predictions)")
    else:
        text = (f"{len(missing)} model(s) have no test predictions: {', '.join(missing)}; {what} "
                f"that uses them cannot be applied to the test set (`blend apply --out` fails). "
                f"Import them (`oof import {store.uri} --model NAME --split test --file ...`) "
                "or leave them out")
    err_console.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False)
    return missing


def print_honesty(store: Any, models: Sequence[str]) -> None:
    """Print one loud line per flagged model among ``models`` (to stderr)."""
    from oof_common.cli import err_console
    from oof_store.flags import FLAG_TEXT

    for m, flags in honesty_facts(store, models)["flagged_models"].items():
        for f in flags:
            err_console.print(f"[bold red]NOT HONEST[/bold red] {m} ({f}): {FLAG_TEXT[f]}",
                              highlight=False)


def refuse_ray(args: Any, command: str) -> None:
    """The cut-point paths run in one process: ``--ray`` is refused, not silently ignored."""
    if getattr(args, "ray", None):
        raise BlendError(
            f"{command} with cut points (--metric qwk on a regression store, or --ordinal) runs "
            "in one process; --ray does not distribute it yet. Drop --ray"
        )
def print_level2(store: Any, named: Sequence[str] | None, used: Sequence[str]) -> None:
    """One line (stderr) on the level-2 models: left out by default, or not nested when named.

    ``named``: the models the user named (None: the default list); ``used``: the models the
    command ran on.
    """
    from rich.markup import escape

    from oof_common.cli import err_console

    lv = level2_models(store, used)
    if lv:
        err_console.print(
            f"[bold red]NOT NESTED[/bold red] for the level-2 model(s) {escape(', '.join(lv))}: "
            "their OOF predictions come from fits on the same folds, so the nested score of "
            "weights or subsets fitted on them is not nested for them (`blend compare` "
            "nests level 3)", highlight=False)
    elif named is None:
        left = level2_models(store, store.models())
        if left:
            err_console.print(
                f"left out {len(left)} level-2 model(s) ({escape(', '.join(left))}): fitting "
                "on stackers' OOF is not nested; name them with --models to include them",
                highlight=False)


def parse_param(text: str) -> tuple[str, Any]:
    """``--param KEY=VALUE`` as ``(key, value)``: the value read as JSON when it parses, else text.

    An argparse ``type``: a malformed item is an argparse error naming the option.
    """
    import argparse
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
