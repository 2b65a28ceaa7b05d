"""Creating a store from a targets table."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oof_store import _schema as S
from oof_store._errors import StoreExistsError
from oof_store._fs import FS
from oof_store._writing import _now


def store_checksums(fs: FS) -> dict[str, str]:
    """The SHA-256 of the targets and test-id files as they are now (``checksums``)."""
    return {rel: S.content_hash(fs.read_bytes(rel)) for rel in (S.TARGETS_FILE, S.TEST_FILE)}


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
    targets_bytes = fs.parquet_bytes(pa.Table.from_pandas(prepared.table, preserve_index=False))
    fs.put_bytes(S.TARGETS_FILE, targets_bytes)
    test_tab = pa.table({prepared.id_col: pa.array(prepared.test_ids, pa.string())})
    test_bytes = fs.parquet_bytes(test_tab)
    fs.put_bytes(S.TEST_FILE, test_bytes)
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
        # every byte of the targets and test ids (the fingerprint covers ids and folds only)
        "checksums": {S.TARGETS_FILE: S.content_hash(targets_bytes),
                      S.TEST_FILE: S.content_hash(test_bytes)},
        "fold_source": prepared.fold_source,
        "ids_from_rows": prepared.ids_from_rows,
        "test_ids_from_rows": prepared.test_ids_from_rows,
    }
    fs.write_json(S.STORE_FILE, meta)  # last: its presence marks a complete store
    return {**meta, "notes": list(prepared.notes)}

