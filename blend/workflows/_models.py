"""Which models a workflow works on: names checked against the store, defaults, honesty."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blend._errors import BlendError

__all__ = ["resolve_models", "without_stackers", "in_sample_models", "honesty_facts",
           "models_without_test", "level2_models", "level2_facts"]


def in_sample_models(store: Any, models: Sequence[str]) -> list[str]:
    """The models among ``models`` whose OOF rows are in-sample (:mod:`oof_store.flags`)."""
    from oof_store.flags import is_in_sample

    return [m for m in models if is_in_sample(store.manifest(m))]


def level2_models(store: Any, models: Sequence[str]) -> list[str]:
    """The level-2 models among ``models`` (stackers: :func:`oof_store.flags.is_level2`)."""
    from oof_store.flags import is_level2

    return [m for m in models if is_level2(store.manifest(m))]


def without_stackers(store: Any) -> Callable[[list[str]], list[str]]:
    """The models no stacker wrote: the level-2 filter :func:`resolve_models` applies.

    Weights, subsets or stackers fitted again on level-2 models over the same folds are
    not nested, so every command leaves them out of its default list (``level2=True``
    keeps them: ``blend report``).
    """
    return lambda have: [m for m in have if m not in set(level2_models(store, have))]


def resolve_models(
    store: Any,
    models: Sequence[str] | None,
    *,
    need: int = 1,
    what: str = "this command",
    default: Callable[[list[str]], list[str]] | None = None,
    allow_in_sample: bool = False,
    level2: bool = False,
) -> list[str]:
    """The models a command works on.

    ``models`` checked against the store, or by default every finished model that is not a
    level-2 model (:func:`without_stackers`, unless ``level2``; a named one is used, and the
    CLI says its score is not nested), filtered by ``default``. In-sample models (blends written back by ``blend apply --write-model``,
    see :mod:`oof_store.flags`) are left out of the default list, and naming one is an
    error, unless ``allow_in_sample``.

    Raises a :class:`BlendError` naming the models that are named twice, incomplete (blocks
    but no manifest), unknown (listing the store's) or in-sample, or when fewer than
    ``need`` remain.
    """
    # "every model" leaves out models without a manifest or failing their checks, each named
    # in a SkippedModelWarning (a `warning:` line in the CLIs), never silently
    available = store.models() if models else store.usable_models()
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
        if not level2:
            have = without_stackers(store)(have)
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


def level2_facts(store: Any, models: Sequence[str]) -> dict[str, Any]:
    """The JSON facts on the level-2 models among ``models`` (used because named).

    ``level2_models`` lists them; when there are any, ``honest`` is False: the nested score
    does not cover what was fitted on them.
    """
    used = level2_models(store, models)
    return {"level2_models": used, **({"honest": False} if used else {})}
