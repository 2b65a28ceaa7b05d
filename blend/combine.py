"""Combination rules: how several models' predictions become one.

A rule has three steps, which the subset search reuses so that every subset is scored
exactly as :func:`combine` would blend it:

1. ``to_scores`` turns each model's stored values into the rule's additive space
   (probabilities for ``prob``, logits for ``logit``, log-probabilities for ``geo``,
   per-column ranks over a power of two >= n_rows for ``rank``); TTA views are averaged (or weighted)
   in that space;
2. the models' scores are averaged with non-negative weights that sum to 1;
3. ``finalize`` turns the average back into probabilities (softmax for ``logit`` and
   ``geo``, row normalisation for ``rank``, nothing for ``prob``).

The rules are a registry (:data:`RULES`, :func:`register_rule`): each :class:`Rule` carries
its ``scores`` and ``finish`` steps, and the linear ones their ``linear`` transform and
``finish_linear`` for the optimiser's kernels.

``logit`` and ``geo`` give the same blend (the normalised geometric mean of softmaxes is the
softmax of the mean logits); both names exist because users ask for both. Regression
(one column, ``kind="raw"``) supports ``prob`` (plain mean) and ``rank``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blend._errors import BlendError
from oof_common.core import softmax

if TYPE_CHECKING:
    import numpy as np

# scipy.special / scipy.stats cost ~0.9 s to import; every ``blend`` command imports this
# module, so the two small functions are here and rankdata is imported only by the rank rule.
# numpy too is imported inside the functions that use it: the commands parse their arguments
# (``--rule`` choices) without it (start-up < 0.3 s, issue 22).


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    import numpy as np

    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))

__all__ = ["RULES", "KINDS", "LINEAR_RULES", "Rule", "register_rule", "rule_space", "combine", "to_scores", "finalize",
           "unit_scores", "blend_scores", "as_4d", "transform", "finish_linear", "blend_per_class"]

KINDS = ("probs", "logits", "raw")
_CLIP = 1e-7
_EPS = 1e-15


def _prob_scores(X: np.ndarray, kind: str) -> np.ndarray:
    return softmax(X, axis=-1) if kind == "logits" else X


def _log_scores(X: np.ndarray, kind: str) -> np.ndarray:
    import numpy as np

    return log_softmax(X, axis=-1) if kind == "logits" else np.log(np.clip(X, _CLIP, 1.0))


def _rank_scores(X: np.ndarray, kind: str) -> np.ndarray:
    # ranks (multiples of 1/2) over a power of two >= N (axis -2 holds the rows): exact in
    # float64, so equal sums of ranks stay exactly equal (argmax ties are kept, not broken
    # by rounding)
    import numpy as np
    from scipy.stats import rankdata

    N = X.shape[-2]
    return rankdata(X, axis=-2) / float(2 ** int(np.ceil(np.log2(max(N, 1)))))


def _finish_identity(S: np.ndarray, regression: bool) -> np.ndarray:
    return S


def _finish_softmax(S: np.ndarray, regression: bool) -> np.ndarray:
    return softmax(S, axis=-1)


def _finish_rownorm(S: np.ndarray, regression: bool) -> np.ndarray:
    return S if regression else S / S.sum(axis=-1, keepdims=True)


def _linear_prob(P: np.ndarray, kind: str) -> np.ndarray:
    return softmax(P) if kind == "logits" else P


def _linear_logit(P: np.ndarray, kind: str) -> np.ndarray:
    import numpy as np

    return P if kind == "logits" else np.log(np.clip(P, _CLIP, 1.0))


def _linear_geo(P: np.ndarray, kind: str) -> np.ndarray:
    import numpy as np

    return log_softmax(P) if kind == "logits" else np.log(np.clip(P, _CLIP, 1.0))


def _finish_linear_rownorm(Z: np.ndarray) -> np.ndarray:
    import numpy as np

    return Z / np.maximum(Z.sum(axis=-1, keepdims=True), _EPS)


def _finish_linear_softmax(Z: np.ndarray) -> np.ndarray:
    return softmax(Z)


@dataclass(frozen=True)
class Rule:
    """A combination rule: its name, a description, whether it works on regression, and its steps.

    Attributes
    ----------
    name, description : str
    regression : bool
        Whether the rule blends regression predictions (one raw column).
    scores : callable
        ``scores(X, kind) -> X'``: stored values (``kind``) -> the rule's additive space
        (any leading axes; rows on axis -2, classes on axis -1).
    finish : callable
        ``finish(S, regression) -> predictions``: the weighted mean of the scores back to
        probabilities (or values).
    linear : callable or None
        ``linear(P, kind) -> X`` for rules whose blend is ``g(sum_u w_u X_u)`` (the
        optimiser's fast kernels); None when the rule has no such form.
    finish_linear : callable or None
        ``g``: ``finish_linear(Z) -> probabilities`` for classification.
    space : {"probs", "logits"}
        The rule's output space: what it is best fed from the store (``load_oof(output=)``)
        and what its scores are, probabilities or logits. Temperatures, which scale
        logits, apply to the rules whose space is ``"logits"``.
    """

    name: str
    description: str
    regression: bool
    scores: Callable[[np.ndarray, str], np.ndarray] = field(
        default=_prob_scores, repr=False, compare=False)
    finish: Callable[[np.ndarray, bool], np.ndarray] = field(
        default=_finish_identity, repr=False, compare=False)
    linear: Callable[[np.ndarray, str], np.ndarray] | None = field(
        default=None, repr=False, compare=False)
    finish_linear: Callable[[np.ndarray], np.ndarray] | None = field(
        default=None, repr=False, compare=False)
    space: str = "probs"


RULES: dict[str, Rule] = {}


def register_rule(rule: Rule) -> Rule:
    """Add ``rule`` to :data:`RULES` (a name may be registered once)."""
    if rule.name in RULES and RULES[rule.name] is not rule:
        raise BlendError(f"a combination rule named {rule.name!r} is already registered")
    RULES[rule.name] = rule
    return rule


for _r in (
    Rule("prob", "mean of probabilities", True, _prob_scores, _finish_identity,
         _linear_prob, _finish_linear_rownorm),
    Rule("logit", "mean of logits, softmax after", False, _log_scores, _finish_softmax,
         _linear_logit, _finish_linear_softmax, space="logits"),
    Rule("geo", "geometric mean of probabilities, renormalised", False, _log_scores,
         _finish_softmax, _linear_geo, _finish_linear_softmax, space="logits"),
    Rule("rank", "mean of per-column ranks, rows renormalised", True, _rank_scores,
         _finish_rownorm),
):
    register_rule(_r)


def rule_space(rule: str) -> str:
    """The output space ``"probs"`` or ``"logits"`` the rule ``rule`` declares (:class:`Rule`)."""
    if rule not in RULES:
        raise BlendError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    return RULES[rule].space


def _check_rule(rule: str, kind: str, n_classes: int) -> None:
    if rule not in RULES:
        raise BlendError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if kind not in KINDS:
        raise BlendError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    regression = kind == "raw" or n_classes == 1
    if regression and not RULES[rule].regression:
        raise BlendError(f"rule {rule!r} needs class probabilities; for regression use prob or rank")


def as_4d(P: np.ndarray) -> np.ndarray:
    """``(M, N, C)`` or ``(M, T, N, C)`` predictions as ``(M, T, N, C)``; anything else is a BlendError."""
    import numpy as np

    P = np.asarray(P)
    if P.ndim == 3:
        P = P[:, None]
    if P.ndim != 4:
        raise BlendError(
            f"predictions must have shape (models, tta, rows, classes) or (models, rows, classes), "
            f"got shape {P.shape}"
        )
    return P


def _normalise_weights(w, n: int, what: str) -> np.ndarray:
    import numpy as np

    if w is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(w, dtype=np.float64).ravel()
    if w.shape != (n,):
        raise BlendError(f"{what} must have {n} entries, got {w.shape[0]}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise BlendError(f"{what} must be finite and non-negative, got {w.tolist()}")
    if w.sum() <= 0:
        raise BlendError(f"{what} must not all be zero")
    return w / w.sum()


def to_scores(P: np.ndarray, *, rule: str = "prob", kind: str = "probs", tta_weights=None) -> np.ndarray:
    """Each model's predictions in the rule's additive space, TTA views combined.

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes) or (n_models, n_rows, n_classes)
        Stored predictions; ``kind`` says whether they are probabilities, logits or raw
        regression values.
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
    tta_weights : array-like of shape (n_tta,), optional
        Weights of the TTA views (default: equal).

    Returns
    -------
    ndarray of shape (n_models, n_rows, n_classes), float64
    """
    import numpy as np

    P = as_4d(P)
    M, T, N, C = P.shape
    _check_rule(rule, kind, C)
    tw = _normalise_weights(tta_weights, T, "tta_weights")
    X = P.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise BlendError("predictions contain NaN or infinite values")
    X = RULES[rule].scores(X, kind)
    return np.tensordot(tw, X, axes=([0], [1])) if T > 1 else X[:, 0]


# -- linear rules: the blend is g(sum_u w_u X_u) for per-unit scores X and a row-wise g -----
#: Rules whose blend is ``g(sum_u w_u X_u)`` for a per-unit transform ``X`` and a
#: row-wise monotone ``g``; the optimiser's fast kernels apply to these.
LINEAR_RULES = tuple(n for n, r in RULES.items() if r.linear is not None)


def transform(P: np.ndarray, rule: str, kind: str) -> np.ndarray:
    """Per-unit scores ``X`` whose weighted sum the linear ``rule`` maps to probabilities.

    Parameters
    ----------
    P : ndarray of shape (U, N, C)
        Probabilities (``kind="probs"``) or logits (``kind="logits"``).
    rule : {"prob", "logit", "geo"}
    kind : {"probs", "logits", "raw"}

    Returns
    -------
    X : ndarray of shape (U, N, C), float64
        prob: probabilities; logit: logits (log-probabilities when given probabilities);
        geo: log-probabilities.
    """
    import numpy as np

    P = np.asarray(P, dtype=np.float64)
    if kind == "raw" or P.shape[-1] == 1:
        return P
    r = RULES.get(rule)
    if r is not None and r.linear is not None:
        return r.linear(P, kind)
    raise BlendError(f"rule {rule!r} has no linear form; choose one of {LINEAR_RULES}")


def finish_linear(Z: np.ndarray, rule: str, regression: bool) -> np.ndarray:
    """Blended scores ``(..., N, C)`` -> probabilities (or predictions for regression)."""
    if regression:
        return Z[..., 0]
    r = RULES.get(rule)
    if r is None or r.finish_linear is None:
        raise BlendError(f"rule {rule!r} has no linear form; choose one of {LINEAR_RULES}")
    return r.finish_linear(Z)


def blend_per_class(X: np.ndarray, w: np.ndarray, rule: str) -> np.ndarray:
    """Blend with one weight per unit and class (the plain reference loop).

    Parameters
    ----------
    X : ndarray of shape (U, N, C)
        Output of :func:`transform`.
    w : ndarray of shape (U, C)
        Non-negative; each column sums to one.

    Returns
    -------
    ndarray of shape (N, C)
        Probabilities: ``z[:, c] = sum_u w[u, c] X[u, :, c]``, then row-normalised (prob
        rule) or softmaxed (logit, geo).
    """
    import numpy as np

    U, N, C = X.shape
    Z = np.zeros((N, C))
    for c in range(C):
        for u in range(U):
            Z[:, c] += w[u, c] * X[u, :, c]
    return finish_linear(Z, rule, regression=False)



def finalize(S: np.ndarray, *, rule: str = "prob", kind: str = "probs") -> np.ndarray:
    """Turn averaged scores back into predictions.

    Parameters
    ----------
    S : ndarray of shape (..., n_rows, n_classes)
        Weighted mean of :func:`to_scores` output over models.

    Returns
    -------
    ndarray of the same shape: probabilities (classification) or values (regression).
    """
    regression = kind == "raw" or S.shape[-1] == 1
    return RULES[rule].finish(S, regression)


def combine(
    P: np.ndarray,
    weights=None,
    *,
    rule: str = "prob",
    kind: str = "probs",
    tta_weights=None,
) -> np.ndarray:
    """Blend several models' predictions into one.

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes) or (n_models, n_rows, n_classes)
        Predictions as loaded from the store (``kind`` says what they hold).
    weights : array-like of shape (n_models,), optional
        Non-negative model weights (normalised to sum 1; default equal).
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
    tta_weights : array-like of shape (n_tta,), optional
        Weights of the TTA views (default: the mean of the views).

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
        Probabilities (rows sum to 1), or for regression the blended values ``(n_rows, 1)``.
    """
    import numpy as np

    P = as_4d(P)
    _normalise_weights(weights, P.shape[0], "weights")  # validates before the work
    X = to_scores(P, rule=rule, kind=kind, tta_weights=tta_weights)
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    return blend_scores(X, w, rule=rule, kind=kind)


def unit_scores(P: np.ndarray, *, rule: str = "prob", kind: str = "probs",
                per_view: bool = False) -> np.ndarray:
    """The blend's units in the rule's additive space: one per model, or per (model, view).

    Parameters
    ----------
    P : ndarray of shape (n_models, n_tta, n_rows, n_classes) or (n_models, n_rows, n_classes)
        Stored predictions (``kind`` says what they hold).
    per_view : bool
        False: one unit per model, its TTA views averaged in the rule's space
        (:func:`to_scores`). True: one unit per (model, view), model-major, so that a
        weight matrix of shape ``(n_models, n_tta)`` flattened in C order matches.

    Returns
    -------
    ndarray of shape (n_units, n_rows, n_classes), float64
        ``n_units = n_models`` or ``n_models * n_tta``.
    """
    P = as_4d(P)
    if per_view:
        M, T, N, C = P.shape
        P = P.reshape(M * T, 1, N, C)
    return to_scores(P, rule=rule, kind=kind)


def blend_scores(
    X: np.ndarray,
    weights=None,
    *,
    rule: str = "prob",
    kind: str = "probs",
    temperatures=None,
) -> np.ndarray:
    """Blend units already in the rule's additive space: the last step of every blend.

    :func:`combine`, :func:`blend.optimize.optimize` (every score it reports) and
    :class:`blend.recipe.Recipe` (OOF and test predictions) all end here, so a recipe
    reproduces exactly the blend the optimiser scored.

    Parameters
    ----------
    X : ndarray of shape (n_units, n_rows, n_classes)
        Output of :func:`to_scores` / :func:`unit_scores` for this ``rule`` and ``kind``.
    weights : array-like of shape (n_units,) or (n_units, n_classes), optional
        Non-negative unit weights (default equal), normalised to sum 1. A matrix gives one
        weight per (unit, class); each class's column is normalised to sum 1 and the blend
        is :func:`blend_per_class` (prob, logit and geo rules).
    rule : {"prob", "logit", "geo", "rank"}
    kind : {"probs", "logits", "raw"}
        What the stored predictions held (``"raw"``: regression).
    temperatures : array-like of shape (n_units,), optional
        Positive; unit ``u``'s scores are divided by ``temperatures[u]`` before blending
        (logit and geo rules: ``softmax(X_u / T_u)`` is the tempered model).

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
        Probabilities, or for regression the blended values ``(n_rows, 1)``.
    """
    import numpy as np

    X = np.asarray(X)
    if X.ndim != 3:
        raise BlendError(f"unit scores must have shape (units, rows, classes), got {X.shape}")
    U, _, C = X.shape
    if temperatures is not None:
        t = np.asarray(temperatures, dtype=np.float64).ravel()
        if t.shape != (U,):
            raise BlendError(f"temperatures must have {U} entries, got {t.shape[0]}")
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise BlendError(f"temperatures must be finite and positive, got {t.tolist()}")
        X = X / t[:, None, None]
    if weights is not None and np.ndim(weights) == 2:
        return _blend_per_class(X, weights, rule=rule, kind=kind)
    _normalise_weights(weights, U, "weights")  # validates
    # Sum with the raw weights, then divide: with equal weights the sum is exact for
    # float32 inputs, so exact ties between classes stay ties (as in the subset search).
    w = np.ones(U) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    S = np.tensordot(w, X, axes=1) / w.sum()
    return finalize(S, rule=rule, kind=kind)


def _blend_per_class(X: np.ndarray, weights, *, rule: str, kind: str) -> np.ndarray:
    import numpy as np

    U, _, C = X.shape
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (U, C):
        raise BlendError(f"per-class weights must have shape {(U, C)}, got {w.shape}")
    if kind == "raw" or C < 2 or rule == "rank":
        raise BlendError("per-class weights need class probabilities and the prob, logit or geo rule")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise BlendError("per-class weights must be finite and non-negative")
    s = w.sum(axis=0)
    if np.any(s <= 0):
        raise BlendError(f"per-class weights of class(es) {np.flatnonzero(s <= 0).tolist()} are all zero")
    skind = "probs" if rule == "prob" else "logits"
    return blend_per_class(transform(X, rule, skind), w / s, rule)
