"""The notebook face of the library: one call per command, results that show themselves.

``import blend`` gives :func:`compare`, :func:`optimize`, :func:`search`, :func:`stack`,
:func:`report` and :func:`open_store` (``blend.compare(store)`` ...). Each takes a store (an
:class:`oof_store.Store` or its path), runs what the command of the same name runs with the
same defaults (:mod:`blend.workflows._defaults`), and returns a result that

- renders in a notebook (``_repr_html_``: the leaderboard and the headline numbers),
- has ``leaderboard()``: a pandas DataFrame, one row per candidate / model / subset,
- has ``to_dict()``: the JSON the command's ``--json`` writes, key for key,
- has ``to_recipe()`` where the command writes a recipe; ``recipe.apply(store)`` gives the
  submission (:class:`blend.workflows.apply.Submission`, ``.to_csv(path)``),
- passes every other attribute through to the algorithm's own result (``res.result``).

Example::

    import blend
    store = blend.open_store("my-store")
    res = blend.compare(store, metric="auc")
    res.leaderboard()
    res.recommended, res.procedure_score
    res.to_recipe().apply(store).to_csv("submission.csv")
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from blend._errors import BlendError
from blend.workflows import _defaults as D
from blend.workflows._models import honesty_facts, level2_facts

__all__ = ["open_store", "compare", "optimize", "search", "stack", "report", "WorkflowResult",
           "CompareRun", "OptimizeRun", "SearchRun", "StackRun", "ReportRun"]


def open_store(store: Any) -> Any:
    """The store at ``store`` (a path or URI); a store object is returned unchanged."""
    if isinstance(store, (str, os.PathLike)):
        from oof_store import Store

        return Store(store)
    if not hasattr(store, "load_oof"):
        raise BlendError(f"expected an OOF store or its path; got {type(store).__name__}. "
                         "Pass blend.open_store(path) or a path")
    return store


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.5f}" if isinstance(x, float) else str(x)


@dataclass(frozen=True, repr=False)
class WorkflowResult:
    """A command's result at the store level: the algorithm's result plus what the JSON adds.

    Attributes
    ----------
    result : object
        The algorithm's own result (``CompareResult``, ``OptimizeResult``, ...); its
        attributes are reachable on this object too.
    store : oof_store.Store
        The store it ran on (for ``to_recipe`` and the honesty facts).
    facts : dict
        What the command's JSON adds to ``result.to_dict()`` (the honesty of the models
        used, how to read the scores ...).
    """

    result: Any
    store: Any = field(compare=False)
    facts: dict[str, Any] = field(default_factory=dict)

    command: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON the command's ``--json`` writes."""
        return {**self.result.to_dict(), **self.facts}

    def leaderboard(self):  # pragma: no cover - every subclass defines it
        """One row per candidate, as a pandas DataFrame."""
        raise NotImplementedError

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        return []

    def summary(self) -> str:
        """The headline as one line of text."""
        return "; ".join(self.headline())

    def _repr_html_(self) -> str:
        lines = "".join(f"<p>{html.escape(t)}</p>" for t in self.headline())
        table = self.leaderboard().to_html(index=False, float_format=lambda v: f"{v:.5f}",
                                           na_rep="-")
        return f"<div><h4>{html.escape(self.command)}</h4>{lines}{table}</div>"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.summary()}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "result"), name)


def _frame(rows: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(rows)


def _folds(fold_ids: Sequence[int], values: Sequence[float]) -> dict[str, float]:
    return {f"fold {k}": float(v) for k, v in zip(fold_ids, values, strict=True)}


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True, repr=False)
class CompareRun(WorkflowResult):
    """What :func:`compare` found: the leaderboard, the recommendation, the procedure score."""

    command: ClassVar[str] = "blend compare"

    @property
    def recommended(self) -> Any:
        """The recommended candidate's leaderboard row (``.name``, ``.nested_score`` ...)."""
        return self.result.recommended

    @property
    def procedure_score(self) -> float | None:
        """The honest (doubly nested) score of "run compare and submit its recommendation"."""
        return self.result.procedure_nested_score

    def leaderboard(self):
        """One row per candidate, best nested score first (as ``blend compare`` prints it)."""
        res = self.result
        return _frame([
            {"candidate": c.name, "nested_score": c.nested_score, "spread": c.spread,
             "se": c.se, "in_sample_score": c.in_sample_score, "seconds": c.seconds,
             "kind": c.kind, "baseline": c.baseline, "recommended": c.name == res.recommended.name,
             **_folds(res.fold_ids, c.fold_scores)}
            for c in res.candidates
        ])

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        res = self.result
        return [f"nested {res.metric}; recommended: {res.recommended.name} "
                f"({_fmt(res.recommended.nested_score)}). {res.reason}",
                f"procedure score (doubly nested): {_fmt(res.procedure_nested_score)}"]

    def to_recipe(self, *, write: bool = True, prefix: str = D.COMPARE_PREFIX,
                  overwrite: bool = False) -> Any:
        """The recommendation as a :class:`blend.recipe.Recipe`.

        A stacker or level-3 recommendation needs its stackers in the store: they are
        written (as ``blend compare --recipe`` does) unless ``write=False``, which raises.
        """
        from blend.workflows.compare import recipe_with_stackers

        return recipe_with_stackers(self.store, self.result, write=write, prefix=prefix,
                                    overwrite=overwrite)[0]


