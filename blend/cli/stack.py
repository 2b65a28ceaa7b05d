"""The ``stack`` command: ``stack lgbm|linear|mlp|cnn1d|cnn2d STORE [options]``.

A thin layer: :func:`run_stack` reads the store, builds the features, calls
:func:`blend.stack.fit_stacker` (nested CV) and writes the stacker's OOF and test
predictions back into the store as a level-2 model; :func:`stack_cli` prints the result.
One sub-command per registered stacker, so a newly registered stacker appears here.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend._write_back import as_block, write_model
from blend.cli._common import (
    honesty_facts,
    in_sample_models,
    print_honesty,
    resolve_models,
    warn_models_without_test,
    without_stackers,
)
from blend.stack import (
    FEATURES,
    StackResult,
    available_stackers,
    check_params,
    fit_stacker,
    get_stacker,
    make_features,
)
from oof_common.cli import add_debug_flag, console, err_console, escape, progress_callback, run_main
from oof_store.distributed import add_ray_flag

__all__ = ["build_parser", "main", "run_stack", "stack_cli", "read_extra_features"]


# --------------------------------------------------------------------------- library layer


def read_extra_features(
    path: str | os.PathLike[str], id_col: str, ids: np.ndarray, test_ids: np.ndarray,
    forbidden: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read extra per-row features from a CSV or Parquet file keyed by the store's id column.

    Returns
    -------
    extra : ndarray of shape (N, E), rows in ``ids`` order
    extra_test : ndarray of shape (Nt, E), rows in ``test_ids`` order
    columns : list of str
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise BlendError(f"extra-features file {str(p)!r} does not exist")
    df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p)
    if id_col not in df.columns:
        raise BlendError(
            f"extra-features file {p.name!r} has no id column {id_col!r} (the store's id column); "
            f"its columns are: {', '.join(map(str, df.columns[:10]))}"
        )
    df[id_col] = df[id_col].astype(str)
    if df[id_col].duplicated().any():
        dup = df.loc[df[id_col].duplicated(), id_col].iloc[0]
        raise BlendError(f"extra-features file {p.name!r} repeats id {dup!r}; give one row per id")
    cols = [c for c in df.columns if c != id_col]
    leaks = [c for c in cols if c in forbidden]
    if leaks:
        raise BlendError(
            f"extra-features file {p.name!r} has column(s) {leaks} that the store holds as "
            "targets or folds; drop them (they would leak the labels)"
        )
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise BlendError(f"extra-features file {p.name!r} has non-numeric column(s) {bad}; encode or drop them")
    if not cols:
        raise BlendError(f"extra-features file {p.name!r} has no feature column besides {id_col!r}")
    table = df.set_index(id_col)[cols]
    out = []
    for what, want in (("training", ids), ("test", test_ids)):
        missing = ~pd.Index(want).isin(table.index)
        if missing.any():
            first = ", ".join(map(str, np.asarray(want)[missing][:5]))
            raise BlendError(
                f"extra-features file {p.name!r} lacks {int(missing.sum())} {what} id(s) "
                f"(first: {first}); it needs one row per {what} row of the store"
            )
        vals = table.loc[list(want)].to_numpy(dtype=np.float32) if len(want) else np.zeros((0, len(cols)), np.float32)
        if not np.isfinite(vals).all():
            raise BlendError(f"extra-features file {p.name!r} has missing or infinite {what} values; fill them")
        out.append(vals)
    return out[0], out[1], [str(c) for c in cols]


def _resolve_models(store: Any, models: Sequence[str] | None,
                    allow_in_sample: bool = False) -> list[str]:
    # level-2 models are left out by default: stacking a stack over the same folds leaks;
    # in-sample blends (blend apply --write-model) too, unless allowed
    return resolve_models(
        store, models, need=2, what="stacking", default=without_stackers(store),
        allow_in_sample=allow_in_sample,
    )


def run_stack(
    store: Any,
    stacker: str,
    *,
    models: Sequence[str] | None = None,
    features: str = "probs",
    tta: str = "mean",
    extra_features: str | os.PathLike[str] | None = None,
    hpo: int = 0,
    seeds: int = 1,
    metric: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    write: bool = True,
    overwrite: bool = False,
    seed: int = 0,
    progress: Any = None,
    n_jobs: int | None = None,
    executor: Any = None,
    allow_in_sample: bool = False,
) -> tuple[StackResult, str | None]:
    """Fit ``stacker`` with nested CV on ``store`` and write it back as a level-2 model.

    Returns the result and the name of the written model (None when ``write`` is False).
    Everything is validated before the fitting starts.
    """
    from oof_store import IncompleteModelError, StoreExistsError

    st = get_stacker(stacker)
    check_params(st, params, store.task, store.n_classes)
    if tta not in ("mean", "all"):
        raise BlendError(f"--tta must be 'mean' or 'all'; got {tta!r}")
    if features not in FEATURES:
        raise BlendError(f"unknown features {features!r}; choose one of: {', '.join(FEATURES)}")
    task = store.task
    if task == "regression" and features != "probs":
        raise BlendError(f"--features {features} needs class probabilities; regression stacks raw predictions (use probs)")
    chosen = _resolve_models(store, models, allow_in_sample)
    name = name or f"stack_{st.name}"
    if write:
        if name in chosen:
            raise BlendError(f"--name {name!r} is one of the stacked models; choose another name")
        if name in store.models(include_incomplete=True) and not overwrite:
            raise StoreExistsError(
                f"model {name!r} is already in the store {store.uri}; pass --overwrite or another --name"
            )
    if metric is not None:
        from blend.metrics import get_metric

        get_metric(metric, task)  # fail before the expensive work

    oof = store.load_oof(chosen, tta=tta, output="probs")
    X = make_features(oof.preds, features=features, task=task)
    X_test, test_note = None, None
    if len(store.test_ids):
        try:
            test = store.load_test(chosen, tta=tta, folds="mean", output="probs")
            X_test = make_features(test.preds, features=features, task=task)
        except IncompleteModelError as exc:
            test_note = str(exc)
    extra = extra_test = None
    extra_cols: list[str] = []
    if extra_features is not None:
        forbidden = [c for c in store.targets.columns if c != store.id_col and c not in ("group",)]
        extra, extra_test, extra_cols = read_extra_features(
            extra_features, store.id_col, store.ids, store.test_ids, forbidden=forbidden
        )
        if X_test is None:
            extra_test = None
    info = {
        "models": chosen,
        "features": features,
        "tta": tta,
        "tta_views": list(oof.tta_views),
        "extra_features": None if extra_features is None else {"file": str(extra_features), "columns": extra_cols},
        "seed": int(seed),
    }
    if test_note:
        info["test"] = f"skipped: {test_note}"
    res = fit_stacker(
        st, X, oof.y, oof.folds, task=task, metric=metric, params=params, hpo=hpo, seeds=seeds,
        X_test=X_test, extra=extra, extra_test=extra_test, base_preds=oof.preds,
        model_names=chosen, rng=np.random.default_rng(seed), info=info, progress=progress,
        n_jobs=n_jobs, executor=executor,
    )
    if not write:
        return res, None
    # one write: with --overwrite the old model is replaced all at once, never removed first
    write_model(
        store, name, "stack",
        oof={k: as_block(res.oof[oof.folds == k]) for k in res.fold_ids},
        test=(None if res.fold_test is None
              else {k: as_block(t) for k, t in zip(res.fold_ids, res.fold_test, strict=True)}),
        replace=overwrite,
        kind="raw" if task == "regression" else "probs",
        # a stacker is honest OOF (nested), unless it stacks in-sample blends
        params={"stacker": st.name, **res.to_dict(),
                "in_sample": bool(in_sample_models(store, chosen))},
        source="stack",
        parents=chosen,
        overwrite=overwrite,
    )
    return res, name


# --------------------------------------------------------------------------- CLI layer


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def stack_cli(args: argparse.Namespace) -> int:
    """Fit a stacker with nested CV, print it, and write it into the store unless ``--no-write``."""
    from oof_store import Store

    store = Store(args.store)
    params = dict(args.param or [])
    if args.threads is not None:
        if args.threads < 1:
            raise BlendError(f"--threads must be >= 1; got {args.threads}")
        if get_stacker(args.stacker).uses_torch:
            params["num_threads"] = args.threads
    if args.hpo < 0:
        raise BlendError(f"--hpo must be >= 0; got {args.hpo}")
    if args.seeds < 1:
        raise BlendError(f"--seeds must be >= 1; got {args.seeds}")
    if args.recipe and args.no_write:
        raise BlendError("--recipe needs the stacker written back into the store; drop --no-write")

    warn_models_without_test(store, _resolve_models(store, args.models, args.allow_in_sample),
                             what="a stacker")

    from blend.cli import _ordinal
    from oof_store.distributed import get_executor

    ordinal = _ordinal.is_ordinal(store, args.metric, args.ordinal)
    if ordinal:
        _ordinal.refuse_ray(args, "stack")
    with get_executor(args.ray) as executor, progress_callback(f"stack {args.stacker}") as progress:
        if ordinal:
            return _ordinal.ordinal_stack_cli(args, store, params, progress)
        res, written = run_stack(
            store, args.stacker, models=args.models, features=args.features, tta=args.tta,
            extra_features=args.extra_features, hpo=args.hpo, seeds=args.seeds,
            metric=args.metric, params=params, name=args.name, write=not args.no_write,
            overwrite=args.overwrite, seed=args.seed, progress=progress, n_jobs=args.threads,
            allow_in_sample=args.allow_in_sample, executor=executor if args.ray else None,
        )
    used = res.params.get("models") or []
    print_honesty(store, used)
    _print_result(res, written)
    if args.ray:
        err_console.print(executor.summary(), highlight=False)
    if written and res.fold_test is None:
        why = res.params.get("test", "the store has no test rows")
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(f'the stacker written as {written!r} has no test predictions ({why}); `blend apply` cannot write a submission from it')}",
            highlight=False)
    if args.json:
        d = {**res.to_dict(), "nested_score_is": "nested: pooled outer-fold predictions; each "
             "fold's stacker (and its --hpo search) fitted on the other folds",
             "best_base_is": "in-sample pick: the best base model's pooled OOF score, the pick "
             "made on every row", "mean_blend_score_is": "pooled OOF score of the plain mean "
             "(nothing chosen from the labels)",
             **honesty_facts(store, used)}
        Path(args.json).write_text(json.dumps(d, indent=2))
    if args.recipe:
        stack_recipe(store, res, written).save(args.recipe)
        console.print(escape(f"wrote recipe {args.recipe}: `blend apply {args.recipe} --store {store.uri} --out submission.csv`"))
    return 0


def stack_recipe(store: Any, res: StackResult, written: str) -> Any:
    """A recipe whose blend is the written-back stacker alone, for ``blend apply``.

    The stacker's OOF predictions are outer-fold ones, so its in-sample and nested scores
    are the same number.
    """
    from blend.recipe import Recipe

    return Recipe.for_store(
        store,
        (written,),
        rule="prob",
        metric=res.metric,
        score=res.nested_score,
        nested_score=res.nested_score,
        source=f"stack:{res.stacker}",
    )


def _print_result(res: StackResult, written: str | None) -> None:
    from rich.table import Table

    table = Table(title=f"stack {res.stacker}: outer-fold (nested CV) {res.metric}")
    table.add_column("what")
    table.add_column(res.metric, justify="right")
    table.add_column("stacker gain", justify="right")
    table.add_row(f"stack {res.stacker} (nested)", f"{res.nested_score:.5f}", "")
    if res.best_base is not None:
        table.add_row(
            f"best base model (picked on all rows): {res.best_base['model']}",
            f"{res.best_base['score']:.5f}",
            f"{res.gain(res.best_base['score']):+.5f}",
        )
    if res.mean_blend_score is not None:
        table.add_row("plain mean of the models", f"{res.mean_blend_score:.5f}", f"{res.gain(res.mean_blend_score):+.5f}")
    console.print(table)
    console.print("fold scores: " + ", ".join(f"{k}: {s:.5f}" for k, s in zip(res.fold_ids, res.fold_scores, strict=True)))
    g = res.gain(res.mean_blend_score)
    if g is not None and g <= 0:
        console.print("[yellow]the stacker does not beat the plain mean of the models on these rows[/yellow]")
    if written:
        console.print(f"written to the store as model [bold]{escape(written)}[/bold] (source=stack) in {res.seconds:.1f} s")
    else:
        console.print(f"not written (--no-write); {res.seconds:.1f} s")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``stack`` parser with one sub-command per registered stacker."""
    parser = argparse.ArgumentParser(
        prog="stack",
        description=(
            "Fit a level-2 model over the models' OOF predictions with nested CV (outer loop = "
            "the store's folds) and write it back into the store as a new model."
        ),
    )
    sub = parser.add_subparsers(title="stackers", metavar="STACKER")
    for name in available_stackers():
        st = get_stacker(name)
        doc = (type(st).__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=doc, description=doc)
        p.add_argument("store", help="the OOF store (path or URI)")
        p.add_argument("--models", nargs="+", metavar="MODEL", help="models to stack (default: every base model, level-2 ones left out)")
        p.add_argument("--features", choices=FEATURES, default="probs", help="stacker input (default: probs)")
        p.add_argument("--tta", choices=("mean", "all"), default="mean", help="average TTA views, or give each view to the stacker")
        p.add_argument("--recipe", metavar="OUT", help="write a recipe for `blend apply` (the stacker alone)")
        p.add_argument("--extra-features", metavar="FILE", help="CSV/Parquet with the store's id column and numeric columns")
        p.add_argument("--hpo", type=int, default=0, metavar="N", help="Optuna trials per outer fold, scored by the inner CV (0: defaults)")
        p.add_argument("--seeds", type=int, default=1, metavar="S", help="average S seeds (default 1)")
        p.add_argument("--metric", help="metric (default: the task's default); qwk on a regression store fits cut points too")
        p.add_argument("--ordinal", action="store_true", help="ordered classes: stack on log loss, grade the expected grade with cut points (QWK)")
        p.add_argument("--grades", metavar="SPEC", help="with --metric qwk / --ordinal: grade values, e.g. 1..6 (default: from integer targets or the classes)")
        p.add_argument("--cuts", default="coordinate", help="with --metric qwk: cut-point method (default coordinate)")
        p.add_argument("--param", type=_parse_param, action="append", metavar="KEY=VALUE", help="override a hyper-parameter (repeatable)")
        p.add_argument("--threads", type=int, help="CPU threads: parallel one-thread fits for lgbm/linear, torch threads for the neural stackers (default: all CPUs / 1)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--allow-in-sample", action="store_true",
                       help="also stack blends written by `blend apply --write-model` (fitted on "
                            "all OOF rows): the result is then NOT honest, and marked so")
        p.add_argument("--name", help=f"name of the written model (default: stack_{name})")
        p.add_argument("--overwrite", action="store_true", help="replace a model of that name")
        p.add_argument("--no-write", action="store_true", help="do not write the stacker back into the store")
        add_ray_flag(p)
        p.add_argument("--json", metavar="OUT", help="write the result as JSON")
        add_debug_flag(p)
        p.set_defaults(func=stack_cli, stacker=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stack`` command on ``argv`` and return its exit code."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
