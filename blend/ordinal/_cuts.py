"""Methods that fit the cut points turning a continuous score into grades, by name.

Every method is a pure function registered under a name::

    @register_cut_method("coordinate")
    def fit(score, y_idx, grades, *, rng=None, **params) -> ndarray of shape (G-1,)

It sees only the rows it is given (the nested CV gives it the training folds) and returns
non-decreasing cut points in the units of the score. Built in:

- ``round``: the midpoints between neighbouring grades (plain rounding; nothing is fitted);
- ``nelder-mead``: scipy's Nelder-Mead on the QWK from the midpoints (the community
  "OptimizedRounder");
- ``distribution``: monotone distribution matching: cut the sorted scores so that the
  predicted grade histogram equals the true one on these rows;
- ``coordinate``: coordinate ascent, each cut moved to its best position with the others
  fixed; every position is scored in one vectorised pass (exact for QWK on sorted scores),
  started from both the midpoints and the distribution cuts, keeping the better.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blend._errors import BlendError

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

    from blend.ordinal._qwk import Grades, SortedScores

__all__ = ["register_cut_method", "get_cut_method", "available_cut_methods", "fit_cuts"]

FitCuts = Callable[..., "np.ndarray"]
_METHODS: dict[str, FitCuts] = {}


def register_cut_method(name: str) -> Callable[[FitCuts], FitCuts]:
    """Register a cut-point method under ``name`` (decorator)."""

    def deco(func: FitCuts) -> FitCuts:
        if name in _METHODS and _METHODS[name] is not func:
            raise BlendError(f"a cut-point method named {name!r} is already registered")
        _METHODS[name] = func
        return func

    return deco


def available_cut_methods() -> list[str]:
    """Names of the registered cut-point methods, in registration order."""
    return list(_METHODS)


def get_cut_method(name: str) -> FitCuts:
    """The method registered under ``name``; an unknown name lists the available ones."""
    try:
        return _METHODS[name]
    except KeyError:
        raise BlendError(
            f"unknown cut-point method {name!r}; choose one of: {', '.join(_METHODS)}"
        ) from None


def fit_cuts(score: np.ndarray, y_idx: np.ndarray, grades: Grades, method: str = "coordinate",
             *, rng: np.random.Generator | None = None, **params: Any) -> np.ndarray:
    """Fit cut points with a registered method.

    Parameters
    ----------
    score : ndarray of shape (n_rows,)
        Continuous scores (a blend of regressors, or an expected grade).
    y_idx : ndarray of shape (n_rows,)
        True grade index of each row (``grades.index(y)``).
    grades : Grades
    method : str
        A name from :func:`available_cut_methods`.

    Returns
    -------
    ndarray of shape (G-1,)
        Non-decreasing cut points; ``apply_cuts(score, cuts)`` gives grade indices.
    """
    import numpy as np

    fit = get_cut_method(method)
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    y_idx = np.asarray(y_idx, dtype=np.int64).reshape(-1)
    if score.shape != y_idx.shape:
        raise BlendError(f"score has {score.shape[0]} rows but the grades {y_idx.shape[0]}")
    if len(score) == 0:
        raise BlendError("cannot fit cut points on zero rows")
    if not np.all(np.isfinite(score)):
        r = int(np.flatnonzero(~np.isfinite(score))[0])
        raise BlendError(f"the score has NaN or infinite values (first row {r})")
    cuts = np.asarray(fit(score, y_idx, grades, rng=rng, **params), dtype=np.float64)
    return np.maximum.accumulate(cuts)


def _check(method: str, params: dict, allowed: set[str]) -> None:
    from blend._params import check_params

    check_params(method, params, allowed, what="cut-point method")


@register_cut_method("round")
def _round(score, y_idx, grades: Grades, *, rng=None, **params) -> np.ndarray:
    """Plain rounding: the midpoints between grades (nothing is fitted)."""
    _check("round", params, set())
    return grades.midpoints()


def _distribution_cuts(ss: SortedScores, grades: Grades) -> np.ndarray:
    import numpy as np

    counts = np.cumsum(ss.hist)[:-1].astype(np.int64)  # rows below each cut
    pad = float(np.min(np.diff(grades.array))) / 2.0
    cuts = np.empty(ss.G - 1)
    for j, p in enumerate(counts):
        cuts[j] = ss.cut_value(int(p), -np.inf, np.inf, pad)
    return np.maximum.accumulate(cuts)


@register_cut_method("distribution")
def _distribution(score, y_idx, grades: Grades, *, rng=None, **params) -> np.ndarray:
    """Cut the sorted scores so that grade ``k`` gets as many rows as it has true rows."""
    from blend.ordinal._qwk import SortedScores

    _check("distribution", params, set())
    return _distribution_cuts(SortedScores(score, y_idx, grades.n), grades)


@register_cut_method("nelder-mead")
def _nelder_mead(score, y_idx, grades: Grades, *, rng=None, **params) -> np.ndarray:
    """Nelder-Mead (scipy) on ``-QWK(cuts)`` from the midpoints (the "OptimizedRounder")."""
    import numpy as np
    from scipy.optimize import minimize

    from blend.ordinal._qwk import SortedScores

    _check("nelder-mead", params, {"maxiter", "xatol", "fatol"})
    ss = SortedScores(score, y_idx, grades.n)
    x0 = grades.midpoints()
    sol = minimize(lambda c: -ss.qwk(c), x0, method="Nelder-Mead",
                   options={"maxiter": int(params.get("maxiter", 200 * len(x0))),
                            "xatol": float(params.get("xatol", 1e-4)),
                            "fatol": float(params.get("fatol", 1e-7))})
    cuts = np.sort(sol.x)
    return cuts if ss.qwk(cuts) >= ss.qwk(x0) else x0


def coordinate_ascent(ss: SortedScores, cuts: np.ndarray, pad: float, *, max_passes: int = 20,
                      tol: float = 1e-12) -> tuple[np.ndarray, float]:
    """Move each cut to its best position, the others fixed, until no cut improves the QWK.

    Returns the cut points and their QWK on the rows of ``ss``.
    """
    import numpy as np

    cuts = np.maximum.accumulate(np.asarray(cuts, np.float64).copy())
    best = ss.qwk(cuts)
    for _ in range(max_passes):
        improved = False
        for j in range(len(cuts)):
            p, q = ss.scan_cut(cuts, j)
            if len(p) == 0:
                continue
            i = int(np.argmax(q))
            if q[i] > best + tol:
                lo = cuts[j - 1] if j > 0 else -np.inf
                hi = cuts[j + 1] if j + 1 < len(cuts) else np.inf
                cuts[j] = ss.cut_value(int(p[i]), lo, hi, pad)
                best = float(q[i])
                improved = True
        if not improved:
            break
    return cuts, best


@register_cut_method("coordinate")
def _coordinate(score, y_idx, grades: Grades, *, rng=None, **params) -> np.ndarray:
    """Coordinate ascent on exact QWK scans, from the midpoints and the distribution cuts."""
    import numpy as np

    from blend.ordinal._qwk import SortedScores

    _check("coordinate", params, {"max_passes"})
    ss = SortedScores(score, y_idx, grades.n)
    pad = float(np.min(np.diff(grades.array))) / 2.0
    passes = int(params.get("max_passes", 20))
    best_cuts, best = None, -np.inf
    for start in (grades.midpoints(), _distribution_cuts(ss, grades)):
        cuts, q = coordinate_ascent(ss, start, pad, max_passes=passes)
        if q > best:
            best_cuts, best = cuts, q
    return best_cuts


@register_cut_method("bagged")
def _bagged(score, y_idx, grades: Grades, *, rng=None, **params) -> np.ndarray:
    """Coordinate-search cut points averaged over bootstrap resamples of the rows.

    The exact search follows the rows it is given closely; averaging its cut points over
    ``n_bags`` (default 25) bootstrap samples trades a little in-sample QWK for cut points
    that move less from one training set to the next.
    """
    import numpy as np

    from blend.ordinal._qwk import SortedScores

    _check("bagged", params, {"n_bags", "max_passes"})
    n_bags = int(params.get("n_bags", 25))
    if n_bags < 1:
        raise BlendError(f"cut-point method 'bagged' needs n_bags >= 1; got {n_bags}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0)
    pad = float(np.min(np.diff(grades.array))) / 2.0
    passes = int(params.get("max_passes", 20))
    n = len(score)
    out = np.zeros(grades.n - 1)
    for _ in range(n_bags):
        take = rng.integers(0, n, n)
        ss = SortedScores(score[take], y_idx[take], grades.n)
        cuts, _ = coordinate_ascent(ss, _distribution_cuts(ss, grades), pad, max_passes=passes)
        out += cuts
    return out / n_bags
