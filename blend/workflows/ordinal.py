"""Ordinal targets at the store level: QWK with cut points fitted inside the nested CV.

``blend optimize STORE --metric qwk`` on a regression store (or ``--ordinal`` on a store with
ordered classes) comes here: :func:`ordinal_optimize_store` loads the OOF predictions and
calls :func:`blend.ordinal.fit_ordinal` once per cuts mode; the better nested QWK is kept.
See ``docs/commands/ordinal.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.ordinal import Grades, infer_grades, parse_grades
from blend.ordinal._fit import MODES, OrdinalResult, fit_ordinal
from blend.workflows import _defaults as D

__all__ = ["is_ordinal", "store_grades", "ordinal_optimize_store", "ordinal_recipe",
           "ordinal_report_store", "confusion"]


def is_ordinal(store: Any, metric: str | None, ordinal: bool = False) -> bool:
    """Whether a command on ``store`` with ``metric`` takes the ordinal (cut points) path."""
    if ordinal:
        if store.task not in ("regression", "multiclass", "binary"):
            raise BlendError(f"--ordinal needs a regression store or ordered classes; the "
                             f"store is {store.task}")
        return True
    return metric == "qwk" and store.task == "regression"


def store_grades(store: Any, grades: str | None) -> Grades:
    """The grades from ``--grades`` or inferred (integer regression targets, or the classes)."""
    if grades:
        g = parse_grades(grades)
    elif store.task == "regression":
        g = infer_grades(store.y)
    else:
        try:  # class names that are numbers are their grade values
            g = Grades(tuple(float(c) for c in store.class_names))
        except (ValueError, BlendError):
            g = Grades(tuple(float(k) for k in range(len(store.class_names))))
    if store.task != "regression" and g.n != len(store.class_names):
        raise BlendError(f"--grades gives {g.n} values but the store has "
                         f"{len(store.class_names)} classes {list(store.class_names)}")
    return g


def ordinal_optimize_store(
    store: Any,
    *,
    models: list[str],
    grades: str | None = None,
    method: str = "nelder-mead",
    cut_method: str = D.CUT_METHOD,
    modes: tuple[str, ...] = MODES,
    seed: int = D.SEED,
    nested: bool = True,
    params: dict[str, Any] | None = None,
) -> list[OrdinalResult]:
    """Fit weights and cut points for QWK on ``store``, once per mode in ``modes``.

    ``cut_method="all"`` runs every registered cut-point method (each mode). Returns the
    results, the best nested QWK first.
    """
    from blend.ordinal import available_cut_methods

    methods = ([m for m in available_cut_methods() if m != "round"] if cut_method == "all"
               else [cut_method])
    g = store_grades(store, grades)
    regression = store.task == "regression"
    oof = store.load_oof(models, tta="mean", output="raw" if regression else "probs")
    y = oof.y
    results = [
        fit_ordinal(oof.preds, y, oof.folds, method=method, cut_method=c, mode=m,
                    grades=g, kind="raw" if regression else "probs", models=list(oof.models),
                    nested=nested, rng=seed, params=params)
        for c in methods for m in modes
    ]
    key = (lambda r: r.nested_score) if nested else (lambda r: r.score)
    return sorted(results, key=key, reverse=True)


def ordinal_recipe(result: OrdinalResult, store: Any, nested_score: float | None):
    """The recipe of ``result``: weights (prob rule, TTA views averaged), cut points, grades.

    ``nested_score``: the nested score of keeping ``result``
    (:func:`blend.ordinal._fit.nested_score_of_the_choice`; for a candidate kept among
    several it is not the candidate's own nested QWK).
    """
    from blend.recipe import Recipe

    return Recipe.for_store(
        store, list(result.models), rule="prob", tta="mean",
        weights=tuple(result.weights[m] for m in result.models),
        cuts=tuple(result.cuts), grades=tuple(result.grades), metric="qwk",
        score=result.score, nested_score=nested_score,
        source=f"optimize:{result.method}+{result.cut_method}:{result.mode}",
    )


def confusion(y_idx: np.ndarray, pred_idx: np.ndarray, n: int) -> np.ndarray:
    """Grade confusion matrix (true x predicted), shape (n, n)."""
    return np.bincount(np.asarray(y_idx) * n + np.asarray(pred_idx),
                       minlength=n * n).reshape(n, n)


def ordinal_report_store(store: Any, models: list[str] | None, grades: str | None,
                         cut_method: str = "coordinate"):
    """The ordinal report (:func:`blend.ordinal._report.ordinal_report`) of ``store``."""
    from blend.ordinal._report import ordinal_report
    from blend.workflows._models import resolve_models

    models = resolve_models(store, models, need=1, what="the ordinal report")
    g = store_grades(store, grades)
    regression = store.task == "regression"
    oof = store.load_oof(models, tta="mean", output="raw" if regression else "probs")
    return ordinal_report(oof.preds, oof.y, oof.folds, grades=g,
                          kind="raw" if regression else "probs", models=list(oof.models),
                          cut_method=cut_method)
