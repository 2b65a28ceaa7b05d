"""Blend weights and cut points fitted together inside the nested CV, scored by QWK.

The fitted things are the weights of the models (any registered optimiser, or the plain
mean) and the cut points that turn the blended score into grades (any registered cut-point
method). For outer fold ``k`` both are fitted on the rows of the other folds only, and fold
``k``'s grades come from them. The nested QWK is computed once on the pooled held-out grades
(as a leaderboard does), with each fold's QWK beside it. Two ways to fit them:

- ``mode="after"``: the weights minimise the RMSE of the score against the grade values, then
  the cut points are fitted on the blended score of the same rows;
- ``mode="joint"``: the weights maximise the QWK obtained *after* fitting cut points on those
  rows (every weight vector the optimiser tries gets its own cut points; ``bagged`` uses
  single ``coordinate`` fits there), then the cut points are refitted on the chosen blend.

Scores are the blended regression outputs (regression stores), or the expected grade
``sum_c p_c * grade_c`` of each model (classification stores with ordered classes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import blend.nested as _nested
from blend._checks import check_rows
from blend._errors import BlendError
from blend.combine import as_4d
from blend.metrics import Metric, get_metric
from blend.ordinal._cuts import fit_cuts, get_cut_method
from blend.ordinal._qwk import Grades, apply_cuts, infer_grades, qwk_grades

__all__ = ["OrdinalResult", "fit_ordinal", "ordinal_scores", "MODES", "cut_metric",
           "ProcedureResult", "procedure_ordinal", "nested_score_of_the_choice"]

MODES = ("after", "joint")


@dataclass(frozen=True)
class OrdinalResult:
    """Weights and cut points fitted for QWK, in-sample and under nested CV.

    Attributes
    ----------
    method : str
        Weight method: ``"mean"`` or a registered optimiser.
    cut_method : str
    mode : {"after", "joint"}
    models : list of str
    grades : list of float
        The grade values; grade index ``k`` stands for ``grades[k]``.
    weights : dict
        Model -> weight, fitted on every row.
    cuts : list of float
        ``G - 1`` cut points fitted on every row (in the units of the score).
    score : float
        In-sample QWK: weights and cuts fitted and scored on every row.
    nested_score : float or None
        QWK of the pooled held-out grades (each fold's grades from weights and cuts fitted on
        the other folds).
    rounding_nested_score : float or None
        The same held-out blends graded by plain rounding (the midpoints): the cut points'
        effect is ``nested_score - rounding_nested_score``.
    fold_ids, fold_scores, fold_weights, fold_cuts : list
        Per held-out fold: its QWK, and the weights and cut points fitted without it.
    expected_grade : bool
        True when the scores are expected grades of class probabilities.
    seconds : float
    heldout : ndarray of shape (n_rows,)
        Held-out grade index of each row (nested CV), for the confusion matrix.
    argmax_nested_score : float or None
        Ordered classes only: QWK of the argmax of the same held-out weighted probability
        blends (the alternative the cut points replace).
    """

    method: str
    cut_method: str
    mode: str
    models: list[str]
    grades: list[float]
    weights: dict[str, float]
    cuts: list[float]
    score: float
    nested_score: float | None
    rounding_nested_score: float | None
    fold_ids: list[int]
    fold_scores: list[float]
    fold_weights: list[dict[str, float]]
    fold_cuts: list[list[float]]
    expected_grade: bool
    seconds: float
    heldout: np.ndarray | None = field(default=None, repr=False)
    argmax_nested_score: float | None = None

    @property
    def name(self) -> str:
        """``"<weights>+<cuts> (<mode>)"``, e.g. ``"nelder-mead+coordinate (joint)"``."""
        return f"{self.method}+{self.cut_method} ({self.mode})"

    def to_dict(self) -> dict[str, Any]:
        """The facts ``blend optimize --metric qwk --json`` writes."""
        return {
            "method": self.method,
            "metric": "qwk",
            "cut_method": self.cut_method,
            "cuts_mode": self.mode,
            "grades": list(self.grades),
            "weights": dict(self.weights),
            "cuts": list(self.cuts),
            "score": self.score,
            "nested_score": self.nested_score,
            "rounding_nested_score": self.rounding_nested_score,
            "fold_scores": list(self.fold_scores),
            "fold_weights": [dict(w) for w in self.fold_weights],
            "fold_cuts": [list(c) for c in self.fold_cuts],
            "expected_grade": self.expected_grade,
            "argmax_nested_score": self.argmax_nested_score,
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """One line: the scores and the cut points."""
        nested = "skipped" if self.nested_score is None else f"{self.nested_score:.5f}"
        rnd = ("" if self.rounding_nested_score is None
               else f" (rounding instead of the cuts: {self.rounding_nested_score:.5f})")
        cuts = ", ".join(f"{c:.3f}" for c in self.cuts)
        return (f"{self.name}: in-sample QWK {self.score:.5f}, nested {nested}{rnd}; "
                f"cuts [{cuts}] in {self.seconds:.2f} s")


def ordinal_scores(P: np.ndarray, kind: str, grades: Grades) -> np.ndarray:
    """One continuous score per model and row: ``(M, N)``.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        Raw regression outputs (``C = 1``) or class probabilities (``C = G``); TTA views
        are averaged.
    kind : {"raw", "probs"}
    grades : Grades

    Returns
    -------
    ndarray of shape (M, N)
        The prediction itself, or the expected grade ``sum_c p_c * grades[c]``.
    """
    P = as_4d(P).mean(axis=1)  # (M, N, C)
    if kind == "raw" or P.shape[-1] == 1:
        if P.shape[-1] != 1:
            raise BlendError(f"raw scores need one column per model; got {P.shape[-1]}")
        return P[..., 0].astype(np.float64)
    if kind != "probs":
        raise BlendError(f"expected grades need class probabilities (kind 'probs'), got {kind!r}")
    if P.shape[-1] != grades.n:
        raise BlendError(
            f"expected grades need one grade per class: {P.shape[-1]} classes but "
            f"{grades.n} grades {grades.labels()}; pass --grades with one value per class"
        )
    return P.astype(np.float64) @ grades.array


def cut_metric(grades: Grades, cut_method: str = "coordinate",
               cut_params: dict[str, Any] | None = None) -> Metric:
    """QWK after fitting cut points on the very rows scored (for fitting weights jointly).

    The returned metric takes ``(y_values, score)`` like a regression metric. It fits the cut
    points on the rows it is given, so it must only ever be given training rows.
    """
    params = dict(cut_params or {})

    def func(y: np.ndarray, P: np.ndarray) -> float:
        s = np.asarray(P, dtype=np.float64).reshape(-1)
        yi = grades.index(y)
        return qwk_grades(yi, apply_cuts(s, fit_cuts(s, yi, grades, cut_method, **params)),
                          grades.n)

    return Metric(f"qwk+{cut_method}", True, ("regression",), "probs", func)


def _grades_for(y: np.ndarray, kind: str, n_classes: int, grades: Grades | None) -> Grades:
    if grades is not None:
        return grades
    if kind == "probs":
        return Grades(tuple(float(c) for c in range(n_classes)))
    return infer_grades(y)


def fit_ordinal(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    method: str = "nelder-mead",
    cut_method: str = "coordinate",
    mode: str = "after",
    grades: Grades | None = None,
    kind: str = "raw",
    models: list[str] | None = None,
    nested: bool = True,
    rng: np.random.Generator | int | None = None,
    params: dict[str, Any] | None = None,
    cut_params: dict[str, Any] | None = None,
) -> OrdinalResult:
    """Fit blend weights and cut points for QWK, in-sample and under nested CV.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        OOF predictions: raw regression outputs (``kind="raw"``, ``C = 1``) or class
        probabilities of ordered classes (``kind="probs"``, ``C = G``).
    y : ndarray of shape (N,)
        Grade values (regression store) or class indices (classification store).
    folds : ndarray of shape (N,)
    method : str
        ``"mean"`` (equal weights) or a registered optimiser (``blend.optimize``).
    cut_method : str
        A registered cut-point method (:func:`blend.ordinal.available_cut_methods`).
    mode : {"after", "joint"}
        Cut points fitted after weights fitted on RMSE, or weights fitted on the QWK after
        cut points.
    grades : Grades, optional
        Default: inferred from integer targets (regression) or ``0..C-1`` (classes).
    kind : {"raw", "probs"}
    models : list of str, optional
    nested : bool
    rng : numpy Generator or int, optional
    params : dict, optional
        Parameters of the weight optimiser.
    cut_params : dict, optional
        Parameters of the cut-point method.

    Returns
    -------
    OrdinalResult
    """
    from blend.optimize._base import as_generator, get_optimizer

    if mode not in MODES:
        raise BlendError(f"unknown cuts mode {mode!r}; choose one of {', '.join(MODES)}")
    get_cut_method(cut_method)
    fitter = None if method == "mean" else get_optimizer(method)
    P4 = as_4d(P)
    M, _, N, C = P4.shape
    y, folds = check_rows(y, folds, N, y_shape=(N,))
    fold_ids = [int(k) for k in np.unique(folds)]
    if nested and len(fold_ids) < 2:
        raise BlendError("nested CV needs at least 2 folds; the fold column has only one")
    models = [f"m{i}" for i in range(M)] if models is None else [str(m) for m in models]
    if len(models) != M:
        raise BlendError(f"need {M} model names; got {models}")
    if not np.all(np.isfinite(P4)):
        m = int(np.argwhere(~np.isfinite(P4))[0][0])
        raise BlendError(f"model {models[m]!r} has NaN or infinite values; re-export it or "
                         "leave it out of --models")
    grades = _grades_for(y, kind, C, grades)
    if kind == "probs":
        y_idx = y.astype(np.int64)
    else:
        y_idx = grades.index(y)
    y_val = grades.array[y_idx]
    X = ordinal_scores(P4, kind, grades)  # (M, N)
    # joint: every weight vector tried gets its own cut points; "bagged" (25 coordinate fits)
    # is too slow for that, so its inner fits are single coordinate fits
    inner_cuts = "coordinate" if cut_method == "bagged" else cut_method
    weight_metric = get_metric("rmse", "regression") if mode == "after" else cut_metric(
        grades, inner_cuts, None if inner_cuts != cut_method else cut_params)
    seed_root = as_generator(rng).integers(2**63 - 1)
    cut_params = dict(cut_params or {})

    def fit(idx: np.ndarray, key: int) -> tuple[np.ndarray, np.ndarray]:
        Xi = X[:, idx]
        if fitter is None or M == 1:
            w = np.full(M, 1.0 / M)
        else:
            res = fitter(Xi[:, :, None], y_val[idx], metric=weight_metric, rule="prob",
                         kind="raw", rng=np.random.default_rng([int(seed_root), key]),
                         per_class=False, **dict(params or {}))
            w = np.asarray(res.weights, dtype=np.float64)
        s = w @ Xi
        cuts = fit_cuts(s, y_idx[idx], grades, cut_method, **cut_params)
        return w, cuts

    def by_model(w: np.ndarray) -> dict[str, float]:
        return {m: float(v) for m, v in zip(models, w, strict=True)}

    t0 = time.perf_counter()
    w_all, cuts_all = fit(np.arange(N), 0)
    score = qwk_grades(y_idx, apply_cuts(w_all @ X, cuts_all), grades.n)
    heldout = rounded = argmax = None
    probs = P4.mean(axis=1) if kind == "probs" else None  # (M, N, C)
    fold_scores, fold_weights, fold_cuts = [], [], []
    if nested:
        mid = grades.midpoints()
        keys = {k: key for key, k in enumerate(fold_ids, start=1)}  # the seed of each fold

        def predict(fitted: tuple[np.ndarray, np.ndarray], test: np.ndarray) -> np.ndarray:
            # columns: graded by the fold's cuts, rounded to the nearest grade, argmax
            w, cuts = fitted
            s = w @ X[:, test]
            cols = [apply_cuts(s, cuts), apply_cuts(s, mid)]
            if probs is not None:
                cols.append(np.tensordot(w, probs[:, test], axes=1).argmax(axis=1))
            return np.stack(cols, axis=1)

        # the one nested engine: the training rows come from blend.nested.train_rows
        cv = _nested.nested_cv(lambda idx, k: fit(idx, keys[k]), predict, folds, y_idx,
                               lambda t, p: qwk_grades(t, p[:, 0], grades.n))
        pooled = cv.predictions.astype(np.int64)
        heldout, rounded = pooled[:, 0].copy(), pooled[:, 1].copy()
        argmax = pooled[:, 2].copy() if probs is not None else None
        fold_scores = list(cv.fold_scores)
        fold_weights = [by_model(w) for w, _ in cv.fold_results]
        fold_cuts = [[float(c) for c in cuts] for _, cuts in cv.fold_results]
    return OrdinalResult(
        method=method,
        cut_method=cut_method,
        mode=mode,
        models=list(models),
        grades=list(grades.values),
        weights=by_model(w_all),
        cuts=[float(c) for c in cuts_all],
        score=float(score),
        nested_score=None if heldout is None else qwk_grades(y_idx, heldout, grades.n),
        rounding_nested_score=None if rounded is None else qwk_grades(y_idx, rounded, grades.n),
        fold_ids=fold_ids if nested else [],
        fold_scores=fold_scores,
        fold_weights=fold_weights,
        fold_cuts=fold_cuts,
        expected_grade=kind == "probs",
        seconds=time.perf_counter() - t0,
        heldout=heldout,
        argmax_nested_score=None if argmax is None else qwk_grades(y_idx, argmax, grades.n),
    )


@dataclass(frozen=True)
class ProcedureResult:
    """The choice between candidates scored doubly nested.

    Attributes
    ----------
    score : float
        QWK of the pooled held-out grades: for fold ``k``, every candidate ran its own
        nested CV on the other folds, the best inner nested QWK won, and the winner refitted
        on those folds graded fold ``k``.
    fold_ids : list of int
    fold_scores : list of float
    choices : list of str
        The candidate chosen without each fold (``OrdinalResult.name``).
    """

    score: float
    fold_ids: list[int]
    fold_scores: list[float]
    choices: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"score": self.score, "fold_ids": list(self.fold_ids),
                "fold_scores": list(self.fold_scores), "choices": list(self.choices)}


def procedure_ordinal(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    candidates: list[dict[str, Any]],
    *,
    grades: Grades | None = None,
    kind: str = "raw",
    rng: int = 0,
) -> ProcedureResult:
    """Score "run every candidate, keep the best nested QWK" without the fold it grades.

    Parameters
    ----------
    P, y, folds, grades, kind
        As :func:`fit_ordinal`.
    candidates : list of dict
        Keyword arguments of :func:`fit_ordinal` (``method``, ``cut_method``, ``mode``,
        ``params``), one dict per candidate.
    rng : int

    Returns
    -------
    ProcedureResult
    """
    if not candidates:
        raise BlendError("the procedure needs at least one candidate")
    P4 = as_4d(P)
    y = np.asarray(y)
    folds = np.asarray(folds)
    grades = _grades_for(y, kind, P4.shape[-1], grades)
    y_idx = y.astype(np.int64) if kind == "probs" else grades.index(y)
    X = ordinal_scores(P4, kind, grades)
    fold_ids = [int(k) for k in np.unique(folds)]
    if len(fold_ids) < 3:
        raise BlendError("a doubly nested score needs at least 3 folds (an inner CV of 2)")

    def fit(tr: np.ndarray, k: int) -> OrdinalResult:
        fits = [fit_ordinal(P4[:, :, tr], y[tr], folds[tr], grades=grades, kind=kind, rng=rng,
                            **c) for c in candidates]
        return max(fits, key=lambda r: r.nested_score)

    def predict(best: OrdinalResult, te: np.ndarray) -> np.ndarray:
        w = np.array([best.weights[m] for m in best.models])
        return apply_cuts(w @ X[:, te], np.asarray(best.cuts))

    cv = _nested.nested_cv(fit, predict, folds, y_idx,
                           lambda t, p: qwk_grades(t, p, grades.n))
    return ProcedureResult(cv.nested_score, fold_ids, list(cv.fold_scores),
                           [best.name for best in cv.fold_results])


def nested_score_of_the_choice(
    results: list[OrdinalResult], procedure: ProcedureResult | None = None
) -> dict[str, Any]:
    """The nested score to report for the kept candidate, named for what it is.

    With one candidate its nested QWK covers everything chosen (weights and cut points).
    With several (``--cuts-mode both``, ``--cuts all``) the kept one was chosen by the
    candidates' nested QWKs, so its own nested QWK is the best of several estimates and
    does not cover that choice (over 6 seeds it was 0 to +0.006 above the procedure's).
    The nested score of the choice is then the procedure score (:func:`procedure_ordinal`),
    or unknown without it: ``nested_score`` is None and the kept candidate's number is given
    as ``kept_candidate_nested_score``.

    Parameters
    ----------
    results : list of OrdinalResult
        Every candidate, the kept one first.
    procedure : ProcedureResult, optional
        The doubly nested score of keeping the best of ``results``.

    Returns
    -------
    dict
        ``nested_score``, ``nested_score_is`` and, with several candidates,
        ``kept_candidate_nested_score``: the fields ``blend optimize --metric qwk --json``
        writes (the recipe's ``nested_score`` is the same number).
    """
    kept = results[0]
    if kept.nested_score is None:
        return {"nested_score": None, "nested_score_is": "skipped (--no-nested)"}
    if len(results) == 1:
        return {"nested_score": kept.nested_score,
                "nested_score_is": "nested: weights and cut points fitted without each fold"}
    facts: dict[str, Any] = {"kept_candidate_nested_score": kept.nested_score}
    if procedure is None:
        facts.update(nested_score=None, nested_score_is=(
            f"unknown: the kept candidate was chosen among {len(results)} by their nested "
            "QWKs, and its own (kept_candidate_nested_score) does not cover that choice; "
            "--procedure scores it"))
    else:
        facts.update(nested_score=procedure.score, nested_score_is=(
            f"procedure: the choice among {len(results)} candidates made again without "
            "each fold (doubly nested)"))
    return facts
