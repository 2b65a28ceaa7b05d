"""The ``oof`` command: ``oof init|import|ls|validate|rm|folds|export``."""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oof_common.cli import (
    add_debug_flag,
    add_version_flag,
    console,
    err_console,
    escape,
    progress_bar,
    run_main,
)
from oof_common.outputs import output_file
from oof_store._errors import StoreError, ValidationError
from oof_store.flags import FLAG_TEXT, model_flags

if TYPE_CHECKING:
    from oof_store._store import Store

# pandas, pyarrow and rich are imported inside the commands that use them: `oof --help`
# starts without them (< 0.3 s).


def _store(uri: str) -> Store:
    from oof_store._store import Store

    return Store(uri)

__all__ = ["main", "build_parser", "list_models", "quick_scores"]


# ---------------------------------------------------------------------------- library
def quick_scores(store: Store, model: str) -> dict[str, float]:
    """OOF accuracy and log loss (classification) or RMSE (regression), TTA views averaged."""
    import numpy as np

    data = store.load_oof([model], tta="mean", output="probs")
    p = data.preds[0, 0]
    if store.task == "regression":
        return {"rmse": float(np.sqrt(np.mean((p[:, 0] - store.y) ** 2)))}
    y = store.y_hard
    out = {"accuracy": float((p.argmax(axis=1) == y).mean())}
    q = np.clip(p, 1e-15, 1.0)
    if store.task == "softclass":
        out["soft_ce"] = float(-(store.y * np.log(q)).sum(axis=1).mean())
    else:
        out["logloss"] = float(-np.log(q[np.arange(len(y)), y]).mean())
    return out


def list_models(store: Store) -> list[dict]:
    """One row per model: name, kind, folds, TTA views, test folds, source, OOF scores."""
    rows = []
    finished = set(store.models())
    for m in store.models(include_incomplete=True):
        if m not in finished:
            rows.append({"model": m, "status": "incomplete"})
            continue
        try:
            man = store._manifests([m])[0]  # fields checked: a broken manifest is one red row
        except StoreError as exc:
            rows.append({"model": m, "status": f"error: {exc}"})
            continue
        row = {
            "model": m,
            "status": "ok",
            "kind": man["kind"],
            "folds": len(man["oof_folds"]),
            "tta_views": man["tta_views"],
            "test_folds": man.get("test_folds", []),
            "source": man.get("source", ""),
            "flags": model_flags(man),
        }
        try:
            row.update(quick_scores(store, m))
        except StoreError as exc:
            row["status"] = f"error: {exc}"
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- commands
def _split_list(text: str | None) -> list[str] | str | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()] if "," in text else text


def init_cli(args: argparse.Namespace) -> int:
    from oof_store._init_files import read_init_files
    from oof_store._store import Store
    from oof_store.folds import describe_group_spans, group_spans

    targets, id_col, fold_col, test_ids, notes = read_init_files(
        args.targets, id_col=args.id, fold=args.fold, folds_path=args.folds,
        test_path=args.test, test_id=args.test_id,
    )
    store = Store.create(
        args.store,
        targets,
        id_col=id_col,
        target_cols=args.target,
        fold_col=fold_col,
        group_col=args.group,
        task=args.task,
        class_names=_split_list(args.class_names) if args.class_names else None,
        test_ids=test_ids,
        overwrite=args.overwrite,
        source=str(args.targets),
        make_folds=args.make_folds,
        positive=args.positive,
    )
    console.print(
        f"created store [bold]{escape(str(store.uri))}[/bold]: task {store.task}, {len(store.ids)} rows, "
        f"{store.n_folds} folds ({escape(store.meta.get('fold_source') or 'fold column')}), "
        f"{store.n_classes} class column(s) {escape(str(store.class_names))}, "
        f"{len(store.test_ids)} test rows"
    )
    if store.task == "binary":
        how = "--positive" if args.positive else "the second in class order; choose it with --positive"
        console.print(
            f"positive class: {escape(repr(store.class_names[1]))} ({how}): AUC and log loss "
            "are about it", highlight=False,
        )
    for note in [*notes, *store.creation_notes]:
        console.print(escape(note), highlight=False)
    spans = group_spans(store.groups, store.folds)
    if spans:
        console.print(f"[yellow]warning[/yellow]: {escape(describe_group_spans(spans))}",
                      highlight=False)
    return 0


