"""``compare``: every candidate ensemble under the same folds, a recommendation, and an honest score.

The engine
----------
A *candidate* is anything that can be fitted on the rows of some folds and then predict
the rows of a held-out fold: the plain mean, the best single model, the mean of the search's
best subset, a weighting method with a combination rule, a stacker, or *level 3* (weights
fitted on the stackers' out-of-fold predictions). Every fit is identified by the frozenset
``H`` of folds it must not see; the engine fits each ``(candidate, H)`` once and caches it.

Which fits answer which question (``K`` folds):

- nested predictions of fold ``k``: the fit that left out ``{k}``;
- in-sample predictions: the fit on every row (``H`` empty). For a stacker, whose deployed
  form is the bag of its outer-fold models (as ``stack`` writes it), the in-sample
  predictions are its out-of-fold ones, so its in-sample and nested scores coincide;
- the comparison run *inside* outer fold ``k`` (for the procedure score): fold ``j``'s
  predictions come from the fit that left out ``{k, j}``. That fit is also the one outer
  fold ``j`` needs for its inner fold ``k``: ``K(K-1)/2`` pair fits serve all ``K(K-1)``
  inner folds.

Level 3 is nested the same way: its fit that leaves out ``H`` learns its weights on level-2
predictions of each training fold ``i`` made by the stacker fitted without ``H | {i}``, so
for outer fold ``k`` no stacker whose predictions the weights are fitted on ever saw fold
``k``. Inside the procedure loop this needs stackers fitted without three folds; the cache
makes them ``K(K-1)(K-2)/6`` fits.

Every score is the metric of the *pooled* predictions (all held-out rows concatenated, as a
leaderboard computes it); the per-fold scores are reported beside it and give the spread
and the standard error the recommendation rule uses.

Recommendation rule
-------------------
Among the candidates whose nested score is within one standard error of the best
(the standard error of the best candidate's fold scores), take the simplest, in the order
``mean < best single = best-subset mean < weights < stackers < level 3`` (ties: the better
score). The plain mean is always a candidate and the simplest, so the recommendation is never
worse than it unless the mean is more than one standard error below the winner, and the
reason says so whenever the recommendation's nested score is below the mean's.

The procedure score
-------------------
For each outer fold ``k`` the whole comparison and the choice run on the other folds (each
candidate scored by its predictions on fold ``j`` from the fit that left out ``{k, j}``);
the chosen candidate's nested predictions on fold ``k`` (from its fit without ``{k}``) are
the procedure's predictions there. Their pooled score is the honest score of "run compare
and submit what it recommends".

The labels are reachable only through :class:`TracedLabels` (``CompareData.y`` is replaced
by it before the candidates are built; :meth:`Comparison.labels` reads through it), which
records the rows seen by every fit and by every choice, so a test can check that no fold's
labels reach its own fit or choice, and a candidate cannot read them around the spy.
"""

from oof_common.lazy import lazy_attributes

# imported on first use: `blend compare --help` reads the budgets without numpy (issue 22)
_LAZY = {
    "BUDGETS": "blend.compare._presets",
    "CARUANA_PARAMS": "blend.compare._candidates",
    "ORDINAL_DEFAULTS": "blend.compare._candidates",
    "build_candidates": "blend.compare._candidates",
    "ComparePlan": "blend.compare._core",
    "CompareResult": "blend.compare._core",
    "compare": "blend.compare._core",
    "COMPLEXITY": "blend.compare._data",
    "CompareData": "blend.compare._data",
    "Candidate": "blend.compare._engine",
    "Comparison": "blend.compare._engine",
    "TracedLabels": "blend.compare._labels",
    "GATE": "blend.compare._recommend",
    "CandidateScore": "blend.compare._recommend",
    "recommend": "blend.compare._recommend",
    "z_threshold": "blend.compare._recommend",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)
