"""``blend compare`` at the store level: load the store, compare, write stackers, a recipe.

:func:`compare_store` connects a store to the pure :func:`blend.compare.compare`;
:func:`write_stackers` writes the stackers a recommendation needs into the store, and
:func:`recipe_for` turns the recommendation into a recipe for ``blend apply``.
See ``docs/commands/compare.md``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.compare import BUDGETS, CompareData, CompareResult, compare
from blend.workflows import _defaults as D
from blend.workflows._models import resolve_models, without_stackers
from blend.workflows._write_back import as_block, write_model
from oof_common.outputs import check_output_path

__all__ = ["compare_models", "load_data", "compare_store", "recipe_for", "write_stackers", "recipe_with_stackers",
           "write_html"]


def compare_models(store: Any, models: Sequence[str] | None = None, *,
                   allow_in_sample: bool = False) -> list[str]:
    """The models ``blend compare`` runs on: ``models`` checked, or every base model.

    Level-2 models (``source="stack"``) are left out of the default list (compare fits its
    own stackers, properly nested); in-sample models (:mod:`oof_store.flags`) are left out,
    and refused by name, unless ``allow_in_sample``.
    """
    return resolve_models(store, models, need=2, what="compare", default=without_stackers(store),
                          allow_in_sample=allow_in_sample)


def load_data(store: Any, models: Sequence[str] | None = None, *,
              need_logits: bool = True, allow_in_sample: bool = False) -> CompareData:
    """The store's OOF predictions as :class:`CompareData` (TTA views averaged)."""
    chosen = compare_models(store, models, allow_in_sample=allow_in_sample)
    regression = store.task == "regression"
    oof = store.load_oof(chosen, tta="mean", output="raw" if regression else "probs")
    logits = None
    if need_logits and not regression:
        logits = store.load_oof(chosen, tta="mean", output="logits").preds
    return CompareData(probs=oof.preds, y=oof.y, folds=oof.folds, task=store.task,
                       models=list(oof.models), logits=logits)


def compare_store(store: Any, *, models: Sequence[str] | None = None, metric: str | None = None,
                  methods: Sequence[str] | None = None, budget: str = D.COMPARE_BUDGET,
                  procedure: bool = True, seed: int = D.SEED, n_jobs: int | None = None,
                  progress: Any = None, allow_in_sample: bool = False,
                  executor: Any = None, time_limit: float | str | None = None,
                  on_plan: Any = None) -> CompareResult:
    """Load ``store`` and run :func:`blend.compare.compare` on it.

    In-sample models are left out (refused by name) unless ``allow_in_sample``
    (:func:`compare_models`). ``executor`` runs the candidates' fits as tasks (e.g. on Ray;
    see :mod:`oof_store.distributed`).
    """
    if budget not in BUDGETS:
        raise BlendError(f"unknown --budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    if metric is not None:
        from blend.metrics import get_metric

        get_metric(metric, store.task)  # fail before loading
    data = load_data(store, models, allow_in_sample=allow_in_sample)
    return compare(data, metric=metric, methods=methods, budget=budget, procedure=procedure,
                   seed=seed, n_jobs=n_jobs, progress=progress, executor=executor,
                   time_limit=time_limit, on_plan=on_plan)


def _stackers_needed(res: CompareResult, name: str) -> list[str]:
    cand = res.engine.by_name[name]
    if cand.kind == "stacker":
        return [cand.name]
    return list(cand.depends)


def write_stackers(store: Any, res: CompareResult, names: Sequence[str], *, prefix: str = "compare_",
                   overwrite: bool = False) -> dict[str, str]:
    """Write the stacker candidates ``names`` into the store as level-2 models.

    Each written model's OOF rows are its outer-fold predictions (the fit that never saw
    the row's fold) and its test predictions are each outer-fold fit's, per fold, as
    ``stack`` writes them (``source="stack"``). Returns ``{candidate: model name}``.
    """
    from blend.stack import make_features

    eng = res.engine
    data = eng.data
    out = {}
    for name in names:
        cand = eng.by_name[name]
        model = prefix + cand.extra["stacker"]
        if model in data.models:
            raise BlendError(f"model name {model!r} is one of the compared models; pass another --prefix")
        if model in store.models(include_incomplete=True) and not overwrite:
            raise BlendError(f"model {model!r} is already in the store {store.uri}; pass "
                             "--overwrite or another --prefix")
        out[name] = model
    for name, model in out.items():
        cand = eng.by_name[name]
        X_test = None
        if len(store.test_ids):
            ts = store.load_test(data.models, tta="mean", folds="mean",
                                 output="raw" if data.regression else "probs")
            X_test = make_features(ts.preds, features=cand.extra["features"], task=data.task)
        score = next(s for s in res.candidates if s.name == name)
        oof = {k: as_block(_squeeze(eng.predict(name, {k}, k), data)) for k in eng.fold_ids}
        test = None
        if X_test is not None:
            test = {k: as_block(np.mean([_predict_one(cand, m, X_test) for m in eng.fit(name, {k})],
                                        axis=0))
                    for k in eng.fold_ids}
        # one write: an existing model is replaced all at once, never removed first
        write_model(
            store, model, "blend compare", oof=oof, test=test, replace=True,
            kind="raw" if data.regression else "probs",
            params={"stacker": cand.extra["stacker"], "written_by": "blend compare",
                    "features": cand.extra["features"], "models": list(data.models),
                    "metric": res.metric, "nested_score": score.nested_score,
                    "fold_scores": list(score.fold_scores)},
            source="stack",
            parents=list(data.models),
            overwrite=True,
            fitted_on_all_rows=False,  # nested; in-sample over in-sample models (write_model)
        )
    return out


def _squeeze(pred: np.ndarray, data: CompareData) -> np.ndarray:
    return pred[:, 0] if data.regression else pred


def _predict_one(cand, fitted, X):
    from blend.stack import get_stacker

    return get_stacker(cand.extra["stacker"]).predict_one(fitted, X, None)


def recipe_for(store: Any, res: CompareResult, written: dict[str, str] | None = None) -> Any:
    """The recommendation as a recipe for ``blend apply``.

    Stacker and level-3 recommendations name the stackers written by :func:`write_stackers`
    (``written``: candidate -> model name).
    """
    from blend.recipe import Recipe

    eng = res.engine
    data = eng.data
    rec = res.recommended
    cand = eng.by_name[rec.name]
    common = {"metric": res.metric, "score": rec.in_sample_score, "nested_score": rec.nested_score,
              "source": f"compare:{rec.name}"}
    everyone = frozenset()
    if "cuts" in cand.extra:  # ordinal: weights and cut points into grades
        w, cuts = eng.fit(cand, everyone)
        return Recipe.for_store(store, data.models, rule="prob", weights=tuple(float(x) for x in w),
                                cuts=tuple(float(c) for c in cuts),
                                grades=tuple(cand.extra["grades"]), **common)
    if cand.kind == "mean":
        return Recipe.for_store(store, data.models, rule="prob", **common)
    if cand.name == "best single":
        return Recipe.for_store(store, (data.models[eng.fit(cand, everyone)],), rule="prob", **common)
    if cand.kind == "selection":
        idx = eng.fit(cand, everyone)
        return Recipe.for_store(store, [data.models[i] for i in idx], rule="prob", **common)
    if cand.kind == "weights":
        w, temps = _weights_and_temperatures(eng.fit(cand, everyone), cand)
        return Recipe.for_store(store, data.models, rule=cand.extra["rule"],
                                weights=tuple(float(x) for x in w), temperatures=temps, **common)
    need = _stackers_needed(res, cand.name)
    missing = [n for n in need if not written or n not in written]
    if missing:
        raise BlendError(f"the recommendation {cand.name!r} needs the stacker(s) {missing} "
                         "written into the store; run without --no-write")
    models = [written[n] for n in need]
    if cand.kind == "stacker":
        return Recipe.for_store(store, models, rule="prob", **common)
    w, temps = _weights_and_temperatures(eng.fit(cand, everyone), cand)
    if cand.extra.get("base"):  # level 3 over the base models and the stackers
        models = list(data.models) + models
    return Recipe.for_store(store, models, rule=cand.extra.get("rule", "prob"),
                            weights=tuple(float(x) for x in w), temperatures=temps, **common)


def _weights_and_temperatures(state: Any, cand: Any) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """A weighting state as recipe fields: one temperature for the blend = every model's."""
    if not cand.extra.get("temperature"):
        return np.asarray(state), None
    w, T = state
    return np.asarray(w), (float(T),) * len(w)


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.5f}"


