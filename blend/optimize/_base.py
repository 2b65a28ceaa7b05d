"""Shared machinery of the weight optimisers: the result type and the registry.

Every optimiser is a pure function registered under a name::

    @register_optimizer("de")
    def fit_weights(P, y, *, metric, rule="prob", kind="probs", rng=None, per_class=False,
                    **params) -> WeightsResult

``P`` is ``(U, N, C)``: one score matrix per *unit* (a model, or a (model, TTA view) pair
when TTA views are weighted separately). The function fits non-negative weights that sum to
one (per class with ``per_class=True``) and returns them with the in-sample score and the
number of weight vectors it evaluated. It never sees fold ids: the nested-CV harness calls it
on the training rows only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blend._errors import BlendError
from blend._params import check_params as _check_params
from blend._params import jsonable as _jsonable

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np

__all__ = [
    "WeightsResult",
    "register_optimizer",
    "get_optimizer",
    "available_optimizers",
    "Capabilities",
    "optimizer_capabilities",
    "optimizers_that",
    "Timer",
]

FitWeights = Callable[..., "WeightsResult"]
_OPTIMIZERS: dict[str, FitWeights] = {}


@dataclass(frozen=True)
class WeightsResult:
    """Weights fitted by one optimiser on one set of rows.

    Attributes
    ----------
    method : str
        The registered name of the optimiser.
    weights : ndarray of shape (U,) or (U, C)
        Non-negative weights summing to one (per column when ``per_class``).
    score : float
        The metric of the blend with these weights on the rows they were fitted on.
    evaluations : int
        Number of weight vectors the optimiser scored.
    seconds : float
        Wall time of the fit.
    info : dict
        Method-specific facts (e.g. hill-climb selection counts, Optuna study name).
    """

    method: str
    weights: np.ndarray
    score: float
    evaluations: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        import numpy as np

        return {
            "method": self.method,
            "weights": np.asarray(self.weights).tolist(),
            "score": float(self.score),
            "evaluations": int(self.evaluations),
            "seconds": float(self.seconds),
            "info": _jsonable(self.info),
        }

    def summary(self) -> str:
        import numpy as np

        w = np.round(np.asarray(self.weights), 4).tolist()
        return (
            f"{self.method}: score {self.score:.6g} with weights {w} "
            f"({self.evaluations} evaluations, {self.seconds:.3f} s)"
        )


@dataclass(frozen=True)
class Capabilities:
    """What a registered optimiser can fit, declared in its registry entry.

    ``--help``, the error messages and the contract tests read these instead of lists of
    method names.

    Attributes
    ----------
    metrics : tuple of str or None
        The metrics it can fit (None: any metric).
    rules : tuple of str or None
        The combination rules it fits (None: every rule).
    per_class : bool
        Whether it fits one weight vector per class.
    tta_weights : bool
        Whether it fits one weight per (model, TTA view).
    """

    metrics: tuple[str, ...] | None = None
    rules: tuple[str, ...] | None = None
    per_class: bool = True
    tta_weights: bool = True

    def fits_metric(self, metric: str) -> bool:
        """Whether it can fit ``metric`` (a metric name)."""
        return self.metrics is None or metric in self.metrics

    def fits_rule(self, rule: str) -> bool:
        """Whether it can fit weights under combination rule ``rule``."""
        return self.rules is None or rule in self.rules

    def describe(self) -> str:
        """One short phrase, e.g. ``"metrics logloss, kl; no per-class weights"``."""
        parts = [f"metrics {', '.join(self.metrics)}" if self.metrics else "any metric"]
        if self.rules:
            parts.append(f"rules {', '.join(self.rules)}")
        if not self.per_class:
            parts.append("no per-class weights")
        if not self.tta_weights:
            parts.append("no TTA-view weights")
        return "; ".join(parts)


_CAPABILITIES: dict[str, Capabilities] = {}

#: The parameters every optimiser takes (the contract above), documented once; registration
#: puts them at the head of each optimiser's "Parameters" section, which documents only
#: what is its own (``rng``, ``per_class``, ``progress``, ``**params``).
COMMON_PARAMETERS = """    P : ndarray of shape (U, N, C)
        One score matrix per unit (model or model x TTA view).
    y : ndarray of shape (N,) or (N, C)
    metric : blend.metrics.Metric
    rule, kind : str
        Combine rule and what ``P`` holds (see :func:`blend.combine.combine`).
"""


def _with_common_parameters(doc: str | None) -> str | None:
    head = "    Parameters\n    ----------\n"
    if not doc or head not in doc or "\n    P : ndarray" in doc:
        return doc
    return doc.replace(head, head + COMMON_PARAMETERS, 1)


def register_optimizer(name: str, *, metrics: tuple[str, ...] | None = None,
                       rules: tuple[str, ...] | None = None, per_class: bool = True,
                       tta_weights: bool = True) -> Callable[[FitWeights], FitWeights]:
    """Register ``fit_weights`` under ``name`` (decorator), with its :class:`Capabilities`.

    The contract tests in ``tests/optimize`` run against every registered name (each test
    within the capabilities the method declares), and ``blend optimize --method`` lists
    the registry, so a new method is tested and reachable from the command line the moment
    it is registered.
    """

    def deco(func: FitWeights) -> FitWeights:
        if name in _OPTIMIZERS and _OPTIMIZERS[name] is not func:
            raise BlendError(f"an optimiser named {name!r} is already registered")
        func.__doc__ = _with_common_parameters(func.__doc__)
        _OPTIMIZERS[name] = func
        _CAPABILITIES[name] = Capabilities(metrics=metrics, rules=rules, per_class=per_class,
                                           tta_weights=tta_weights)
        return func

    return deco


def optimizer_capabilities(name: str) -> Capabilities:
    """The :class:`Capabilities` declared when ``name`` was registered."""
    get_optimizer(name)  # raises for an unknown name
    return _CAPABILITIES[name]


def optimizers_that(*, metric: str | None = None, rule: str | None = None,
                    per_class: bool = False) -> list[str]:
    """Registered optimisers able to fit ``metric`` / ``rule`` / per-class weights."""
    return [n for n in _OPTIMIZERS
            if (metric is None or _CAPABILITIES[n].fits_metric(metric))
            and (rule is None or _CAPABILITIES[n].fits_rule(rule))
            and (not per_class or _CAPABILITIES[n].per_class)]


def available_optimizers() -> list[str]:
    """Names of the registered optimisers, in registration order."""
    return list(_OPTIMIZERS)


def get_optimizer(name: str) -> FitWeights:
    """The ``fit_weights`` function registered under ``name``.

    Raises
    ------
    BlendError
        When no optimiser has that name; the message lists the available ones.
    """
    try:
        return _OPTIMIZERS[name]
    except KeyError:
        raise BlendError(
            f"unknown optimisation method {name!r}; choose one of: "
            + ", ".join(available_optimizers())
        ) from None


class Timer:
    """Wall-clock timer as a context manager: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


def check_params(method: str, params: dict[str, Any], allowed: Any) -> None:
    """Reject unknown parameters and wrong values (:func:`blend._params.check_params`)."""
    _check_params(method, params, allowed, what="optimizer")


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    import numpy as np

    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise BlendError(f"rng must be a numpy Generator, an int or None; got {type(rng).__name__}")