def compare_facts(store: Any, res: Any) -> dict[str, Any]:
    """What ``blend compare --json`` adds to the result's dict."""
    models = list(res.engine.data.models)
    return {"models": models, **honesty_facts(store, models)}


def compare(store: Any, *, metric: str | None = None, models: Sequence[str] | None = None,
            methods: Sequence[str] | None = None, budget: str = D.COMPARE_BUDGET,
            procedure: bool = True, seed: int = D.SEED, n_jobs: int | None = None,
            progress: Any = None, allow_in_sample: bool = False,
            executor: Any = None, time_limit: float | str | None = None) -> CompareRun:
    """Compare every blend and stacker under the same folds (``blend compare``).

    Parameters are :func:`blend.workflows.compare.compare_store`'s; ``store`` may be a path.
    """
    from blend.workflows.compare import compare_store

    store = open_store(store)
    res = compare_store(store, models=models, metric=metric, methods=methods, budget=budget,
                        procedure=procedure, seed=seed, n_jobs=n_jobs, progress=progress,
                        allow_in_sample=allow_in_sample, executor=executor,
                        time_limit=time_limit)
    return CompareRun(res, store, compare_facts(store, res))


# --------------------------------------------------------------------------- optimize


@dataclass(frozen=True, repr=False)
class OptimizeRun(WorkflowResult):
    """Fitted blend weights, in-sample and nested scores (:func:`optimize`)."""

    command: ClassVar[str] = "blend optimize"

    def leaderboard(self):
        """One row per model: its weight, and its weight fitted without each fold."""
        r = self.result
        return _frame([
            {"model": m, "weight": r.weights.get(m, 0.0),
             **{f"fold {k}": fw.get(m, 0.0) for k, fw in zip(r.fold_ids, r.fold_weights,
                                                            strict=True)}}
            for m in r.models
        ])

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        r = self.result
        return [f"{r.method} weights, rule {r.rule}: in-sample {r.metric} {_fmt(r.score)}, "
                f"nested {_fmt(r.nested_score)}"]

    def to_recipe(self) -> Any:
        """The fitted blend as a :class:`blend.recipe.Recipe`."""
        from blend.workflows.optimize import recipe_from_result

        return recipe_from_result(self.result, self.store)


def _refuse_ordinal(store: Any, metric: str | None, what: str) -> None:
    from blend.workflows.ordinal import is_ordinal

    if is_ordinal(store, metric):
        raise BlendError(f"{what} with cut points (--metric qwk on a regression store) runs "
                         "through blend.workflows.ordinal (e.g. ordinal_optimize_store) or the "
                         "command; blend.compare(store, metric='qwk') compares it too")


def optimize(store: Any, *, method: str = D.OPTIMIZE_METHOD, metric: str | None = None,
             rule: str = D.RULE, models: list[str] | None = None, tta_weights: bool = False,
             per_class: bool = False, temperature: bool = False, seed: int = D.SEED,
             nested: bool = True, params: dict[str, Any] | None = None, executor: Any = None,
             progress: Any = None, from_search: str | os.PathLike[str] | None = None,
             rank: int = 1, allow_in_sample: bool = False) -> OptimizeRun:
    """Fit blend weights with nested CV (``blend optimize``).

    Parameters are :func:`blend.workflows.optimize.optimize_store`'s; ``store`` may be a path.
    """
    from blend.workflows.optimize import optimize_store

    store = open_store(store)
    _refuse_ordinal(store, metric, "blend.optimize")
    res = optimize_store(store, method=method, metric=metric, rule=rule, models=models,
                         tta_weights=tta_weights, per_class=per_class, temperature=temperature,
                         seed=seed, nested=nested, params=params, executor=executor,
                         progress=progress, from_search=from_search, rank=rank,
                         allow_in_sample=allow_in_sample)
    return OptimizeRun(res, store, {**honesty_facts(store, res.models),
                                    **level2_facts(store, res.models)})


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, repr=False)
class SearchRun(WorkflowResult):
    """The best subsets of models (:func:`search`)."""

    command: ClassVar[str] = "blend search"

    def leaderboard(self):
        """One row per subset, best first: score, size, fold scores, models."""
        r = self.result
        return _frame([
            {"rank": i, "score": s.score, "size": s.size,
             **_folds(r.fold_ids, s.fold_scores), "models": ", ".join(s.models)}
            for i, s in enumerate(r.results, 1)
        ])

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        return [self.result.summary()]

    def to_recipe(self, rank: int = 1) -> Any:
        """The ``rank``-th subset (1 = best) as a :class:`blend.recipe.Recipe`."""
        from blend.workflows.search import recipe_from_result

        tta = self.facts.get("settings", {}).get("tta", D.TTA)
        return recipe_from_result(self.result, self.store, tta=tta, rank=rank)


