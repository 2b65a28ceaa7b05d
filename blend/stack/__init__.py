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
from blend.stack._registry import available_stackers, get_stacker, register_stacker
from blend.stack._stacker import Stacker
from oof_common.core import TASKS
from oof_common.lazy import lazy_attributes

# The registry and the stacker classes import neither numpy nor the learners (``stack
# --help`` lists them without; issue 22); the fitting machinery is imported on first use.
_LAZY = {
    "FEATURES": "blend.stack._features",
    "make_features": "blend.stack._features",
    "baseline_scores": "blend.stack._baselines",
    "check_params": "blend.stack._nested",
    "fit_stacker": "blend.stack._nested",
    "StackResult": "blend.stack._result",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

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
