"""Greedy ensemble selection with replacement (Caruana et al., ICML 2004).

Start from the ``n_init`` best single units (*sorted initialisation*), then repeatedly add,
with replacement, the unit whose addition scores best; the weights are the selection counts
of the best ensemble met along the path. To curb overfitting of the selection rows, the
climb is repeated on ``n_bags`` random subsets holding ``bag_fraction`` of the units
(*bagged selection*) and the bags' normalised counts are averaged. ``n_bags=1,
bag_fraction=1.0, n_init=0`` is the plain greedy selection. Bagging pays with large
libraries (Caruana et al. had ~2,000 models); with few models a half-size bag often lacks the
best one and dilutes it, so by default bags are used only from 10 units on (below that,
``bag_fraction`` defaults to 1.0 and one climb is run). Every step scores all candidate
additions at once (one population call to the objective).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blend._errors import BlendError
from blend._params import Param
from blend.optimize._base import (
    Timer,
    WeightsResult,
    check_params,
    optimizers_that,
    register_optimizer,
)

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

    from blend.optimize._objective import Objective

__all__ = ["fit_hill_climb", "climb"]

_PARAMS = {"n_init": Param("int", low=0), "max_steps": Param("int", low=0), "n_bags": Param("int", low=1),
           "bag_fraction": Param("float", low=0, high=1), "tol": Param("float", low=0)}


def climb(
    obj: Objective, units: np.ndarray, *, n_init: int, max_steps: int, tol: float = 0.0
) -> tuple[np.ndarray, list[int]]:
    """One greedy climb over ``units``.

    Returns
    -------
    counts : ndarray of shape (U,)
        Selection counts of the best ensemble on the path.
    path : list of int
        The units in the order they were added (initial ones first).
    """
    import numpy as np

    U = obj.n_units
    eye = np.eye(U)
    single = obj.loss(eye[units])
    order = units[np.argsort(single, kind="stable")]
    counts = np.zeros(U)
    path: list[int] = []
    for u in order[: max(1, n_init)]:
        counts[u] += 1
        path.append(int(u))
    best_counts, best_loss = counts.copy(), float(obj.loss(counts))
    for _ in range(max_steps):
        losses = obj.loss(counts[None, :] + eye[units])
        j = int(np.argmin(losses))
        counts = counts + eye[units[j]]
        path.append(int(units[j]))
        if losses[j] < best_loss - tol:
            best_loss, best_counts = float(losses[j]), counts.copy()
    return best_counts, path


@register_optimizer("hill-climb", per_class=False)
def fit_hill_climb(P: np.ndarray, y: np.ndarray, *, metric: Any, rule: str = "prob",
                   kind: str = "probs", rng: np.random.Generator | None = None,
                   per_class: bool = False, progress: Any = None, **params: Any) -> WeightsResult:
    """Fit blend weights by bagged greedy selection with replacement.

    Parameters
    ----------
    rng : numpy.random.Generator, optional
        Draws the bags.
    per_class : bool
        Not supported (raises): selection picks whole units.
    progress : callable, optional
        ``progress(bags_done, n_bags)`` after each bag.
    **params
        ``n_init`` (3), ``max_steps`` (50), ``n_bags`` (20; 1 below 10 units),
        ``bag_fraction`` (0.5; 1.0 below 10 units),
        ``tol`` (0.0; an addition must improve the loss by more than this to count).

    Returns
    -------
    WeightsResult
    """
    import numpy as np

    from blend.optimize._objective import Objective

    check_params("hill-climb", params, _PARAMS)
    if per_class:
        raise BlendError("hill-climb selects whole models; per-class weights need "
                         + ", ".join(optimizers_that(per_class=True)))
    obj = Objective(P, y, metric, rule=rule, kind=kind)
    U = obj.n_units
    small = U < 10
    n_bags = int(params.get("n_bags", 1 if small else 20))
    frac = float(params.get("bag_fraction", 1.0 if small else 0.5))
    if n_bags < 1 or not 0.0 < frac <= 1.0:
        raise BlendError(f"need n_bags >= 1 and 0 < bag_fraction <= 1; got {n_bags}, {frac}")
    n_init = int(params.get("n_init", 3))
    max_steps = int(params.get("max_steps", 50))
    tol = float(params.get("tol", 0.0))
    rng = rng if rng is not None else np.random.default_rng(0)
    size = max(1, int(round(frac * U)))
    total = np.zeros(U)
    paths = []
    with Timer() as t:
        for _ in range(n_bags):
            units = np.arange(U) if size == U else np.sort(rng.choice(U, size, replace=False))
            counts, path = climb(obj, units, n_init=min(n_init, size), max_steps=max_steps,
                                 tol=tol)
            total += counts / counts.sum()
            paths.append(path)
            if progress is not None:
                progress(len(paths), n_bags)
        w = total / n_bags
        score = float(obj.scores(w))
    return WeightsResult(
        method="hill-climb",
        weights=w,
        score=score,
        evaluations=obj.evaluations,
        seconds=t.seconds,
        info={"n_bags": n_bags, "bag_size": size, "paths": paths[:5], "kernel": obj.path},
    )
