"""Pieces the ``blend`` and ``stack`` commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blend._errors import BlendError

__all__ = ["resolve_models", "models_without_test", "warn_models_without_test"]


def resolve_models(
    store: Any,
    models: Sequence[str] | None,
    *,
    need: int = 1,
    what: str = "this command",
    default: Callable[[list[str]], list[str]] | None = None,
) -> list[str]:
    """The models a command works on.

    ``models`` checked against the store, or by default every finished model (filtered by
    ``default``).

    Raises a :class:`BlendError` naming the models that are named twice, incomplete (blocks
    but no manifest) or unknown (listing the store's), or when fewer than ``need`` remain.
    """
    available = store.models()
    if models:
        models = list(models)
        dup = sorted({m for m in models if models.count(m) > 1})
        if dup:
            raise BlendError(f"model(s) named more than once: {', '.join(dup)}")
        partial = [m for m in models if m not in available
                   and m in store.models(include_incomplete=True)]
        if partial:
            raise BlendError(
                f"model(s) {', '.join(map(repr, partial))} are incomplete (OOF for only part of "
                "the rows or folds, no manifest yet); write the missing folds and finish them, "
                "or leave them out"
            )
        unknown = [m for m in models if m not in available]
        if unknown:
            raise BlendError(
                f"unknown model(s) {', '.join(map(repr, unknown))}; the store holds: "
                f"{', '.join(available) or '(none)'}"
            )
        chosen = models
    else:
        chosen = default(list(available)) if default else list(available)
    if len(chosen) < need:
        raise BlendError(
            f"{what} needs at least {need} model{'s' if need > 1 else ''}; got {len(chosen)} "
            f"({', '.join(chosen) or 'none'}) from the store {store.uri}. Add models to the "
            "store (`oof import`, `base-models`) or name them with --models"
        )
    return chosen


def models_without_test(store: Any, models: Sequence[str]) -> list[str]:
    """The finished ``models`` whose manifest lists no test predictions."""
    return [m for m in models if not store.manifest(m).get("test_folds")]


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
