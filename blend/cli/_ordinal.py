"""Ordinal targets in the ``blend`` commands: print and write what the ordinal workflows return.

``blend optimize STORE --metric qwk`` on a regression store (or ``--ordinal`` on a store with
ordered classes) comes here: :func:`ordinal_optimize_cli` calls
:func:`blend.workflows.ordinal.ordinal_optimize_store` (one fit per cuts mode) and prints
every result; the better nested QWK is kept. See ``docs/commands/ordinal.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blend._errors import BlendError
from blend.cli._common import print_level2, refuse_ray
from blend.ordinal._fit import MODES, OrdinalResult, nested_score_of_the_choice
from blend.workflows.ordinal import ordinal_optimize_store, ordinal_recipe, store_grades

__all__ = ["print_ordinal", "ordinal_optimize_cli", "print_ordinal_report", "ordinal_search_cli"]


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
    from blend.workflows._models import resolve_models

    named = models
    models = resolve_models(store, models, need=1, what="ordinal blending",
                            allow_in_sample=getattr(args, "allow_in_sample", False))
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

    from blend.ordinal._search import search_ordinal
    from blend.workflows._models import resolve_models
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
