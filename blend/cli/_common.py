"""Pieces the ``blend`` and ``stack`` commands share: warnings printed, flags refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blend._errors import BlendError
from blend.workflows._models import honesty_facts, models_without_test

__all__ = ["print_honesty", "warn_models_without_test", "refuse_ray"]


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
