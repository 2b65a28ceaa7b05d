"""Ordinal targets in the ``blend`` commands: QWK with cut points fitted inside the nested CV.

``blend optimize STORE --metric qwk`` on a regression store (or ``--ordinal`` on a store with
ordered classes) comes here: :func:`ordinal_optimize_store` loads the OOF predictions and
calls :func:`blend.ordinal.fit_ordinal` once per cuts mode; the better nested QWK is kept,
both are printed. See ``docs/commands/ordinal.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.ordinal import Grades, infer_grades, parse_grades
from blend.ordinal._fit import MODES, OrdinalResult, fit_ordinal, nested_score_of_the_choice

__all__ = ["is_ordinal", "store_grades", "ordinal_optimize_store", "ordinal_recipe",
           "print_ordinal", "ordinal_optimize_cli"]


def refuse_ray(args: Any, command: str) -> None:
    """The cut-point paths run in one process: ``--ray`` is refused, not silently ignored."""
    if getattr(args, "ray", None):
        raise BlendError(
            f"{command} with cut points (--metric qwk on a regression store, or --ordinal) runs "
            "in one process; --ray does not distribute it yet. Drop --ray"
        )


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
    cut_method: str = "coordinate",
    modes: tuple[str, ...] = MODES,
    seed: int = 0,
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
        score=result.score,
        nested_score=nested_score,
        source=f"optimize:{result.method}+{result.cut_method}:{result.mode}",
    )


def print_ordinal(results: list[OrdinalResult]) -> None:
    """One table: weights per model and cut points, one column per result.

    With more than two results (``--cuts all``), first a summary row per result, then the
    table of the best one.
    """
    from rich.table import Table

    from oof_common.cli import console

    total = sum(r.seconds for r in results)
    if len(results) > 2:
        summary = Table(title="every cut-point method and mode, best nested QWK first")
        for col in ("weights + cut points (mode)", "nested QWK", "in-sample", "rounding",
                    "seconds"):
            summary.add_column(col, justify="left" if col.startswith("weights") else "right")
        for r in results:
            fmt_n = "skipped" if r.nested_score is None else f"{r.nested_score:.5f}"
            fmt_r = ("skipped" if r.rounding_nested_score is None
                     else f"{r.rounding_nested_score:.5f}")
            summary.add_row(r.name, fmt_n, f"{r.score:.5f}", fmt_r, f"{r.seconds:.2f}")
        console.print(summary)
        results = results[:1]
    best = results[0]
    table = Table(title=f"blend optimize --metric qwk: {best.method} weights + "
                        f"{best.cut_method} cut points")
    table.add_column("")
    for r in results:
        table.add_column(r.mode, justify="right")
    for m in best.models:
        table.add_row(m, *(f"{r.weights[m]:.4f}" for r in results))
    table.add_section()
    for j in range(len(best.cuts)):
        g0, g1 = best.grades[j], best.grades[j + 1]
        table.add_row(f"cut {g0:g}|{g1:g}", *(f"{r.cuts[j]:.4f}" for r in results))
    table.add_section()
    table.add_row("in-sample QWK", *(f"{r.score:.5f}" for r in results))

    def fmt(v):
        return "skipped" if v is None else f"{v:.5f}"

    table.add_row("nested QWK", *(fmt(r.nested_score) for r in results))
    table.add_row("nested, rounding", *(fmt(r.rounding_nested_score) for r in results))
    if best.argmax_nested_score is not None:
        table.add_row("nested, argmax", *(fmt(r.argmax_nested_score) for r in results))
    for i, k in enumerate(best.fold_ids):
        table.add_row(f"fold {k}", *(f"{r.fold_scores[i]:.5f}" for r in results), style="dim")
    console.print(table)
    note = ""
    if len(results) > 1 and best.nested_score is not None:
        note = (" (kept as the best nested QWK of the candidates; choosing between them is "
                "itself a fit: --procedure or `blend compare` scores the choice)")
    console.print(f"kept: [bold]{best.name}[/bold]{note}; "
                  f"{total:.2f} s", highlight=False)


def ordinal_optimize_cli(args: Any, store: Any, models: list[str] | None,
                         params: dict[str, Any]) -> int:
    """``blend optimize --metric qwk`` on an ordinal store: fit, print, write JSON / recipe."""
    refuse_ray(args, "blend optimize")
    from blend.cli._common import resolve_models

    named = models
    models = resolve_models(store, models, need=1, what="ordinal blending",
                            allow_in_sample=getattr(args, "allow_in_sample", False))
    from blend.cli._common import print_level2

    print_level2(store, named, models)
    if args.tta_weights or args.per_class or args.temperature or args.rule != "prob":
        raise BlendError("--metric qwk with cut points blends the scores with --rule prob, "
                         "without --tta-weights, --per-class or --temperature")
    modes = MODES if args.cuts_mode == "both" else (args.cuts_mode,)
    # every candidate's nested QWK is printed; the kept one was chosen on them
    method = "mean" if len(models) == 1 else args.method
    results = ordinal_optimize_store(
        store, models=models, grades=args.grades, method=method, cut_method=args.cuts,
        modes=modes, seed=args.seed, nested=not args.no_nested, params=params,
    )
    print_ordinal(results)
    procedure = None
    if args.procedure:
        from blend.ordinal._fit import procedure_ordinal
        from oof_common.cli import console

        regression = store.task == "regression"
        oof = store.load_oof(list(results[0].models), tta="mean",
                             output="raw" if regression else "probs")
        procedure = procedure_ordinal(
            oof.preds, oof.y, oof.folds,
            [{"method": r.method, "cut_method": r.cut_method, "mode": r.mode,
              "params": params} for r in results],
            grades=store_grades(store, args.grades), kind="raw" if regression else "probs",
            rng=args.seed)
        console.print(f"procedure (doubly nested) QWK of keeping the best of the "
                      f"{len(results)} candidates: [bold]{procedure.score:.5f}[/bold]; chosen "
                      "without each fold: " + "; ".join(procedure.choices), highlight=False)
    # the kept candidate's own nested QWK does not cover the choice among several
    facts = nested_score_of_the_choice(results, procedure)
    if "kept_candidate_nested_score" in facts:
        from oof_common.cli import console

        console.print(f"nested QWK of the choice: {facts['nested_score_is']}", highlight=False)
    if args.json:
        d = {**results[0].to_dict(), **facts}
        if procedure is not None:
            d["procedure"] = procedure.to_dict()
        d["candidates"] = [{"cut_method": r.cut_method, "mode": r.mode,
                            "nested_score": r.nested_score, "score": r.score}
                           for r in results]
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.recipe:
        ordinal_recipe(results[0], store, facts["nested_score"]).save(args.recipe)
    return 0


def confusion(y_idx: np.ndarray, pred_idx: np.ndarray, n: int) -> np.ndarray:
    """Grade confusion matrix (true x predicted), shape (n, n)."""
    return np.bincount(np.asarray(y_idx) * n + np.asarray(pred_idx),
                       minlength=n * n).reshape(n, n)


def ordinal_stack_cli(args: Any, store: Any, params: dict[str, Any], progress: Any) -> int:
    """``stack NAME STORE --metric qwk`` on a regression store (or ``--ordinal``): stacker + cuts.

    The stacker is fitted (and early-stopped or tuned) on RMSE (ordered classes: log loss,
    then its expected grade is graded) with its nested CV and written back as usual; its out-of-fold score is then graded by cut points fitted without each
    fold (:func:`blend.ordinal._stack.stack_cuts`), and the recipe holds the final cuts.
    """
    import dataclasses

    from rich.table import Table

    from blend.cli.stack import _print_result, run_stack, stack_recipe
    from blend.ordinal import qwk_grades
    from blend.ordinal._stack import stack_cuts
    from blend.stack import make_features
    from oof_common.cli import console

    if args.extra_features:
        raise BlendError("--metric qwk with cut points does not take --extra-features yet")
    g = store_grades(store, args.grades)
    regression = store.task == "regression"
    if store.n_folds < 4:
        raise BlendError(f"cut points for a stacker need 4 folds or more; the store has "
                         f"{store.n_folds}")
    res, written = run_stack(
        store, args.stacker, models=args.models, features=args.features, tta=args.tta,
        hpo=args.hpo, seeds=args.seeds, metric="rmse" if regression else "logloss",
        params=params, name=args.name,
        write=not args.no_write, overwrite=args.overwrite, seed=args.seed, progress=progress,
        n_jobs=args.threads, allow_in_sample=args.allow_in_sample,
    )
    _print_result(res, written)
    oof = store.load_oof(res.params["models"], tta=args.tta, output="probs")
    X = make_features(oof.preds, features=args.features, task=store.task)
    score = res.oof if regression else np.asarray(res.oof) @ g.array  # expected grade
    cuts = stack_cuts(args.stacker, X, oof.y, oof.folds, score, grades=g, task=store.task,
                      cut_method=args.cuts, rng=args.seed,
                      fit_kwargs={"params": params, "hpo": args.hpo, "seeds": args.seeds,
                                  "n_jobs": args.threads})
    table = Table(title=f"stack {res.stacker} --metric qwk: {args.cuts} cut points "
                        "fitted without the fold they grade")
    table.add_column("")
    table.add_column("QWK", justify="right")
    table.add_row("nested, fitted cut points", f"{cuts.nested_score:.5f}")
    table.add_row("rounded to the nearest grade", f"{cuts.rounding_nested_score:.5f}")
    if not regression:
        argmax = qwk_grades(np.asarray(oof.y, np.int64), np.asarray(res.oof).argmax(axis=1), g.n)
        table.add_row("argmax of the classes", f"{argmax:.5f}")
    for k, s in zip(cuts.fold_ids, cuts.fold_scores, strict=True):
        table.add_row(f"fold {k}", f"{s:.5f}", style="dim")
    console.print(table)
    console.print("cut points (all rows): " + ", ".join(f"{c:.4f}" for c in cuts.cuts),
                  highlight=False)
    if args.json:
        d = res.to_dict()
        d["ordinal"] = cuts.to_dict()
        Path(args.json).write_text(json.dumps(d, indent=2) + "\n")
    if args.recipe:
        recipe = dataclasses.replace(
            stack_recipe(store, res, written), cuts=tuple(cuts.cuts),
            grades=tuple(cuts.grades), metric="qwk", score=None,
            nested_score=cuts.nested_score)
        recipe.save(args.recipe)
    return 0


def ordinal_report_store(store: Any, models: list[str] | None, grades: str | None,
                         cut_method: str = "coordinate"):
    """The ordinal report (:func:`blend.ordinal._report.ordinal_report`) of ``store``."""
    from blend.cli._common import resolve_models
    from blend.ordinal._report import ordinal_report

    models = resolve_models(store, models, need=1, what="the ordinal report")
    g = store_grades(store, grades)
    regression = store.task == "regression"
    oof = store.load_oof(models, tta="mean", output="raw" if regression else "probs")
    return ordinal_report(oof.preds, oof.y, oof.folds, grades=g,
                          kind="raw" if regression else "probs", models=list(oof.models),
                          cut_method=cut_method)


def print_ordinal_report(rep: Any) -> None:
    """QWK per model and fold (rounded / nested cuts), the confusion matrix, the cut points."""
    from rich.table import Table

    from oof_common.cli import console

    t = Table(title=f"ordinal: QWK rounded to the nearest grade vs {rep.cut_method} cut "
                    "points fitted on the other folds")
    t.add_column("model")
    t.add_column("rounded", justify="right")
    t.add_column("cut points", justify="right")
    t.add_column("effect", justify="right")
    for k in rep.fold_ids:
        t.add_column(f"fold {k}", justify="right", style="dim")
    for r in rep.rows:
        folds = [f"{a:.3f}/{b:.3f}" for a, b in zip(r["rounded_folds"], r["cuts_folds"],
                                                     strict=True)]
        t.add_row(r["name"], f"{r['rounded']:.5f}", f"{r['cuts']:.5f}",
                  f"{r['cuts'] - r['rounded']:+.5f}", *folds)
    console.print(t)
    labels = [f"{g:g}" for g in rep.grades]
    cm = Table(title="grade confusion matrix of the mean (true x predicted, nested cut points; "
                     "rounding in brackets)")
    cm.add_column("true")
    for lab in labels:
        cm.add_column(lab, justify="right")
    for i, lab in enumerate(labels):
        cm.add_row(lab, *(f"{rep.confusion[i][j]} ({rep.confusion_rounded[i][j]})"
                          for j in range(len(labels))))
    console.print(cm)
    console.print("cut points of the mean (all rows): " + ", ".join(f"{c:.3f}" for c in rep.cuts)
                  + "   rounding: " + ", ".join(f"{c:.3f}" for c in rep.midpoints),
                  highlight=False)


def ordinal_search_cli(args: Any, store: Any) -> int:
    """``blend search --metric qwk`` on a regression store: subsets graded by their own cuts."""
    refuse_ray(args, "blend search")
    from rich.table import Table

    from blend.cli._common import resolve_models
    from blend.ordinal._search import search_ordinal
    from oof_common.cli import console

    unsupported = [flag for flag, on in (("--rule", args.rule != "prob"),
                                         ("--tta", args.tta != "mean"),
                                         ("--method", args.method not in ("auto", "exhaustive")),
                                         ("--device", bool(args.device))) if on]
    if unsupported:
        raise BlendError(f"--metric qwk with cut points searches exhaustively over the plain "
                         f"mean of the TTA-averaged scores; drop {', '.join(unsupported)}")
    models = resolve_models(store, args.models, need=1, what="the ordinal search",
                            allow_in_sample=getattr(args, "allow_in_sample", False))
    from blend.cli._common import print_level2

    print_level2(store, args.models, models)
    g = store_grades(store, args.grades)
    regression = store.task == "regression"
    oof = store.load_oof(models, tta="mean", output="raw" if regression else "probs")
    res = search_ordinal(oof.preds, oof.y, oof.folds, grades=g, cut_method=args.cuts,
                         kind="raw" if regression else "probs", names=list(oof.models),
                         top=args.top, min_size=args.min_size, max_size=args.max_size,
                         must_include=args.must_include or (), exclude=args.exclude or (),
                         nested=args.nested)
    t = Table(title=f"top {len(res.results)} of {res.n_subsets} subsets by QWK of the mean "
                    f"with {res.cut_method} cut points (fitted on all rows)")
    t.add_column("#", justify="right")
    t.add_column("qwk", justify="right")
    t.add_column("size", justify="right")
    for k in res.fold_ids:
        t.add_column(f"fold {k}", justify="right", style="dim")
    t.add_column("models")
    for i, r in enumerate(res.results, 1):
        t.add_row(str(i), f"{r['score']:.5f}", str(r["size"]),
                  *(f"{s:.4f}" for s in r["fold_scores"]), ", ".join(r["models"]))
    console.print(t)
    if res.nested_score is not None:
        console.print(f"nested QWK of the search (subset and cut points chosen without each "
                      f"fold): [bold]{res.nested_score:.5f}[/bold]; choices: "
                      + "; ".join(", ".join(c) for c in res.nested_choices), highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_dict(), indent=2) + "\n")
    if args.save_recipe:
        from blend.recipe import Recipe

        best = res.results[0]
        Recipe.for_store(store, best["models"], rule="prob", tta="mean",
                         cuts=tuple(best["cuts"]), grades=tuple(res.grades), metric="qwk",
                         score=best["score"], nested_score=res.nested_score,
                         source=f"search+{res.cut_method}").save(args.save_recipe)
    return 0
