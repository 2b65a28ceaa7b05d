"""Differential evolution (``scipy.optimize.differential_evolution``) over the weights.

Defaults are the Cassava 1st place's settings: bounds [0, 1] per weight, ``maxiter=20``,
``tol=1e-5``, scipy's default population (``popsize=15`` x number of weights) and polishing.
The whole population is scored in one call (``vectorized=True``, which makes scipy update
the population once per generation, ``updating="deferred"``); ``vectorized=False`` gives
scipy's default one-vector-at-a-time ``updating="immediate"``, which follows exactly the
trajectory of the seed's script for the same ``seed``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from blend._params import Param
from blend.optimize._base import Timer, WeightsResult, check_params, register_optimizer

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

__all__ = ["fit_de"]

_PARAMS = {"maxiter": Param("int", low=1), "popsize": Param("int", low=1), "tol": Param("float", low=0),
           "mutation": Param(), "recombination": Param("float", low=0, high=1),
           "polish": Param("bool"), "vectorized": Param("bool"), "seed": Param(), "init": Param()}


@register_optimizer("de")
def fit_de(P: np.ndarray, y: np.ndarray, *, metric: Any, rule: str = "prob",
           kind: str = "probs", rng: np.random.Generator | None = None,
           per_class: bool = False, progress: Any = None, **params: Any) -> WeightsResult:
    """Fit blend weights by differential evolution.

    Parameters
    ----------
    rng : numpy.random.Generator, optional
        Source of randomness for scipy; ``seed=<int>`` in ``params`` instead uses
        scipy's legacy ``RandomState(seed)``, as the seed's script did.
    per_class : bool
        One weight per unit and class.
    progress : callable, optional
        ``progress(generation, maxiter)`` after each generation.
    **params
        ``maxiter`` (20), ``popsize`` (15), ``tol`` (1e-5), ``mutation`` ((0.5, 1)),
        ``recombination`` (0.7), ``polish`` (True), ``vectorized`` (True), ``seed``, ``init``.

    Returns
    -------
    WeightsResult
    """
    import numpy as np

    # scipy costs ~0.5 s at start-up: imported where used
    from scipy.optimize import differential_evolution

    from blend.optimize._objective import Objective

    check_params("de", params, _PARAMS)
    obj = Objective(P, y, metric, rule=rule, kind=kind, per_class=per_class)
    vectorized = bool(params.get("vectorized", True))
    random = params["seed"] if params.get("seed") is not None else rng

    # minimise ``1 - score`` for scores where greater is better (the seed's ``1 - accuracy``):
    # scipy's stop rule compares the population's spread with its mean energy, so the
    # offset matters; this keeps the trajectory identical to the seed's script
    offset = 1.0 if metric.greater_is_better else 0.0

    def f(x: np.ndarray) -> np.ndarray | float:
        # vectorized: x is (K, S); otherwise (K,)
        return offset + (obj.loss(x.T) if x.ndim == 2 else obj.loss(x))

    maxiter = int(params.get("maxiter", 20))
    generation = [0]

    def on_generation(*_: Any, **__: Any) -> None:
        generation[0] += 1
        if progress is not None:
            progress(generation[0], maxiter)

    with Timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # polish outside bounds etc.
        sol = differential_evolution(
            f,
            [(0.0, 1.0)] * obj.n_params,
            maxiter=maxiter,
            popsize=int(params.get("popsize", 15)),
            tol=float(params.get("tol", 1e-5)),
            mutation=params.get("mutation", (0.5, 1)),
            recombination=float(params.get("recombination", 0.7)),
            polish=bool(params.get("polish", True)),
            init=params.get("init", "latinhypercube"),
            seed=random,
            vectorized=vectorized,
            updating="deferred" if vectorized else "immediate",
            callback=on_generation if progress is not None else None,
        )
    w = obj.weights(sol.x)
    return WeightsResult(
        method="de",
        weights=w,
        score=float(obj.sign * (sol.fun - offset)),
        evaluations=obj.evaluations,
        seconds=t.seconds,
        info={"raw_x": np.asarray(sol.x), "generations": int(sol.nit), "kernel": obj.path},
    )
