"""Column heuristics: which columns are ids, folds, targets, and which hold predictions."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from oof_store import _schema as S
from oof_store._errors import StoreError
from oof_store._store import Store

_FOLD_NAME_RE = re.compile(r"^(k_?|cv_?)?folds?(_?(id|idx|index|no|num|number))?$", re.IGNORECASE)



def _fold_like(name: Any) -> bool:
    """Whether a column name reads as a fold id column (``fold``, ``kfold``, ``fold_id``...)."""
    return bool(_FOLD_NAME_RE.match(str(name))) or str(name) == S.FOLD_COLUMN


def _reserved_columns(
    store: Store, split: str, df: pd.DataFrame, icol: str | None, fold_cols: list[str]
) -> dict[str, str]:
    """Columns never taken as predictions without ``--columns``, with the reason."""
    out: dict[str, str] = {icol: "the id column"} if icol is not None else {}
    for c in fold_cols:
        out[c] = "a fold column"
    groups = {S.GROUP_COLUMN, str(store.meta.get("group_col") or S.GROUP_COLUMN)}
    targets = {*store.target_cols, "target"}
    if store.task == "softclass":  # soft-target columns are named like the classes
        targets -= set(store.class_names)
    for c in df.columns:
        if c in out:
            continue
        if _fold_like(c):
            out[c] = "a fold column"
        elif c in groups:
            out[c] = "the group column"
        elif c == "tta":
            out[c] = "the TTA view column"
        elif split == "oof" and c in targets:
            out[c] = "the store's target column: OOF predictions are never read from it"
    return out


def _pick_columns(
    df: pd.DataFrame,
    store: Store,
    columns: str | list[str] | None,
    reserved: dict[str, str],
    path: str,
) -> list[str]:
    """The prediction columns of ``df`` (see the rules in docs/commands/oof.md)."""
    names = list(df.columns)
    hard = {c: why for c, why in reserved.items() if why in ("the id column", "a fold column")}
    if isinstance(columns, list):
        missing = [c for c in columns if c not in names]
        if missing:
            raise StoreError(f"{path}: column(s) {missing} not found; its columns: {names}")
        clash = [c for c in columns if c in hard]
        if clash:
            raise StoreError(
                f"{path}: --columns names {clash}, which is "
                + ", ".join(f"{c!r}: {hard[c]}" for c in clash)
                + "; such a column is never a prediction"
            )
        return columns
    if isinstance(columns, str):
        chosen = [c for c in names if c.startswith(columns) and c not in hard]
        if not chosen:
            raise StoreError(f"{path}: no column starts with {columns!r}; its columns: {names}")
        return chosen
    free = [c for c in names if c not in reserved]
    numeric = [c for c in free if pd.api.types.is_numeric_dtype(df[c])]
    if all(c in free for c in store.class_names):
        extra = [c for c in numeric if c not in store.class_names]
        if extra:
            raise StoreError(
                f"{path}: numeric column(s) {extra} besides the store's {store.n_classes} class "
                f"column(s) {store.class_names}: a class the store does not have, or another "
                "model? Remove them, or name the prediction columns with --columns"
            )
        return list(store.class_names)
    named = [c for c in numeric if c in store.class_names]
    if store.task == "binary" and named == numeric == [store.class_names[1]]:
        return named  # the positive class's probability, by name
    if store.task == "binary" and named == numeric == [store.class_names[0]]:
        raise StoreError(
            f"{path}: its one prediction column {named[0]!r} is named like the store's "
            f"negative class (classes {store.class_names}; the positive class is "
            f"{store.class_names[1]!r}). Give the positive class's probability (1 - p), or both "
            "columns named like the classes"
        )
    if named and store.task != "regression":
        absent = [c for c in store.class_names if c not in free]
        raise StoreError(
            f"{path}: column(s) {named} are named like the store's classes "
            f"{store.class_names} but class(es) {absent} have no column, so the columns "
            "cannot be matched to classes by name (and would be wrong by position). Name "
            "every class's column like the class, or list the prediction columns in class "
            f"order with --columns (e.g. --columns {','.join(numeric[: store.n_classes])})"
        )
    if len(numeric) == store.n_classes or (store.task == "binary" and len(numeric) == 1):
        return numeric
    aside = [f"{c!r} ({why})" for c, why in reserved.items() if c in names]
    want = "1 (the positive class) or 2" if store.task == "binary" else str(store.n_classes)
    target_aside = [c for c, why in reserved.items() if c in names and why.startswith("the store's target")]
    hint = (
        f"; if {target_aside[0]!r} holds predictions, not the targets, pass --columns "
        f"{target_aside[0]}"
        if target_aside and not numeric
        else ""
    )
    raise StoreError(
        f"{path}: cannot tell which columns hold the predictions. Its columns: {names}; "
        f"set aside: {', '.join(aside) or 'none'}; numeric columns left: {numeric}, but the "
        f"store needs {want} named like its classes {store.class_names}. Name them with "
        f"--columns (a prefix such as 'pred_' or a comma-separated list){hint}"
    )


def _expand_binary(values: np.ndarray, store: Store, kind: str) -> np.ndarray:
    if values.ndim == 1:
        values = values[:, None]
    if store.task == "binary" and values.shape[1] == 1:
        v = values[:, 0].astype(np.float64)
        if kind == "probs":
            return np.column_stack([1.0 - v, v])
        return np.column_stack([np.zeros_like(v), v])
    return values


def _int_folds(values: np.ndarray, col: str, path: str, mean_is_full: bool = False) -> np.ndarray:
    """A fold column as int64 (``"mean"`` is the whole test set when ``mean_is_full``)."""
    s = pd.Series(values)
    if mean_is_full:
        s = s.where(s.astype(str) != "mean", S.FULL_TEST_FOLD)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna().to_numpy() | (np.mod(num.fillna(0).to_numpy(dtype=np.float64), 1) != 0)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise StoreError(
            f"{path}: fold column {col!r} must hold integer fold ids; row {r} holds "
            f"{str(values[r])!r}"
        )
    return num.to_numpy(dtype=np.int64)
