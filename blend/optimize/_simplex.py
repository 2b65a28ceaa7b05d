"""Nelder-Mead over softmax-parameterised weights (``scipy.optimize.minimize``).

Weights are ``softmax(theta)``, so the search is unconstrained, and the start is the plain
mean (``theta = 0``). The initial simplex takes steps of ``step`` (1.0) along each axis:
scipy's default 5% steps are too small to leave a plateau of a step-wise metric such as
accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blend._params import Param
from blend.combine import softmax as _softmax
from blend.optimize._base import Timer, WeightsResult, check_params, register_optimizer

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

    from blend.optimize._objective import Objective

__all__ = ["fit_nelder_mead"]

_PARAMS = {"maxiter": Param("int", low=1), "step": Param("float", low=0), "xatol": Param("float", low=0),
           "fatol": Param("float", low=0), "restarts": Param("int", low=0)}


def _theta_to_w(theta: np.ndarray, obj: Objective) -> np.ndarray:
    if obj.per_class:
        return _softmax(theta.reshape(obj.n_units, obj.n_classes), axis=0).ravel()
    return _softmax(theta)


@register_optimizer("nelder-mead")
def fit_nelder_mead(P: np.ndarray, y: np.ndarray, *, metric: Any, rule: str = "prob",
                    kind: str = "probs", rng: np.random.Generator | None = None,
                    per_class: bool = False, **params: Any) -> WeightsResult:
    """Fit blend weights with Nelder-Mead on ``softmax(theta)``.

    Parameters
    ----------
    rng : numpy.random.Generator, optional
        Used only for ``restarts`` (random starting points after the first).
    per_class : bool
    **params
        ``maxiter`` (200 x number of weights), ``step`` (1.0), ``xatol`` (1e-4),
        ``fatol`` (1e-7), ``restarts`` (0).

    Returns
    -------
    WeightsResult
    """
    import numpy as np

    # scipy costs ~0.5 s at start-up: imported where used
    from scipy.optimize import minimize

    from blend.optimize._objective import Objective

    check_params("nelder-mead", params, _PARAMS)
    obj = Objective(P, y, metric, rule=rule, kind=kind, per_class=per_class)
    K = obj.n_params
    step = float(params.get("step", 1.0))
    rng = rng if rng is not None else np.random.default_rng(0)
    best_x, best_f, iters = None, np.inf, 0
    with Timer() as t:
        for r in range(int(params.get("restarts", 0)) + 1):
            x0 = np.zeros(K) if r == 0 else rng.normal(0.0, step, K)
            simplex = np.vstack([x0, x0 + step * np.eye(K)])
            sol = minimize(
                lambda th: obj.loss(_theta_to_w(th, obj)),
                x0,
                method="Nelder-Mead",
                options={
                    "maxiter": int(params.get("maxiter", 200 * K)),
                    "xatol": float(params.get("xatol", 1e-4)),
                    "fatol": float(params.get("fatol", 1e-7)),
                    "initial_simplex": simplex,
                },
            )
            iters += int(sol.nit)
            if sol.fun < best_f:
                best_x, best_f = sol.x, float(sol.fun)
    w = obj.weights(_theta_to_w(best_x, obj))
    return WeightsResult(
        method="nelder-mead",
        weights=w,
        score=float(obj.sign * best_f),
        evaluations=obj.evaluations,
        seconds=t.seconds,
        info={"iterations": iters, "kernel": obj.path},
    )
