"""Stacking: level-2 models fitted with nested CV on the base models' OOF predictions.

Registered stackers: ``lgbm``, ``linear``, ``mlp``, ``cnn1d``, ``cnn2d`` (the neural ones
import torch only when fitted). Add one with :func:`register_stacker`; the ``stack``
command and the contract tests in ``tests/stack`` pick it up.

Example (``P``: (M, T, N, C) probabilities, ``y``, ``folds`` as the store holds them)::

    from blend.stack import fit_stacker, make_features
    X = make_features(P, features="logits", task="multiclass")     # (N, M * T, C)
    res = fit_stacker("lgbm", X, y, folds, task="multiclass", metric="accuracy")
    res.nested_score, res.fold_scores, res.oof.shape
"""

from blend.stack import _cnn, _lgbm, _linear, _mlp  # noqa: F401  (fill the registry)
from blend.stack._base import (
    FEATURES,
    TASKS,
    Stacker,
    StackResult,
    available_stackers,
    baseline_scores,
    check_params,
    fit_stacker,
    get_stacker,
    make_features,
    register_stacker,
)

__all__ = [
    "FEATURES",
    "TASKS",
    "Stacker",
    "StackResult",
    "available_stackers",
    "baseline_scores",
    "check_params",
    "fit_stacker",
    "get_stacker",
    "make_features",
    "register_stacker",
]