def write_html(res: CompareResult, path: str | Path) -> None:
    """A standalone HTML page with the leaderboard and the recommendation."""
    e = html.escape
    rows = "".join(
        f"<tr{' class=rec' if c.name == res.recommended.name else ''}><td>{e(c.name)}"
        f"{' (baseline)' if c.baseline else ''}</td><td>{_fmt(c.nested_score)}</td>"
        f"<td>{' '.join(f'{s:.4f}' for s in c.fold_scores)}</td><td>{c.spread:.4f} / {c.se:.4f}</td>"
        f"<td>{_fmt(c.in_sample_score)}</td><td>{c.seconds:.1f}</td></tr>"
        for c in res.candidates
    )
    proc = _fmt(res.procedure_nested_score)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>blend compare</title><style>"
        "body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}"
        ".rec{font-weight:bold;background:#dfd}</style></head><body>"
        f"<h1>blend compare: nested {e(res.metric)}</h1><table><tr><th>candidate</th><th>nested</th>"
        f"<th>fold scores</th><th>spread / SE</th><th>in-sample</th><th>seconds</th></tr>{rows}</table>"
        f"<p>Recommended: <b>{e(res.recommended.name)}</b>. {e(res.reason)}</p>"
        f"<p>Procedure score (doubly nested): <b>{proc}</b></p></body></html>\n"
    )
    check_output_path(path, "the HTML page")
    Path(path).write_text(page, encoding="utf-8")


def recipe_with_stackers(store: Any, res: CompareResult, *, write: bool = True,
                         prefix: str = D.COMPARE_PREFIX, overwrite: bool = False
                         ) -> tuple[Any, dict[str, str] | None]:
    """The recommendation's recipe, writing the stackers it needs first (``--recipe``).

    Returns the recipe and ``{candidate: model name}`` of the stackers written (None when
    the recommendation needs none). ``write=False`` (``--no-write``) raises when it does.
    """
    written = None
    need = _stackers_needed(res, res.recommended.name)
    if need:
        if not write:
            raise BlendError(f"the recommendation {res.recommended.name!r} needs its stacker(s) "
                             "written into the store for a recipe; drop --no-write")
        written = write_stackers(store, res, need, prefix=prefix, overwrite=overwrite)
    return recipe_for(store, res, written), written
