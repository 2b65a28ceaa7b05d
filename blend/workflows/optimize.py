"""``blend optimize`` at the store level: load the OOF predictions, fit weights, a recipe.

``optimize_store(store, ...)`` loads the OOF predictions and calls the pure
:func:`blend.optimize.optimize`; :func:`recipe_from_result` turns its result into a recipe.
See ``docs/commands/optimize.md``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import rule_space
from blend.metrics import metric_from_file
from blend.optimize import OptimizeResult, available_optimizers, optimize
from blend.workflows import _defaults as D
from blend.workflows._models import resolve_models

__all__ = ["optimize_store", "models_from_search", "selection_from_search", "default_storage",
           "recipe_from_result"]


def models_from_search(path: str | Path, rank: int = 1) -> list[str]:
    """The models of the ``rank``-th result (1 = best) of a ``blend search --json`` file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise BlendError(f"{path} is not JSON ({exc}); pass the file `blend search --json` wrote") from exc
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not results:
        raise BlendError(f"{path} has no 'results' list; pass the file `blend search --json` wrote")
    if not 1 <= rank <= len(results):
        raise BlendError(f"--rank must be between 1 and {len(results)} for {path}; got {rank}")
    models = results[rank - 1].get("models")
    if not isinstance(models, list) or not models:
        raise BlendError(f"result {rank} in {path} has no 'models' list")
    return [str(m) for m in models]


