"""Subset search for QWK with cut points: each subset's mean graded by its own cut points.

``blend search --metric qwk`` on a regression store. A subset is scored by the QWK of its
plain mean after cut points fitted on the rows scored (in-sample). Under ``nested=True``,
for held-out fold ``k`` the whole search runs on the other folds (each subset's cut points
fitted there), the best subset's cut points fitted on those rows grade fold ``k``, and the
nested QWK is that of the pooled held-out grades. Every subset gets its own cut-point fit,
so the search is exhaustive and capped at :data:`MAX_SUBSETS` subsets.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import blend.nested as _nested
from blend._errors import BlendError
from blend.ordinal._cuts import fit_cuts, get_cut_method
from blend.ordinal._fit import ordinal_scores
from blend.ordinal._qwk import Grades, apply_cuts, qwk_grades

__all__ = ["OrdinalSearchResult", "search_ordinal", "MAX_SUBSETS"]

#: Subsets scored at most (each needs its own cut points, once per fold and once overall).
MAX_SUBSETS = 5000


@dataclass(frozen=True)
class OrdinalSearchResult:
    """The best subsets by QWK with cut points.

    Attributes
    ----------
    cut_method : str
    grades : list of float
    results : list of dict
        Best first: ``models``, ``size``, ``score`` (in-sample QWK), ``cuts``,
        ``fold_scores`` (each fold graded by the all-row cut points).
    n_subsets : int
    nested_score : float or None
        QWK of the pooled held-out grades of the nested search.
    nested_fold_scores : list of float or None
    nested_choices : list of list of str or None
        The subset chosen without each fold.
    fold_ids : list of int
    seconds : float
    """

    cut_method: str
    grades: list[float]
    results: list[dict[str, Any]]
    n_subsets: int
    nested_score: float | None
    nested_fold_scores: list[float] | None
    nested_choices: list[list[str]] | None
    fold_ids: list[int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``blend search --metric qwk --json``)."""
        return {
            "metric": "qwk",
            "cut_method": self.cut_method,
            "grades": list(self.grades),
            "n_subsets": self.n_subsets,
            "results": [dict(r) for r in self.results],
            "nested_score": self.nested_score,
            "nested_fold_scores": self.nested_fold_scores,
            "nested_choices": self.nested_choices,
            "fold_ids": list(self.fold_ids),
            "seconds": self.seconds,
        }


def _subsets(M: int, min_size: int, max_size: int, must: set[int], banned: set[int]):
    free = [i for i in range(M) if i not in banned]
    for r in range(min_size, max_size + 1):
        for c in itertools.combinations(free, r):
            if must <= set(c):
                yield c


def search_ordinal(
    P: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    grades: Grades,
    cut_method: str = "coordinate",
    kind: str = "raw",
    names: Sequence[str] | None = None,
    top: int = 10,
    min_size: int = 1,
    max_size: int | None = None,
    must_include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    nested: bool = False,
) -> OrdinalSearchResult:
    """Exhaustive subset search by QWK of each subset's mean after fitted cut points.

    Parameters
    ----------
    P : ndarray of shape (M, T, N, C) or (M, N, C)
        Raw scores (``kind="raw"``) or probabilities of ordered classes (``"probs"``).
    y : ndarray of shape (N,)
        Grade values (or class indices with ``kind="probs"``).
    folds : ndarray of shape (N,)
    grades : Grades
    cut_method : str
    names : sequence of str, optional
    top : int
    min_size, max_size : int
    must_include, exclude : sequence of str
        Model names every subset must hold / must not hold.
    nested : bool

    Returns
    -------
    OrdinalSearchResult
    """
    get_cut_method(cut_method)
    t0 = time.perf_counter()
    X = ordinal_scores(P, kind, grades)  # (M, N)
    M, N = X.shape
    names = [f"m{i}" for i in range(M)] if names is None else [str(n) for n in names]
    unknown = [m for m in [*must_include, *exclude] if m not in names]
    if unknown:
        raise BlendError(f"unknown model(s) {unknown}; the models are {names}")
    max_size = M if max_size is None else int(max_size)
    if not 1 <= min_size <= max_size:
        raise BlendError(f"1 <= min_size <= max_size must hold, but got {min_size}, {max_size}")
    if int(top) < 1:
        raise BlendError(f"top must be >= 1, got {top}")
    must = {names.index(m) for m in must_include}
    banned = {names.index(m) for m in exclude}
    subsets = list(itertools.islice(_subsets(M, min_size, max_size, must, banned),
                                    MAX_SUBSETS + 1))
    if len(subsets) > MAX_SUBSETS:
        raise BlendError(
            f"more than {MAX_SUBSETS} subsets, each with its own cut points; narrow the search "
            "with --models, --max-size or --exclude, or shortlist with `blend search --metric "
            "qwk` on a rounded score (--cuts round)"
        )
    if not subsets:
        raise BlendError("no subset fits --min-size, --max-size, --must-include and --exclude")
    y = np.asarray(y)
    y_idx = y.astype(np.int64) if kind == "probs" else grades.index(y)
    folds = np.asarray(folds)
    fold_ids = [int(k) for k in np.unique(folds)]
    means = [X[list(c)].mean(axis=0) for c in subsets]

    def best_on(rows: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
        scores, cuts = [], []
        for s in means:
            c = fit_cuts(s[rows], y_idx[rows], grades, cut_method)
            scores.append(qwk_grades(y_idx[rows], apply_cuts(s[rows], c), grades.n))
            cuts.append(c)
        return scores, cuts

    all_rows = np.arange(N)
    scores, cuts = best_on(all_rows)
    order = sorted(range(len(subsets)), key=lambda i: (-scores[i], len(subsets[i]), subsets[i]))
    results = []
    for i in order[: int(top)]:
        graded = apply_cuts(means[i], cuts[i])
        results.append({
            "models": [names[j] for j in subsets[i]],
            "size": len(subsets[i]),
            "score": float(scores[i]),
            "cuts": [float(v) for v in cuts[i]],
            "fold_scores": [qwk_grades(y_idx[folds == k], graded[folds == k], grades.n)
                            for k in fold_ids],
        })
    nested_score = nested_folds = choices = None
    if nested:
        if len(fold_ids) < 2:
            raise BlendError("nested search needs at least 2 folds")

        def fit(tr: np.ndarray, k: int) -> tuple[int, np.ndarray]:
            sc, cu = best_on(tr)
            i = min(range(len(subsets)), key=lambda i: (-sc[i], len(subsets[i]), subsets[i]))
            return i, cu[i]

        def predict(chosen: tuple[int, np.ndarray], te: np.ndarray) -> np.ndarray:
            i, cuts = chosen
            return apply_cuts(means[i][te], cuts)

        # the one nested engine: the training rows come from blend.nested.train_rows
        cv = _nested.nested_cv(fit, predict, folds, y_idx,
                               lambda t, p: qwk_grades(t, p, grades.n))
        nested_folds = list(cv.fold_scores)
        choices = [[names[j] for j in subsets[i]] for i, _ in cv.fold_results]
        nested_score = cv.nested_score
    return OrdinalSearchResult(
        cut_method=cut_method,
        grades=list(grades.values),
        results=results,
        n_subsets=len(subsets),
        nested_score=nested_score,
        nested_fold_scores=nested_folds,
        nested_choices=choices,
        fold_ids=fold_ids,
        seconds=time.perf_counter() - t0,
    )
