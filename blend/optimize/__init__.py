"""Blend weights fitted by differential evolution, Optuna, Nelder-Mead, L-BFGS or hill climbing.

Each method is a pure function registered by name (:func:`register_optimizer`)::

    fit_weights(P, y, *, metric, rule, kind, rng, per_class, **params) -> WeightsResult

and :func:`optimize` wraps any of them with what every method reports: weights by model name,
the in-sample score, and the nested-CV score (fitted on K-1 folds, scored on the held-out
fold), optionally with per-model temperatures, per-TTA-view or per-class weights.
"""

from blend.optimize import _de, _hill_climb, _lbfgs, _optuna, _simplex  # noqa: F401  (register)
from blend.optimize._base import (
    Capabilities,
    WeightsResult,
    available_optimizers,
    get_optimizer,
    optimizer_capabilities,
    optimizers_that,
    register_optimizer,
)
from oof_common.lazy import lazy_attributes

# The registry and the optimisers' modules import numpy and scipy where used, so `blend
# optimize --help` lists the methods and their capabilities without them (issue 22); the
# nested-CV wrapper and the objective are imported on first use.
_LAZY = {
    "OptimizeResult": "blend.optimize._api",
    "fit_temperatures": "blend.optimize._api",
    "optimize": "blend.optimize._api",
    "Objective": "blend.optimize._objective",
    "reference_scores": "blend.optimize._objective",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "optimize",
    "OptimizeResult",
    "WeightsResult",
    "Objective",
    "reference_scores",
    "fit_temperatures",
    "register_optimizer",
    "get_optimizer",
    "available_optimizers",
    "Capabilities",
    "optimizer_capabilities",
    "optimizers_that",
]
