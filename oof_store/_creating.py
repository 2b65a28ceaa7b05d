"""Creating a store from a targets table."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oof_store import _schema as S
from oof_store._errors import StoreError, StoreExistsError
from oof_store._fs import FS
from oof_store._writing import _now


def create_store(
    uri: str | os.PathLike[str],
    targets: pd.DataFrame,
    *,
    id_col: str | None = "id",
    target_cols: str | Sequence[str] = "target",
    fold_col: str | Sequence[str] | None = "fold",
    group_col: str | None = None,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
    test_ids: Iterable[Any] | int | None = None,
    overwrite: bool = False,
    source: str = "",
    make_folds: str | None = None,
    positive: str | None = None,
) -> dict[str, Any]:
    """Create a store from a targets table; return its ``store.json`` metadata.

    Parameters
    ----------
    targets : DataFrame
        One row per training row: the id, the target column(s), the fold id, and any
        extra columns (kept for breakdowns, e.g. ``source``).
    id_col : str or None
        The id column; ``None`` when the table has none: its rows are numbered
        ``0..n-1`` in order, and prediction files without ids are matched by order.
    fold_col : str, list of str or None
        The fold-id column; a list names one-hot fold columns (``fold1..fold5``: 1 marks
        the fold that validates the row; an all-zero column is left out). ``None`` with
        ``make_folds``.
    make_folds : str, optional
        Make the folds with scikit-learn (:func:`oof_store.folds.make_folds`), e.g.
        ``"stratified:5:42"`` = ``StratifiedKFold(5, shuffle=True, random_state=42)``
        over the targets in file order.
    positive : str, optional
        A binary task's positive class (the one AUC and log loss are about); placed
        second in the class order.
    target_cols : str or list of str
        One column (binary, multiclass, regression) or one column per class holding
        soft targets that sum to 1 (softclass).
    task : {"binary", "multiclass", "softclass", "regression"}, optional
        Inferred when omitted.
    class_names : list of str, optional
        Class order; by default the sorted distinct targets (softclass: the columns).
    test_ids : iterable or int, optional
        The ids of the test rows, in submission order; an int: the number of test rows
        of a test file without ids (numbered in order).

    Returns
    -------
    dict
        The ``store.json`` metadata, plus ``"notes"`` (not saved): what the user should
        know about how the table was read (rows numbered, fold columns left out).
    """
    from oof_store._targets import prepare_targets

    fs = FS(uri)
    if fs.exists(S.STORE_FILE) and not overwrite:
        raise StoreExistsError(
            f"a store already exists at {fs.display('')}; pass overwrite=True "
            "(--overwrite) to replace its targets"
        )
    prepared = prepare_targets(
        targets,
        id_col=id_col,
        target_cols=[target_cols] if isinstance(target_cols, str) else list(target_cols),
        fold_col=fold_col,
        group_col=group_col,
        task=task,
        class_names=class_names,
        test_ids=test_ids,
        make_folds=make_folds,
        positive=positive,
    )
    fs.makedirs("")
    fs.makedirs(S.MODELS_DIR)
    fs.write_parquet(S.TARGETS_FILE, pa.Table.from_pandas(prepared.table, preserve_index=False))
    test_tab = pa.table({prepared.id_col: pa.array(prepared.test_ids, pa.string())})
    fs.write_parquet(S.TEST_FILE, test_tab)
    meta = {
        "format_version": S.FORMAT_VERSION,
        "task": prepared.task,
        "class_names": prepared.class_names,
        "id_col": prepared.id_col,
        "target_cols": prepared.target_cols,
        "group_col": S.GROUP_COLUMN if group_col else None,
        "n_rows": int(len(prepared.table)),
        "n_test": int(len(prepared.test_ids)),
        "fold_ids": sorted(int(f) for f in np.unique(prepared.table[S.FOLD_COLUMN])),
        "fingerprint": S.fingerprint(
            prepared.table[prepared.id_col].to_numpy(), prepared.table[S.FOLD_COLUMN].to_numpy()
        ),
        "created": _now(),
        "source": source,
        "fold_source": prepared.fold_source,
        "ids_from_rows": prepared.ids_from_rows,
        "test_ids_from_rows": prepared.test_ids_from_rows,
    }
    fs.write_json(S.STORE_FILE, meta)  # last: its presence marks a complete store
    return {**meta, "notes": list(prepared.notes)}


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
