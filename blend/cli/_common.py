"""Pieces the ``blend`` and ``stack`` commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blend._errors import BlendError

__all__ = ["resolve_models"]


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
