"""Checking and normalising a targets table before a store is created."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from oof_store import _schema as S
from oof_store._blocks import _first
from oof_store._errors import StoreError

SOFT_SUM_TOL = 1e-3


@dataclass(frozen=True)
class PreparedTargets:
    table: pd.DataFrame
    id_col: str
    target_cols: list[str]
    task: str
    class_names: list[str]
    test_ids: np.ndarray
    notes: tuple[str, ...] = ()
    fold_source: str = ""
    ids_from_rows: bool = False
    test_ids_from_rows: bool = False


def _require_columns(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise StoreError(
            f"{what} column(s) {missing} not in the targets table; its columns: {list(df.columns)}"
        )


def _check_ids(values: pd.Series, what: str) -> np.ndarray:
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise StoreError(f"{what}: {len(rows)} missing id(s) (at rows {rows[:5].tolist()})")
    ids = values.astype(str).to_numpy()
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise StoreError(f"{what}: duplicate id(s) {_first(uniq[counts > 1])}")
    return ids


def _fold_ids(df: pd.DataFrame, col: str, ids: np.ndarray) -> np.ndarray:
    """One fold-id column as int64: integers >= 0, not a column of a one-hot group."""
    from oof_store.folds import one_hot_reason

    folds = df[col]
    if folds.isna().any():
        rows = np.flatnonzero(folds.isna().to_numpy())
        raise StoreError(
            f"fold column {col!r}: {len(rows)} row(s) have no fold (ids {_first(ids[rows])})"
        )
    try:
        fold_values = folds.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"fold column {col!r} must hold integers: {exc}") from exc
    if not np.all(np.mod(fold_values, 1) == 0) or (fold_values < 0).any():
        raise StoreError(f"fold column {col!r} must hold non-negative integers")
    reason = one_hot_reason(df, col)
    if reason:
        raise StoreError(reason)
    return fold_values.astype(np.int64)


def _sort_key(names: np.ndarray) -> list[Any]:
    try:
        return sorted(names, key=float)
    except (TypeError, ValueError):
        return sorted(names, key=str)


#: Inferring the task: when at most this share of the rows hold non-integer values among
#: integer labels with few distinct values, the column is ambiguous and refused.
STRAY_LABEL_SHARE = 0.05


def infer_task(target: pd.Series, ids: np.ndarray | None = None) -> str:
    """``regression`` for non-integer numbers with many values, else binary/multiclass.

    A column of a few integer labels with a handful of non-integer values (a label ``1.5``
    among 0s and 1s) is refused rather than silently read as regression.
    """
    values = target.dropna()
    if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values, 1) == 0):
        nonint = np.mod(values.to_numpy(dtype=np.float64), 1) != 0
        labels = np.unique(values.to_numpy()[~nonint])
        if 0 < nonint.mean() <= STRAY_LABEL_SHARE and 2 <= len(labels) <= 50:
            rows = np.flatnonzero(nonint)
            shown = ids[rows] if ids is not None else values.index[rows]
            odd = sorted(set(values.to_numpy()[nonint].tolist()))
            raise StoreError(
                f"target column {target.name!r} looks like class labels "
                f"{[_num(v) for v in labels[:10]]} but {len(rows)} row(s) hold other values "
                f"{[_num(v) for v in odd[:5]]} (ids {_first(shown)}): read as they are, the "
                "store would become a regression store. Fix those labels, or say what the "
                "task is with --task (task=) regression, binary or multiclass"
            )
        return "regression"
    n = values.nunique()
    if pd.api.types.is_numeric_dtype(values) and n > 50:
        return "regression"
    return "binary" if n <= 2 else "multiclass"


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _check_finite_target(target: pd.Series, ids: np.ndarray) -> None:
    """Refuse infinite (and absurdly large) numeric targets, naming the rows."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return
    v = target.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(v) | (np.abs(v) > MAX_ABS_TARGET)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise StoreError(
            f"target column {target.name!r}: {len(rows)} infinite or implausibly large "
            f"value(s) (|value| > {MAX_ABS_TARGET:g}; e.g. {v[rows[0]]!r} for id "
            f"{str(ids[rows[0]])!r}; ids {_first(ids[rows])}): no metric or optimiser can use "
            "them. Fix or drop those rows"
        )