def _read_search(path: str | Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise BlendError(f"{path} is not JSON ({exc}); pass the file `blend search --json` wrote") from exc
    except OSError as exc:
        raise BlendError(f"cannot read {path}: {exc.strerror}") from exc
    if not isinstance(data, dict):
        raise BlendError(f"{path} is not a `blend search --json` file")
    return data


def selection_from_search(store: Any, path: str | Path, rank: int = 1,
                          allow_in_sample: bool = False, metric: Any = None):
    """The subset search of a ``blend search --json`` file, as a function of the rows.

    Returns ``(candidates, select, chosen)``: the models the search chose among, a function
    ``select(rows) -> indices into candidates`` that reruns the same search (metric, rule,
    method, sizes, required and excluded models, TTA handling) on those rows only and
    returns its ``rank``-th subset, and the ``rank``-th subset the file records. Rerun
    inside each outer fold, the selection is covered by the nested score.
    """
    from blend.recipe import _kind_for, load_output_for
    from blend.search import search_subsets

    data = _read_search(path)
    results = data.get("results")
    if not isinstance(results, list) or not results:
        raise BlendError(f"{path} has no 'results' list; pass the file `blend search --json` wrote")
    if not 1 <= rank <= len(results):
        raise BlendError(f"--rank must be between 1 and {len(results)} for {path}; got {rank}")
    missing = [k for k in ("models", "metric", "rule", "method") if k not in data]
    if missing:
        raise BlendError(
            f"{path} lacks the search's {', '.join(missing)}: without them the subset search "
            "cannot be rerun inside the outer folds, and a nested score would not cover the "
            "selection. Rerun `blend search --json` (or pass --models)"
        )
    # the file's metric is data: a custom module:function in it is imported only when the
    # user named the same metric (``metric``: --metric or the Python API)
    search_metric = metric_from_file(data["metric"], str(path), given=metric)
    chosen = results[rank - 1].get("models")
    if not isinstance(chosen, list) or not chosen:
        raise BlendError(f"result {rank} in {path} has no 'models' list")
    candidates = [str(m) for m in data["models"]]
    settings = dict(data.get("settings") or {})
    resolve_models(store, candidates, need=2, what="--from-search",
                   allow_in_sample=allow_in_sample)
    tta = settings.get("tta", "mean")
    output = load_output_for(data["rule"], store.task)
    oof = store.load_oof(candidates, tta=tta, output=output)
    kind = _kind_for(output)
    method = data["method"] if data["method"] in ("exact", "exhaustive", "beam") else "auto"

    def select(rows: np.ndarray) -> list[int]:
        res = search_subsets(
            oof.preds[:, :, rows], oof.y[rows], metric=search_metric, rule=data["rule"],
            kind=kind, top=rank, min_size=settings.get("min_size", 1),
            max_size=settings.get("max_size"), must_include=settings.get("must_include") or (),
            exclude=settings.get("exclude") or (), names=candidates, method=method,
            beam_width=settings.get("beam_width"), n_jobs=1,
        )
        if len(res.results) < rank:  # never fall back to a lower-ranked subset silently
            raise BlendError(
                f"the search of {path} rerun on {len(rows)} rows returned "
                f"{len(res.results)} subsets, fewer than --rank {rank}: that rank does not "
                "exist there; pass a smaller --rank")
        return list(res.results[rank - 1].indices)

    return candidates, select, [str(m) for m in chosen]


def default_storage(store: Any) -> str | None:
    """``<store>/optuna.journal`` (an Optuna journal file) for a local store, else None.

    A journal file is Optuna's own multi-process storage; it is ten times faster than SQLite
    for these small trials (see ``blend.optimize._optuna``). Pass ``--storage
    sqlite:///...`` or ``postgresql://...`` for an RDB.
    """
    uri = str(store.uri)
    if "://" in uri and not uri.startswith("file://"):
        return None
    root = Path(uri.removeprefix("file://")).resolve()
    return str(root / "optuna.journal")


def _default_study_name(store: Any, models: list[str], metric: str, rule: str,
                        flags: str) -> str:
    h = hashlib.sha1("\0".join(models).encode()).hexdigest()[:8]
    fp = str(getattr(store, "fingerprint", ""))[:8]
    return f"blend-optimize-{fp}-{metric}-{rule}{flags}-{h}"


def _tta_mode(store: Any, models: list[str], tta_weights: bool) -> str:
    """How the store is asked for TTA views.

    ``"all"`` (every view, averaged or weighted in the rule's space by the blend) when TTA
    weights are asked for or the models have the same number of views, else ``"mean"``.
    """
    n_views = {len(store.manifest(m).get("tta_views") or [None]) for m in models}
    return "all" if (tta_weights or len(n_views) == 1) else "mean"


def optimize_store(
    store: Any,
    *,
    method: str = D.OPTIMIZE_METHOD,
    metric: str | None = None,
    rule: str = D.RULE,
    models: list[str] | None = None,
    tta_weights: bool = False,
    per_class: bool = False,
    temperature: bool = False,
    seed: int = D.SEED,
    nested: bool = True,
    params: dict[str, Any] | None = None,
    executor: Any = None,
    progress: Any = None,
    from_search: str | Path | None = None,
    rank: int = 1,
    allow_in_sample: bool = False,
) -> OptimizeResult:
    """Load ``store``'s OOF predictions and fit weights (see :func:`blend.optimize.optimize`).

    With ``from_search`` (a ``blend search --json`` file), the weights are fitted on the
    ``rank``-th subset of that search, and the search is rerun on the training rows of every
    outer fold, so that the nested score covers the selection as well as the weights; the
    result's ``conditional_nested_score`` is the old, optimistic number (the subset fixed to
    the one chosen on all rows).

    With ``method="optuna"`` and no ``storage`` in ``params``, the study is kept in
    ``<store>/optuna.journal`` (local stores) under a name derived from the store, the models, the
    metric and the rule, so that re-running the same command resumes it. ``executor`` runs
    the fits as tasks (see :func:`blend.optimize.optimize`).
    """
    if method not in available_optimizers():
        raise BlendError(
            f"unknown method {method!r}; choose one of: {', '.join(available_optimizers())}"
        )
    select = None
    if from_search is not None:
        if models:
            raise BlendError("give either --models or --from-search, not both")
        models, select, recorded = selection_from_search(store, from_search, rank,
                                                         allow_in_sample, metric=metric)
        again = [models[i] for i in select(np.arange(len(store.ids)))]
        if sorted(again) != sorted(recorded):
            raise BlendError(
                f"the search of {from_search} rerun on all rows chooses {', '.join(again)}, "
                f"but the file records {', '.join(recorded)} at rank {rank}: the store or the "
                "search changed since; rerun `blend search --json`"
            )
    models = resolve_models(store, models, need=2, what="weight optimisation",
                            allow_in_sample=allow_in_sample)
    metric = D.metric_for(store.task, metric)
    regression = store.task == "regression"
    output = rule_space(rule)
    tta = _tta_mode(store, models, tta_weights)
    oof = store.load_oof(models, tta=tta, output="raw" if regression else output)
    kind = "raw" if regression else output
    params = dict(params or {})
    if method == "optuna":
        if "storage" not in params:
            params["storage"] = default_storage(store)
        if params.get("storage") and not params.get("study_name"):
            flags = ("-tta" if tta_weights else "") + ("-pc" if per_class else "") + (
                "-temp" if temperature else "")
            params["study_name"] = _default_study_name(store, models, metric, rule, flags)
    return optimize(
        oof.preds, oof.y, oof.folds,
        method=method, metric=metric, rule=rule, kind=kind, task=store.task,
        models=list(oof.models), tta_views=list(oof.tta_views), tta_weights=tta_weights,
        per_class=per_class, temperature=temperature, nested=nested, rng=seed, params=params,
        executor=executor,
        progress=progress,
        select=select,
    )


def recipe_from_result(result: OptimizeResult, store: Any):
    """The :class:`blend.recipe.Recipe` of a result of :func:`optimize_store` on ``store``.

    It holds everything the fit produced: one weight per model, or per (model, TTA view)
    (``tta_weights``), or per (model, class) (``per_class``), and the per-model (or per
    (model, view)) temperatures. Applied to the store's OOF rows it reproduces
    ``result.score``: the recipe blends with the same functions as the optimiser.
    """
    from blend.recipe import Recipe

    models = list(result.models) if result.selected is None else list(result.selected)
    tta_weighted = result.unit_weights is not None and not result.per_class
    fields: dict[str, Any] = {}
    if tta_weighted:
        views = list(next(iter(result.unit_weights.values())))
        fields["view_weights"] = tuple(tuple(result.unit_weights[m][v] for v in views)
                                       for m in models)
        if result.temperatures is not None:
            fields["temperatures"] = tuple(tuple(result.temperatures[f"{m}[{v}]"] for v in views)
                                           for m in models)
    else:
        if result.per_class:
            n_cls = len(store.class_names)
            fields["class_weights"] = tuple(tuple(result.unit_weights[m][str(c)]
                                                  for c in range(n_cls)) for m in models)
        else:
            fields["weights"] = tuple(result.weights[m] for m in models)
        if result.temperatures is not None:
            fields["temperatures"] = tuple(result.temperatures[m] for m in models)
    return Recipe.for_store(
        store,
        models,
        rule=result.rule,
        tta=_tta_mode(store, models, tta_weighted),
        metric=result.metric,
        score=result.score,
        nested_score=result.nested_score,
        source=f"optimize:{result.method}",
        **fields,
    )