def import_cli(args: argparse.Namespace) -> int:
    from oof_store._writing import session
    from oof_store.importing import import_files

    store = _store(args.store)
    columns = _split_list(args.columns)
    if isinstance(columns, str) and columns in (store.class_names or []):
        columns = [columns]
    with progress_bar(transient=True) as prog:
        task = prog.add_task("checking files", total=None)

        def step(phase: str, done: int, total: int) -> None:
            what = "checking files" if phase == "check" else "writing models"
            prog.update(task, description=what, completed=done, total=total)

        # one session per shell or script running `oof import`: a loop of per-fold imports
        # is one writer; two loops at once are two, and a model mixing them is named
        with session(f"{socket.gethostname()}:{os.getppid()}"):
            results = import_files(
                store, args.split, args.file, model=args.model, id_col=args.id, fold=args.fold,
                tta=args.tta, kind=args.kind, columns=columns, overwrite=args.overwrite,
                allow_perfect=args.allow_perfect, progress=step,
            )
    for result in results:
        console.print(result.summary(), highlight=False, markup=False)
        mix = store.writer_mix(result.model)
        if mix:
            err_console.print(f"[yellow]warning:[/yellow] {escape(mix)}", highlight=False)
    for note in results.notes():
        console.print(note, highlight=False, markup=False)
    return 0


def ls_cli(args: argparse.Namespace) -> int:
    from rich.table import Table

    store = _store(args.store)
    rows = list_models(store)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    metric_cols = [c for c in ("accuracy", "logloss", "soft_ce", "rmse") if any(c in r for r in rows)]
    table = Table(title=f"{store.uri}: {store.task}, {len(store.ids)} rows, {store.n_folds} folds")
    for col in ["model", "kind", "folds", "TTA views", "test", "source", *metric_cols]:
        table.add_column(col, justify="right" if col in metric_cols else "left")
    for r in rows:
        if r["status"] != "ok":
            table.add_row(r["model"], f"[red]{r['status']}[/red]", *[""] * (4 + len(metric_cols)))
            continue
        test = "-" if not r["test_folds"] else (
            "full" if r["test_folds"] == [-1] else f"{len(r['test_folds'])} folds"
        )
        table.add_row(
            r["model"],
            r["kind"],
            str(r["folds"]),
            ",".join(r["tta_views"]),
            test,
            r["source"] + "".join(f" [bold red]{f.upper()}[/bold red]" for f in r["flags"]),
            *[f"{r[c]:.5f}" if c in r else "" for c in metric_cols],
        )
    console.print(table)
    for r in rows:
        for f in r.get("flags", ()):
            console.print(f"[bold red]{f.upper()}[/bold red] {r['model']}: {FLAG_TEXT[f]}",
                          highlight=False)
    if not rows:
        console.print("no models yet: add some with `oof import` or `base-models`")
    return 0


def validate_cli(args: argparse.Namespace) -> int:
    from oof_store.folds import describe_group_spans, group_spans

    store = _store(args.store)
    problems = store.validate()
    for note in store.legacy_notes():
        err_console.print(f"note: {escape(note)}", highlight=False)
    if problems:
        raise ValidationError(problems)
    spans = group_spans(store.groups, store.folds)  # the targets are sound: checked above
    if spans:
        console.print(f"[yellow]warning[/yellow]: {escape(describe_group_spans(spans, limit=20))}",
                      highlight=False)
    from oof_store.submission_checks import check_store

    for finding in check_store(store):
        console.print(f"[yellow]warning[/yellow]: {escape(finding.summary())}", highlight=False)
    n = len(store.models())
    console.print(f"[green]ok[/green]: {escape(str(store.uri))}: {n} model(s), every check passed")
    return 0


def rm_cli(args: argparse.Namespace) -> int:
    store = _store(args.store)
    for m in args.model:
        store.remove_model(m)
        console.print(f"removed model {m!r}")
    return 0


