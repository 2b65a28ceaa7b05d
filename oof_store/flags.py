"""Honesty marks a model's manifest can carry, read in one place.

A model's OOF predictions are honest when every row was predicted by something that never
saw that row's label. Two kinds of models break that, and are marked in their manifest:

``in-sample``
    A blend written back by ``blend apply --write-model``: its weights (and subset,
    temperatures) were chosen on every OOF row, so its "OOF" rows are in-sample. The
    manifest holds ``params.in_sample: true`` and the blended models in ``parents``; a
    model with ``source: "blend"`` written before the mark existed counts as in-sample.
    Search, optimize, stack and report leave such models out unless asked
    (``--allow-in-sample``). Stackers written back by ``stack`` are honest OOF.
``epoch-on-oof``
    An image model whose epoch was selected by its score on the very fold it then
    predicted (``params.select_epoch_on: "oof"`` with ``select_by`` other than ``"last"``):
    its OOF scores are optimistic. Image models trained before this mark existed selected
    their epoch on the OOF fold too, but carry no mark (their params lack
    ``select_epoch_on``); retrain them to be sure.

This module has no dependency on ``blend``; ``oof ls``, ``blend report`` and the ``blend``
commands all use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FLAG_TEXT", "is_in_sample", "is_level2", "model_flags"]

#: One line per flag, for the notes under a table.
FLAG_TEXT = {
    "in-sample": "a blend fitted on all OOF rows (blend apply --write-model): its scores, and "
                 "any score of a blend or stack that uses it, are optimistic",
    "epoch-on-oof": "its epoch was selected on the fold it predicted (--select-epoch-on oof): "
                    "its OOF scores are optimistic",
}


def is_in_sample(manifest: dict[str, Any]) -> bool:
    """Whether a model's OOF rows are in-sample (see the module docstring)."""
    params = manifest.get("params") or {}
    if "in_sample" in params:
        return bool(params["in_sample"])
    return manifest.get("source") == "blend"


def is_level2(manifest: dict[str, Any]) -> bool:
    """Whether a model is a level-2 model: a stacker written by ``stack`` or ``blend compare``.

    Its OOF rows are honest, but they come from fits on the store's own folds, so weights or
    subsets fitted on them by ``blend optimize`` / ``blend search`` are not nested the way
    ``blend compare``'s level 3 is: those commands leave level-2 models out by default.
    """
    return manifest.get("source") == "stack"


def model_flags(manifest: dict[str, Any]) -> list[str]:
    """The honesty flags of a model: a subset of ``FLAG_TEXT``'s keys, in that order."""
    flags = []
    if is_in_sample(manifest):
        flags.append("in-sample")
    params = manifest.get("params") or {}
    if params.get("select_epoch_on") == "oof" and params.get("select_by") != "last":
        flags.append("epoch-on-oof")
    return flags