def search_facts(store: Any, result: Any, models: Sequence[str], settings: dict[str, Any]
                 ) -> dict[str, Any]:
    """What ``blend search --json`` adds to the result's dict."""
    return {
        "score_is": "in-sample: each subset scored on every OOF row it was chosen on",
        "nested_score_is": (None if result.nested_score is None else
                            "nested: pooled held-out predictions; each fold's subset "
                            "chosen on the other folds"),
        **honesty_facts(store, models),
        **level2_facts(store, models),
        # what `blend optimize --from-search` needs to rerun this search inside its folds
        "settings": settings,
    }


def search(store: Any, *, top: int = D.SEARCH_TOP, metric: str | None = None,
           rule: str = D.RULE, models: list[str] | None = None, tta: str | int = D.TTA,
           min_size: int = 1, max_size: int | None = None, must_include: Sequence[str] = (),
           exclude: Sequence[str] = (), method: str = "auto",
           time_budget: float = D.SEARCH_TIME_BUDGET, beam_width: int | None = None,
           nested: bool = False, n_jobs: int = D.SEARCH_JOBS, device: str | None = None,
           progress: Any = None, allow_in_sample: bool = False,
           executor: Any = None) -> SearchRun:
    """Search the best subsets of models (``blend search``); ``store`` may be a path."""
    from blend.workflows._models import resolve_models
    from blend.workflows.search import search_store

    store = open_store(store)
    _refuse_ordinal(store, metric, "blend.search")
    res = search_store(store, metric=metric, rule=rule, models=models, tta=tta, top=top,
                       min_size=min_size, max_size=max_size, must_include=must_include,
                       exclude=exclude, method=method, time_budget=time_budget,
                       beam_width=beam_width, nested=nested, n_jobs=n_jobs, device=device,
                       progress=progress, allow_in_sample=allow_in_sample, executor=executor)
    chosen = resolve_models(store, models, need=2, what="subset search",
                            allow_in_sample=allow_in_sample)
    settings = {"tta": tta, "min_size": min_size, "max_size": max_size,
                "must_include": list(must_include), "exclude": list(exclude),
                "beam_width": beam_width}
    return SearchRun(res, store, search_facts(store, res, chosen, settings))


# --------------------------------------------------------------------------- stack


@dataclass(frozen=True, repr=False)
class StackRun(WorkflowResult):
    """A stacker fitted with nested CV, and the model it was written as (:func:`stack`)."""

    written: str | None = None

    command: ClassVar[str] = "stack"

    def leaderboard(self):
        """The stacker beside the best base model and the plain mean, scored the same way."""
        r = self.result
        rows = [{"what": f"stack {r.stacker} (nested)", "score": r.nested_score, "gain": None}]
        if r.best_base is not None:
            rows.append({"what": f"best base model: {r.best_base['model']}",
                         "score": r.best_base["score"], "gain": r.gain(r.best_base["score"])})
        if r.mean_blend_score is not None:
            rows.append({"what": "plain mean of the models", "score": r.mean_blend_score,
                         "gain": r.gain(r.mean_blend_score)})
        return _frame(rows)

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        r = self.result
        where = (f"written as model {self.written!r}" if self.written else "not written")
        return [f"stack {r.stacker}: nested {r.metric} {_fmt(r.nested_score)}; {where}"]

    def to_recipe(self) -> Any:
        """A recipe whose blend is the written-back stacker alone."""
        from blend.workflows.stack import stack_recipe

        if not self.written:
            raise BlendError("the stacker was not written into the store (write=False); a "
                             "recipe needs it there: run blend.stack(store, ..., write=True)")
        return stack_recipe(self.store, self.result, self.written)