#: Beyond this magnitude a target overflows float32 sums and squares.
MAX_ABS_TARGET = 1e30


def prepare_targets(
    targets: pd.DataFrame,
    *,
    id_col: str | None,
    target_cols: list[str],
    fold_col: str | Sequence[str] | None,
    group_col: str | None,
    task: str | None,
    class_names: Sequence[str] | None,
    test_ids: Iterable[Any] | None,
    make_folds: str | None = None,
    positive: str | None = None,
) -> PreparedTargets:
    """Check and normalise a targets table (see :func:`oof_store._creating.create_store`)."""
    from oof_store import folds as F

    if not isinstance(targets, pd.DataFrame):
        raise StoreError(f"targets must be a pandas DataFrame, got {type(targets).__name__}")
    if not target_cols:
        raise StoreError("give at least one target column")
    fold_cols = [fold_col] if isinstance(fold_col, str) else list(fold_col or [])
    if make_folds and fold_cols:
        raise StoreError(
            f"give the folds one way: the fold column(s) {fold_cols} or --make-folds "
            f"{make_folds}, not both"
        )
    if not make_folds and not fold_cols:
        raise StoreError(
            "no folds: name the fold column (--fold COL, or --fold fold1,fold2,... for one-hot "
            "columns), join a folds file (--folds FILE) or make them (--make-folds "
            "stratified:5:42)"
        )
    ids_from_rows = id_col is None
    if ids_from_rows:
        id_col = "id" if "id" not in targets.columns else "row_id"
    else:
        _require_columns(targets, [id_col], "id")
    _require_columns(targets, target_cols, "target")
    _require_columns(targets, fold_cols, "fold")
    if group_col:
        _require_columns(targets, [group_col], "group")
    if task is not None and task not in S.TASKS:
        raise StoreError(f"task must be one of {list(S.TASKS)}, got {task!r}")
    if len(targets) == 0:
        raise StoreError("the targets table has no rows")
    df = targets.reset_index(drop=True).copy()
    notes: list[str] = []
    if ids_from_rows:
        ids = np.arange(len(df)).astype(str).astype(object)
        notes.append(
            f"the targets have no id column: rows are numbered 0..{len(df) - 1} in file order, "
            "and prediction files without ids are matched to them by order"
        )
    else:
        ids = _check_ids(df[id_col], f"id column {id_col!r}")

    fold_source = ""
    fold_int: np.ndarray | None = None
    if len(fold_cols) > 1:
        fold_int, more = F.one_hot_folds(df, fold_cols)
        notes += more
        fold_source = "one-hot columns " + ",".join(fold_cols)
        what = f"one-hot fold columns {fold_cols}"
    elif fold_cols:
        fold_int = _fold_ids(df, fold_cols[0], ids)
        fold_source = f"column {fold_cols[0]}"
        what = f"fold column {fold_cols[0]!r}"
    else:
        what = f"--make-folds {make_folds}"

    if len(target_cols) > 1 or task == "softclass":
        task = "softclass"
        soft = df[target_cols].to_numpy(dtype=np.float64)
        if not np.isfinite(soft).all() or (soft < 0).any():
            raise StoreError("soft targets must be finite and non-negative")
        bad = np.abs(soft.sum(axis=1) - 1) > SOFT_SUM_TOL
        if bad.any():
            raise StoreError(
                f"soft targets must sum to 1 on each row; {int(bad.sum())} row(s) do not "
                f"(ids {_first(ids[bad])}); normalise them (e.g. divide vote counts by votes)"
            )
        names = list(class_names) if class_names else list(target_cols)
        if len(names) != len(target_cols):
            raise StoreError(f"{len(names)} class names for {len(target_cols)} soft-target columns")
    else:
        target = df[target_cols[0]]
        if target.isna().any():
            rows = np.flatnonzero(target.isna().to_numpy())
            raise StoreError(
                f"target column {target_cols[0]!r}: {len(rows)} missing value(s) "
                f"(ids {_first(ids[rows])})"
            )
        _check_finite_target(target, ids)
        task = task or infer_task(target, ids)
        if task == "regression":
            names = [target_cols[0]]
            try:
                df[target_cols[0]].to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"regression target {target_cols[0]!r} is not numeric") from exc
        else:
            labels = target.astype(str)
            found = _sort_key(labels.unique())
            names = [str(c) for c in class_names] if class_names else [str(c) for c in found]
            unknown = sorted(set(found) - set(names))
            if unknown:
                raise StoreError(f"target values {unknown} are not among class_names {names}")
            if task == "binary" and len(names) != 2:
                raise StoreError(f"a binary task needs 2 classes, found {names}")
            if len(names) < 2:
                raise StoreError(f"a classification task needs >= 2 classes, found {names}")
            df[target_cols[0]] = labels
    if positive is not None:
        names = _with_positive(names, str(positive), task, class_names)
    if id_col in names or S.FOLD_COLUMN in names:
        raise StoreError(f"class names {names} clash with the id or fold column name")

    labels_for_folds = None
    if task in ("binary", "multiclass"):
        labels_for_folds = df[target_cols[0]].to_numpy()
    elif task == "softclass":
        labels_for_folds = df[target_cols].to_numpy(dtype=np.float64).argmax(axis=1)
    if fold_int is None:
        groups = df[group_col].to_numpy() if group_col else None
        if labels_for_folds is None and str(make_folds).lower().startswith("stratified"):
            raise StoreError(
                f"--make-folds {make_folds}: a regression target has no classes to stratify "
                "on; use kfold:K:SEED (or group:K with --group)"
            )
        stratify_on = labels_for_folds if labels_for_folds is not None else np.zeros(len(df))
        fold_int = F.make_folds(str(make_folds), stratify_on, groups)
        fold_source = str(make_folds)
    F.check_fold_assignment(fold_int, labels_for_folds, what=what)

    out = pd.DataFrame({id_col: ids})
    for c in target_cols:
        out[c] = df[c].to_numpy()
    out[S.FOLD_COLUMN] = fold_int
    if group_col:
        out[S.GROUP_COLUMN] = df[group_col].to_numpy()
    used = {id_col, *fold_cols, *target_cols, *([group_col] if group_col else [])}
    for c in df.columns:
        if c not in used and c not in out.columns:
            out[c] = df[c].to_numpy()

    if test_ids is None:
        test = np.array([], dtype=str)
    elif isinstance(test_ids, int):  # a test file without ids: its rows, numbered
        prefix = "" if ids_from_rows else "test_"
        test = np.array([f"{prefix}{i}" for i in range(test_ids)], dtype=object)
        notes.append(
            f"the test file has no id column: its {test_ids} rows are numbered "
            f"{prefix}0..{prefix}{test_ids - 1} in file order"
        )
    else:
        test = _check_ids(pd.Series(list(test_ids)), "test ids")
        overlap = np.intersect1d(test, ids)
        if len(overlap):
            raise StoreError(
                f"{len(overlap)} test id(s) are also training ids: {_first(overlap)}"
            )
    return PreparedTargets(
        out, id_col, list(target_cols), task, names, test, tuple(notes), fold_source,
        ids_from_rows, isinstance(test_ids, int),
    )


def _with_positive(
    names: list[str], positive: str, task: str, class_names: Sequence[str] | None
) -> list[str]:
    """Binary class order with ``positive`` second (the class AUC and log loss are about)."""
    if task != "binary":
        raise StoreError(f"--positive {positive!r} applies to a binary task; this one is {task}")
    if positive not in names:
        raise StoreError(f"--positive {positive!r} is not one of the classes {names}")
    if class_names and list(class_names)[1] != positive:
        raise StoreError(
            f"--class-names {list(class_names)} puts {list(class_names)[1]!r} second (the "
            f"positive class) but --positive says {positive!r}; give one of them"
        )
    return [n for n in names if n != positive] + [positive]