def folds_cli(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    store = _store(args.store)
    df = pd.DataFrame({store.id_col: store.ids})
    if args.one_hot:
        for f in store.fold_ids:
            df[f"fold{f}"] = (store.folds == f).astype(np.int8)
    else:
        df["fold"] = store.folds
    if str(args.to).lower().endswith((".parquet", ".pq")):
        df.to_parquet(args.to, index=False)
    else:
        df.to_csv(args.to, index=False)
    made = store.meta.get("fold_source") or "a fold column"
    console.print(escape(f"wrote the fold of {len(df)} rows ({store.n_folds} folds, from {made}) to {args.to}"))
    return 0


def export_cli(args: argparse.Namespace) -> int:
    from oof_store.importing import export_predictions

    store = _store(args.store)
    tta = int(args.tta) if args.tta.isdigit() else args.tta
    df = export_predictions(store, args.model, args.split, args.to, tta=tta, output=args.output)
    console.print(escape(f"wrote {len(df)} rows of model {args.model!r} ({args.split}) to {args.to}"))
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """Build the ``oof`` parser with its store sub-commands."""
    parser = argparse.ArgumentParser(
        prog="oof", description="Create, fill, list and check a store of OOF predictions."
    )
    add_version_flag(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("init", help="create a store from a targets file")
    p.add_argument("store", help="store directory or URI")
    p.add_argument("--targets", required=True, help="CSV or Parquet: id, target(s), fold, ...")
    p.add_argument(
        "--id",
        help="id column (default: 'id'; a file with no id column has its rows numbered, and "
        "prediction files without ids are matched by row order)",
    )
    p.add_argument(
        "--target", required=True, action="append",
        help="target column; repeat it for soft targets (one column per class)",
    )
    folds = p.add_argument_group("folds (one of)")
    folds.add_argument(
        "--fold",
        help="fold id column, or one-hot fold columns 'fold1,fold2,...' (1 = the fold that "
        "validates the row; an all-zero column is left out)",
    )
    folds.add_argument(
        "--folds", metavar="FILE",
        help="a separate folds file joined on the id (by row order when it has no ids); "
        "--fold names its column(s) when it has several",
    )
    folds.add_argument(
        "--make-folds", metavar="SPEC",
        help="make them with scikit-learn: stratified:5:42 (StratifiedKFold(5, shuffle=True, "
        "random_state=42)), kfold:5:42, group:5 (GroupKFold, needs --group), "
        "stratified-group:5:42; no seed = no shuffle",
    )
    p.add_argument(
        "--group",
        help="group column (patients, sources); groups spanning several folds are a leak and "
        "are warned about",
    )
    p.add_argument(
        "--positive", metavar="CLASS",
        help="binary task: the positive class, the one AUC and log loss are about (default: the "
        "second in sorted order)",
    )
    p.add_argument("--task", choices=["binary", "multiclass", "softclass", "regression"])
    p.add_argument("--class-names", help="comma-separated class order (default: sorted)")
    p.add_argument(
        "--test",
        help="CSV or Parquet holding the test ids in submission order (without an id column, "
        "its rows are numbered)",
    )
    p.add_argument("--test-id", help="id column of --test (default: --id)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store's targets")
    add_debug_flag(p)
    p.set_defaults(func=init_cli)

    p = sub.add_parser(
        "import",
        help="import a model's predictions: one file, or every file matching a template",
        description="Import predictions. --file may be a template: 'preds/oof_{model}.csv' "
        "imports every matching file, naming each model from the {model} placeholder; "
        "{fold} and {tta} give the fold and the TTA view of each file. Every file is checked "
        "before the first block is written.",
    )
    p.add_argument("store")
    p.add_argument(
        "--model", help="model name (not needed when --file has a {model} placeholder)"
    )
    p.add_argument("--split", required=True, choices=["oof", "test"])
    p.add_argument(
        "--file", required=True,
        help=".csv, .parquet or .npy; or a template with {model}, {fold}, {tta} placeholders",
    )
    p.add_argument("--id", help="id column of the file (default: the store's)")
    p.add_argument(
        "--fold",
        help="a fold column of the file (checked against the store), or K when the file holds "
        "fold K only (OOF rows of fold K; test predictions of fold K's model). A column named "
        "fold (or kfold, fold_id...) is always checked against the store's folds",
    )
    p.add_argument("--tta", default="0", help="TTA view index or name (default 0, the plain view)")
    p.add_argument(
        "--kind", choices=["probs", "logits", "raw"], default="probs",
        help="what the columns hold (default probs); one model has one kind",
    )
    p.add_argument("--columns", help="prediction columns: a prefix, or a comma-separated list")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument(
        "--allow-perfect", action="store_true",
        help="import OOF predictions that equal the targets (refused by default: they are "
        "almost always the targets themselves)",
    )
    add_debug_flag(p)
    p.set_defaults(func=import_cli)

    p = sub.add_parser("ls", help="list the models with their OOF scores")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_debug_flag(p)
    p.set_defaults(func=ls_cli)

    p = sub.add_parser("validate", help="run every check; exit code 2 on any problem")
    p.add_argument("store")
    add_debug_flag(p)
    p.set_defaults(func=validate_cli)

    p = sub.add_parser("rm", help="remove a model")
    p.add_argument("store")
    p.add_argument("--model", required=True, action="append")
    add_debug_flag(p)
    p.set_defaults(func=rm_cli)

    p = sub.add_parser("folds", help="write the store's fold assignment (id, fold) to CSV or Parquet")
    p.add_argument("store")
    p.add_argument("--to", required=True, help="output .csv or .parquet")
    p.add_argument("--one-hot", action="store_true", help="one 0/1 column per fold instead")
    add_debug_flag(p)
    p.set_defaults(func=folds_cli)

    p = sub.add_parser("export", help="write a model's predictions to CSV or Parquet")
    p.add_argument("store")
    p.add_argument("--model", required=True)
    p.add_argument("--split", choices=["oof", "test"], default="oof")
    p.add_argument("--to", required=True, type=output_file, help="output .csv or .parquet")
    p.add_argument("--tta", default="all", help="all, mean, or a view index/name")
    p.add_argument("--output", choices=["raw", "probs", "logits"], default="raw")
    add_debug_flag(p)
    p.set_defaults(func=export_cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``oof`` command on ``argv`` and return its exit code."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