def stack_facts(store: Any, res: Any) -> dict[str, Any]:
    """What ``stack --json`` adds to the result's dict."""
    return {"nested_score_is": "nested: pooled outer-fold predictions; each "
            "fold's stacker (and its --hpo search) fitted on the other folds",
            "best_base_is": "in-sample pick: the best base model's pooled OOF score, the pick "
            "made on every row", "mean_blend_score_is": "pooled OOF score of the plain mean "
            "(nothing chosen from the labels)",
            **honesty_facts(store, res.params.get("models") or [])}


def stack(store: Any, stacker: str = "lgbm", *, models: Sequence[str] | None = None,
          features: str | None = D.STACK_FEATURES, tta: str = D.TTA,
          extra_features: str | os.PathLike[str] | None = None, hpo: int = 0, seeds: int = 1,
          metric: str | None = None, params: dict[str, Any] | None = None,
          name: str | None = None, write: bool = True, overwrite: bool = False,
          seed: int = D.SEED, progress: Any = None, n_jobs: int | None = None,
          executor: Any = None, allow_in_sample: bool = False) -> StackRun:
    """Fit ``stacker`` with nested CV and write it back as a level-2 model (``stack NAME``).

    Parameters are :func:`blend.workflows.stack.run_stack`'s; ``store`` may be a path.
    """
    from blend.workflows.stack import run_stack

    store = open_store(store)
    _refuse_ordinal(store, metric, "blend.stack")
    res, written = run_stack(store, stacker, models=models, features=features, tta=tta,
                             extra_features=extra_features, hpo=hpo, seeds=seeds, metric=metric,
                             params=params, name=name, write=write, overwrite=overwrite,
                             seed=seed, progress=progress, n_jobs=n_jobs, executor=executor,
                             allow_in_sample=allow_in_sample)
    return StackRun(res, store, stack_facts(store, res), written)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, repr=False)
class ReportRun(WorkflowResult):
    """The OOF report of the store's models (:func:`report`)."""

    command: ClassVar[str] = "blend report"
    #: With ``ordinal`` (or qwk on a regression store): the ordinal section
    #: (:class:`blend.ordinal.OrdinalReport`: QWK rounded and with nested cut points).
    ordinal: Any = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``blend report --json`` writes (``ordinal`` with the ordinal section)."""
        d = super().to_dict()
        if self.ordinal is not None:
            d["ordinal"] = self.ordinal.to_dict()
        return d

    def leaderboard(self):
        """One row per model, then the plain mean of all: score, fold scores, secondary metrics."""
        r = self.result
        return _frame([
            {"model": s.name, r.metric: s.score, **_folds(r.fold_ids, s.fold_scores),
             **{k: float(v) for k, v in s.secondary.items()}}
            for s in [*r.models, r.blend]
        ])

    def headline(self) -> list[str]:
        """The lines shown above the leaderboard."""
        r = self.result
        lines = [f"{len(r.models)} models, {r.n_rows} rows, {r.task}; OOF {r.metric} "
                 f"(the last row is the plain mean of all)", *r.notes]
        if self.ordinal is not None:
            mean = self.ordinal.rows[-1]
            lines.append(f"ordinal: QWK of the mean of all {mean['rounded']:.5f} rounded, "
                         f"{mean['cuts']:.5f} with nested cut points ({self.ordinal.cut_method}); "
                         "per model in .ordinal.rows")
        return lines


def report_facts(store: Any, rep: Any) -> dict[str, Any]:
    """What ``blend report --json`` adds to the report's dict."""
    return {**honesty_facts(store, rep.model_names),
            "scores_are": "OOF scores pooled over every row (fold scores beside): honest for "
                          "models whose every row was predicted without its label; see "
                          "flagged_models"}


def report(store: Any, *, models: Sequence[str] | None = None, metric: str | None = None,
           by: Sequence[str] = (), n_pairs: int = 3, n_bins: int = 15,
           allow_in_sample: bool = False, ordinal: bool = False,
           grades: str | None = None) -> ReportRun:
    """The OOF report of the store's models (``blend report``); ``store`` may be a path.

    With ``ordinal=True`` (or ``metric="qwk"`` on a regression store) the result's
    ``ordinal`` holds the ordinal section ``blend report --ordinal`` prints (``grades``:
    as ``--grades``, e.g. ``"1..6"``; inferred by default).
    """
    from blend.workflows.ordinal import is_ordinal, ordinal_report_store
    from blend.workflows.report import report as build

    store = open_store(store)
    rep = build(store, models=models, metric=metric, by=by, n_pairs=n_pairs, n_bins=n_bins,
                allow_in_sample=allow_in_sample)
    section = (ordinal_report_store(store, list(models) if models else None, grades)
               if is_ordinal(store, metric, ordinal) else None)
    return ReportRun(rep, store, report_facts(store, rep), section)
