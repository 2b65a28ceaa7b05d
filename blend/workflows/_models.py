"""Which models a workflow works on: names checked against the store, defaults, honesty."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blend._errors import BlendError

__all__ = ["resolve_models", "without_stackers", "in_sample_models", "honesty_facts",
           "models_without_test"]


def in_sample_models(store: Any, models: Sequence[str]) -> list[str]:
    """The models among ``models`` whose OOF rows are in-sample (:mod:`oof_store.flags`)."""
    from oof_store.flags import is_in_sample

    return [m for m in models if is_in_sample(store.manifest(m))]


def without_stackers(store: Any) -> Callable[[list[str]], list[str]]:
    """A ``default`` for :func:`resolve_models`: the models no stacker wrote (``source != "stack"``).

    Stacking or comparing level-2 models again over the same folds would leak, so ``stack``
    and ``compare`` leave them out of their default lists.
    """
    return lambda have: [m for m in have if store.manifest(m).get("source") != "stack"]


def resolve_models(
    store: Any,
    models: Sequence[str] | None,
    *,
    need: int = 1,
    what: str = "this command",
    default: Callable[[list[str]], list[str]] | None = None,
    allow_in_sample: bool = False,
) -> list[str]:
    """The models a command works on.

    ``models`` checked against the store, or by default every finished model (filtered by
    ``default``). In-sample models (blends written back by ``blend apply --write-model``,
    see :mod:`oof_store.flags`) are left out of the default list, and naming one is an
    error, unless ``allow_in_sample``.

    Raises a :class:`BlendError` naming the models that are named twice, incomplete (blocks
    but no manifest), unknown (listing the store's) or in-sample, or when fewer than
    ``need`` remain.
    """
    available = store.models()
    insample = [] if allow_in_sample else in_sample_models(store, available)
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
        named = [m for m in models if m in insample]
        if named:
            raise BlendError(
                f"model(s) {', '.join(map(repr, named))} are in-sample: blends fitted on all OOF "
                "rows and written back by `blend apply --write-model`, so every score that "
                "includes them is optimistic. Leave them out, or pass --allow-in-sample to use "
                "them anyway (the results are then marked NOT honest)"
            )
        chosen = models
    else:
        have = [m for m in available if m not in insample]
        chosen = default(have) if default else have
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


def honesty_facts(store: Any, models: Sequence[str]) -> dict[str, Any]:
    """What a command's JSON says about the honesty of the models it used.

    ``honest`` is False when any of them is flagged (:func:`oof_store.flags.model_flags`:
    in-sample blends, epochs selected on the OOF fold); ``flagged_models`` maps each
    flagged model to its flags.
    """
    from oof_store.flags import model_flags

    flagged = {m: f for m in models if (f := model_flags(store.manifest(m)))}
    return {"honest": not flagged, "flagged_models": flagged}
