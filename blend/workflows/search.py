"""``blend search`` at the store level: load the OOF predictions, search the subsets.

``search_store(store, ...)`` loads the OOF predictions and calls the pure
:func:`blend.search.search_subsets` (or plans it); :func:`recipe_from_result` turns a
result into a recipe. See ``docs/commands/search.md``.
"""

from __future__ import annotations

from typing import Any

from blend.recipe import Recipe, _kind_for, load_output_for
from blend.search import SearchResult, plan_search, search_subsets
from blend.workflows import _defaults as D
from blend.workflows._models import resolve_models

__all__ = ["search_store", "recipe_from_result"]


def _load(store: Any, models, tta, rule, allow_in_sample=False):
    chosen = resolve_models(store, models, need=2, what="subset search",
                            allow_in_sample=allow_in_sample)
    output = load_output_for(rule, store.task)
    oof = store.load_oof(chosen, tta=tta, output=output)
    return oof, _kind_for(output)


def search_store(
    store: Any,
    *,
    metric: str | None = None,
    rule: str = D.RULE,
    models: list[str] | None = None,
    tta: str | int = D.TTA,
    plan_only: bool = False,
    allow_in_sample: bool = False,
    **kwargs,
):
    """Load the store's OOF predictions and run (or plan) the subset search.

    In-sample models (``blend apply --write-model``) are left out unless ``allow_in_sample``.
    Returns a :class:`~blend.search.SearchResult` (or a ``SearchPlan`` with ``plan_only``).
    With ``nested=True`` its ``extra["mean_score"]`` is the plain mean of every model on the
    same rows (nothing fitted, so already nested): the bar the selection must clear.
    """
    metric = D.metric_for(store.task, metric)  # a metric unfit for the task fails here, early
    oof, kind = _load(store, models, tta, rule, allow_in_sample)
    args = dict(metric=metric, rule=rule, kind=kind, names=oof.models, **kwargs)
    if plan_only:
        keep = {"metric", "rule", "kind", "names", "min_size", "max_size", "must_include",
                "exclude", "method", "time_budget", "n_jobs", "device"}
        return plan_search(oof.preds, oof.y, oof.folds, **{k: v for k, v in args.items() if k in keep})
    result = search_subsets(oof.preds, oof.y, oof.folds, **args)
    if result.nested_score is not None:  # the bar the nested score must clear, same rows
        from blend.combine import combine
        from blend.metrics import get_metric

        mean = combine(oof.preds, rule=rule, kind=kind)
        result.extra["mean_score"] = float(get_metric(result.metric)(oof.y, mean))
    return result


def recipe_from_result(result: SearchResult, store: Any, tta: str | int = "mean", rank: int = 1) -> Recipe:
    """A recipe for the ``rank``-th subset (1 = best) of a search result."""
    r = result.results[rank - 1]
    return Recipe.for_store(
        store,
        r.models,
        rule=result.rule,
        tta=tta,
        metric=result.metric,
        score=r.score,
        nested_score=result.nested_score,
        source="search",
    )
