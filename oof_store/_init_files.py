"""Reading the files of ``oof init`` as users have them: ids or none, folds in a file, a test file.

Kept apart from :mod:`oof_store._creating` (which :class:`~oof_store.Store` calls) because it
reads files with :mod:`oof_store.importing`, which itself builds on the store.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from oof_store._errors import StoreError


def _looks_like_id(name: str) -> bool:
    low = str(name).lower()
    return low == "id" or low.endswith("_id") or low.endswith("id") and not low.endswith("oid")


def read_init_files(
    targets_path: str | os.PathLike[str],
    *,
    id_col: str | None = None,
    fold: str | None = None,
    folds_path: str | os.PathLike[str] | None = None,
    test_path: str | os.PathLike[str] | None = None,
    test_id: str | None = None,
) -> tuple[pd.DataFrame, str | None, str | list[str] | None, list[str] | int | None, list[str]]:
    """Read the files of ``oof init`` as users have them.

    Parameters
    ----------
    targets_path : path
        CSV or Parquet; the id column is read as text (``00501`` stays ``00501``).
    id_col : str, optional
        The id column. Default: ``id`` when the file has one; with no column that looks
        like an id at all, the rows are numbered (``None`` comes back).
    fold : str, optional
        ``"fold"``, or ``"fold1,fold2,..."`` (one-hot columns), in the targets or in
        ``folds_path``.
    folds_path : path, optional
        A separate folds file joined on the id (by row order when neither file has ids).
        Without ``fold``: its fold-named column, or all its 0/1 columns as one-hot.
    test_path, test_id : optional
        The test file and its id column (default ``id_col``); without one, its row count.

    Returns
    -------
    targets : DataFrame
    id_col : str or None
    fold_col : str, list of str or None
    test_ids : list of str, int or None
    notes : list of str
    """
    from oof_store.importing import read_table
    from oof_store.importing._columns import _fold_like

    notes: list[str] = []
    targets = _table(read_table(targets_path, text_columns=[id_col or "id"]), targets_path)
    cols = [str(c) for c in targets.columns]
    if id_col is None:
        if "id" in cols:
            id_col = "id"
        else:
            guesses = [c for c in cols if _looks_like_id(c)]
            if guesses:
                raise StoreError(
                    f"{targets_path}: no column 'id'; column(s) {guesses} look like ids: name the "
                    f"id column with --id {guesses[0]}"
                )
    fold_col: str | list[str] | None = None
    if fold:
        parts = [p.strip() for p in str(fold).split(",") if p.strip()]
        fold_col = parts if len(parts) > 1 else parts[0]
    if folds_path is not None:
        folds_df = _table(read_table(folds_path, text_columns=[id_col or "id"]), folds_path)
        folds_df.columns = [str(c) for c in folds_df.columns]
        key = id_col if id_col and id_col in folds_df.columns else None
        if fold_col is None:
            named = [c for c in folds_df.columns if _fold_like(c)]
            zero_one = [
                c for c in folds_df.columns
                if c != key and pd.api.types.is_numeric_dtype(folds_df[c])
                and set(np.unique(folds_df[c].dropna()).tolist()) <= {0, 1}
            ]
            if len(named) == 1:
                fold_col = named[0]
            elif len(zero_one) > 1:
                fold_col = zero_one
            else:
                raise StoreError(
                    f"{folds_path}: which column holds the folds? Its columns: "
                    f"{list(folds_df.columns)}; name it with --fold COL (or --fold "
                    "fold1,fold2,... for one-hot columns)"
                )
        wanted = [fold_col] if isinstance(fold_col, str) else list(fold_col)
        missing = [c for c in wanted if c not in folds_df.columns]
        if missing:
            raise StoreError(
                f"{folds_path}: no fold column(s) {missing}; its columns: {list(folds_df.columns)}"
            )
        clash = [c for c in wanted if c in cols]
        if clash:
            raise StoreError(
                f"--folds {folds_path}: column(s) {clash} are in the targets file too; give the "
                "folds in one file"
            )
        if key is not None:
            if id_col not in targets.columns:
                raise StoreError(f"{targets_path}: no id column {id_col!r} to join --folds on")
            if folds_df[key].duplicated().any():
                dup = folds_df[key][folds_df[key].duplicated()].astype(str).tolist()
                raise StoreError(f"{folds_path}: id(s) {dup[:5]} appear more than once")
            joined = targets[[id_col]].astype(str).merge(
                folds_df[[key, *wanted]].astype({key: str}), how="left", on=id_col,
                validate="one_to_one",
            )
            lost = joined[wanted].isna().any(axis=1).to_numpy()
            if lost.any():
                raise StoreError(
                    f"{folds_path}: {int(lost.sum())} training id(s) have no folds there (e.g. "
                    f"{joined[id_col][lost].head(5).tolist()})"
                )
            for c in wanted:
                targets[c] = joined[c].to_numpy()
            notes.append(f"folds joined from {folds_path} on the id column {id_col!r}")
        else:
            if len(folds_df) != len(targets):
                raise StoreError(
                    f"{folds_path} has no id column {id_col or 'id'!r} and {len(folds_df)} rows, "
                    f"but the targets have {len(targets)}: add the ids to join on"
                )
            for c in wanted:
                targets[c] = folds_df[c].to_numpy()
            notes.append(f"folds taken from {folds_path} in row order (it has no id column)")
    test_ids: list[str] | int | None = None
    if test_path is not None:
        col = test_id or id_col or "id"
        test = _table(read_table(test_path, text_columns=[col]), test_path)
        if col in test.columns:
            test_ids = test[col].tolist()
        elif test_id is not None or (id_col is not None and any(_looks_like_id(c) for c in test.columns)):
            raise StoreError(
                f"{test_path}: no id column {col!r}; its columns: {list(test.columns)} "
                "(use --test-id COL)"
            )
        else:
            test_ids = len(test)
    return targets, id_col, fold_col, test_ids, notes


def _table(data: Any, path: Any) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise StoreError(f"{path}: must be a CSV or Parquet table")
    return data
