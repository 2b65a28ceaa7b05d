"""Import predictions in the shapes people really have, and export them again.

Accepted files: a Kaggle-style CSV (an id column and one column per class), a Parquet
file, or a ``.npy`` array in targets (or test) order. One file may hold all folds (the
store's folds are used, or a fold column is checked against them) or a single fold
(``fold=K``). Everything is checked before the first block is written, so a bad file
leaves the store as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from oof_store import _schema as S
from oof_store._errors import FoldMismatchError, StoreError, StoreExistsError
from oof_store._store import Store

__all__ = ["ImportResult", "import_predictions", "read_table", "export_predictions"]


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_predictions` wrote.

    Attributes
    ----------
    model : str
    split : str
        ``"oof"`` or ``"test"``.
    blocks : list of tuple of (int, int)
        The (fold, TTA view index) blocks written.
    tta_view : str
        Name of the TTA view written.
    complete : bool
        Whether every OOF (fold, view) block is now stored, so the model was finished.
    missing : list of str
        The OOF blocks still missing when not complete.
    """

    model: str
    split: str
    blocks: list[tuple[int, int]]  # (fold, tta) written
    tta_view: str
    complete: bool
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: blocks written, TTA view, and whether the model is complete."""
        state = "complete" if self.complete else "incomplete: still missing " + ", ".join(self.missing)
        return (
            f"model {self.model!r}: wrote {len(self.blocks)} {self.split} block(s) "
            f"(TTA view {self.tta_view!r}); {state}"
        )


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame | np.ndarray:
    """Read a CSV, Parquet or ``.npy`` file (``.npy`` comes back as an array)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreError(f"file not found: {path}")
    low = path.lower()
    try:
        if low.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if low.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if low.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            return pd.read_csv(path, sep="\t" if low.endswith(".tsv") else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    raise StoreError(f"{path}: unknown file type; use .csv, .parquet or .npy")


def _pick_columns(
    df: pd.DataFrame, store: Store, columns: str | list[str] | None, skip: set[str], path: str
) -> list[str]:
    names = list(df.columns)
    if isinstance(columns, list):
        missing = [c for c in columns if c not in names]
        if missing:
            raise StoreError(f"{path}: column(s) {missing} not found; its columns: {names}")
        return columns
    if isinstance(columns, str):
        chosen = [c for c in names if str(c).startswith(columns)]
        if not chosen:
            raise StoreError(f"{path}: no column starts with {columns!r}; its columns: {names}")
        return chosen
    if all(c in names for c in store.class_names):
        return list(store.class_names)
    numeric = [c for c in names if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
    if len(numeric) == store.n_classes or (store.task == "binary" and len(numeric) == 1):
        return numeric
    raise StoreError(
        f"{path}: cannot tell which columns hold the predictions: the store's classes are "
        f"{store.class_names} and the file's numeric columns are {numeric}; name them with "
        "--columns (a prefix such as 'pred_' or a comma-separated list)"
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


def _resolve_tta(store: Store, model: str, tta: int | str) -> tuple[int, list[str]]:
    """Index of the TTA view to write, and the model's view names afterwards."""
    views: list[str] = []
    if model in store.models():
        views = list(store.manifest(model)["tta_views"])
    elif store._fs.exists(S.pending_path(model)):
        views = list(store._fs.read_json(S.pending_path(model)).get("tta_views", []))
    else:
        n = max((t for _, _, t in store.blocks(model)), default=-1) + 1
        views = ["none"] if n == 1 else [f"view{t}" for t in range(n)]
    if isinstance(tta, str) and not tta.isdigit():
        if tta in views:
            return views.index(tta), views
        if views == ["none"] and not store.blocks(model):
            views = []
        return len(views), [*views, tta]
    t = int(tta)
    if t < len(views):
        return t, views
    views = views + [("none" if i == 0 else f"view{i}") for i in range(len(views), t + 1)]
    return t, views


def import_predictions(
    store: Store,
    model: str,
    split: str,
    file: str | os.PathLike[str] | pd.DataFrame | np.ndarray,
    *,
    id_col: str | None = None,
    fold: int | str | None = None,
    tta: int | str = 0,
    kind: str = "probs",
    columns: str | list[str] | None = None,
    overwrite: bool = False,
    params: dict[str, Any] | None = None,
) -> ImportResult:
    """Import one file of predictions of ``model`` into the store.

    Parameters
    ----------
    file : path, DataFrame or ndarray
        A ``.npy`` array must be in targets order (OOF) or test order, shape ``(n, C)``
        (``(n,)`` for a binary or regression task).
    fold : None, int or str
        ``None``: the file holds every fold (OOF; the store's folds split it) or one
        prediction of the whole test set (test). An int: the file holds that fold only
        (OOF rows of fold K; or the test predictions of fold K's model). A column name:
        the file's own fold ids, which must agree with the store's.
    tta : int or str
        The TTA view index, or its name (a new name becomes the next view).
    """
    S.check_split(split)
    S.check_model_name(model)
    if kind not in S.KINDS:
        raise StoreError(f"kind must be one of {list(S.KINDS)}, got {kind!r}")
    if store.task == "regression":
        kind = "raw"
    if isinstance(fold, str) and fold.lstrip("-").isdigit():
        fold = int(fold)
    if model in store.models():
        have = store.manifest(model)["kind"]
        if have != kind:
            raise StoreError(
                f"model {model!r} is stored as {have!r}; this import says {kind!r} (--kind {have})"
            )
    path = file if isinstance(file, (str, os.PathLike)) else f"<{type(file).__name__}>"
    path = os.fspath(path)
    data = read_table(file) if isinstance(file, (str, os.PathLike)) else file
    all_ids = store.ids if split == "oof" else store.test_ids
    if split == "test" and len(all_ids) == 0:
        raise StoreError(
            "the store has no test ids; create it with --test FILE to import test predictions"
        )

    file_folds: np.ndarray | None = None
    if isinstance(data, np.ndarray):
        values = _expand_binary(np.asarray(data), store, kind)
        if isinstance(fold, str):
            raise StoreError(f"{path}: a .npy file has no fold column {fold!r}; give --fold K")
        if split == "oof" and fold is not None:
            ids = store.ids[store.folds == int(fold)]
        else:
            ids = all_ids
        if len(values) != len(ids):
            raise StoreError(
                f"{path}: {len(values)} rows, but {len(ids)} expected "
                f"({'fold ' + str(fold) + ' of ' if fold is not None and split == 'oof' else ''}"
                f"the store's {'targets' if split == 'oof' else 'test'} order)"
            )
    else:
        df = data
        icol = id_col or store.id_col
        if icol not in df.columns:
            raise StoreError(
                f"{path}: no id column {icol!r}; its columns: {list(df.columns)} (use --id COL)"
            )
        fold_col = fold if isinstance(fold, str) else None
        if fold_col is not None and fold_col not in df.columns:
            raise StoreError(f"{path}: no fold column {fold_col!r}; its columns: {list(df.columns)}")
        skip = {icol, *( [fold_col] if fold_col else []), *store.target_cols, "fold", "target"}
        cols = _pick_columns(df, store, columns, skip, path)
        ids = df[icol].astype(str).to_numpy()
        try:
            values = _expand_binary(df[cols].to_numpy(dtype=np.float64), store, kind)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{path}: columns {cols} are not all numeric ({exc})") from exc
        if fold_col is not None:
            file_folds = df[fold_col].to_numpy()

    if values.shape[1] != store.n_classes:
        raise StoreError(
            f"{path}: {values.shape[1]} prediction column(s) for model {model!r}, but the store "
            f"has {store.n_classes} classes {store.class_names}"
        )
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise StoreError(
            f"{path}: {len(dup)} id(s) appear more than once: "
            + ", ".join(repr(d) for d in dup[:5])
        )

    # Split into blocks.
    blocks: list[tuple[int, np.ndarray, np.ndarray]] = []
    if split == "oof":
        pos = store._id_pos.get_indexer(ids)
        if (pos < 0).any():
            bad = ids[pos < 0]
            raise StoreError(
                f"{path}: {len(bad)} id(s) of model {model!r} are not in the store's targets: "
                + ", ".join(repr(b) for b in bad[:5])
            )
        store_folds = store.folds[pos]
        if file_folds is not None:
            wrong = store_folds != file_folds.astype(store_folds.dtype, copy=False)
            if wrong.any():
                raise FoldMismatchError(
                    f"{path}: model {model!r} was validated with another fold assignment: "
                    f"{int(wrong.sum())} row(s) have a different fold than the store's (e.g. id "
                    f"{ids[wrong][0]!r}: file fold {file_folds[wrong][0]}, store fold "
                    f"{store_folds[wrong][0]}). Its OOF cannot be blended honestly with models "
                    "made on the store's folds; retrain it with the store's folds"
                )
        if isinstance(fold, int):
            blocks.append((fold, ids, values))
        else:
            for f in store.fold_ids:
                sel = store_folds == f
                blocks.append((f, ids[sel], values[sel]))
            missing = np.setdiff1d(store.ids, ids)
            if len(missing):
                raise StoreError(
                    f"{path}: {len(missing)} OOF row(s) of the store are never predicted by "
                    f"model {model!r} (e.g. {', '.join(repr(m) for m in missing[:5])}); "
                    "import every row, or one fold per file with --fold K"
                )
    else:
        if file_folds is not None:
            for f in sorted(set(file_folds.tolist())):
                sel = file_folds == f
                blocks.append((int(f), ids[sel], values[sel]))
        else:
            f = S.FULL_TEST_FOLD if fold is None else int(fold)
            blocks.append((f, ids, values))

    t, views = _resolve_tta(store, model, tta)
    checked = []
    for f, bids, bvals in blocks:
        if not overwrite and store.has_block(split, model, f, t):
            raise StoreExistsError(
                f"model {model!r}, split {split}, fold {f}, TTA view {views[t]!r} is already in "
                "the store; pass --overwrite to replace it"
            )
        aligned_ids, aligned = store.check_block(split, model, f, t, bids, bvals)
        if kind == "probs":
            store.check_prob_sums(split, model, f, t, aligned)
        checked.append((f, aligned_ids, aligned))
    with store.transaction(model, "import") as tx:  # one writer; committed all at once
        for f, bids, bvals in checked:
            tx.write_block(split, f, t, bids, bvals, overwrite=True)

        have = tx.blocks()
        oof_have = {(f, tt) for s, f, tt in have if s == "oof"}
        missing = [
            f"OOF fold {f} view {views[tt]!r}"
            for tt in range(len(views))
            for f in store.fold_ids
            if (f, tt) not in oof_have
        ]
        complete = not missing
        if complete:
            old = store.manifest(model) if model in store.models() else {}
            merged = {**old.get("params", {}), **(params or {})}
            merged.setdefault("files", [])
            merged["files"] = [*merged["files"], path]
            tx.finish_model(
                kind=kind, tta_views=views, params=merged, source="import", overwrite=True
            )
        else:
            tx.pending_extra.update(tta_views=views, kind=kind)
    return ImportResult(model, split, [(f, t) for f, _, _ in checked], views[t], complete, missing)


def export_predictions(
    store: Store,
    model: str,
    split: str,
    to: str | os.PathLike[str],
    *,
    tta: str | int = "all",
    output: str = "raw",
) -> pd.DataFrame:
    """Write one model's predictions as CSV or Parquet: id, (fold), (tta), one column per class."""
    S.check_split(split)
    man = store.manifest(model)
    frames = []
    if split == "oof":
        data = store.load_oof([model], tta=tta, output=output)
        for j, view in enumerate(data.tta_views):
            df = pd.DataFrame(data.preds[0, j], columns=store.class_names)
            df.insert(0, "tta", view)
            df.insert(0, S.FOLD_COLUMN, data.folds)
            df.insert(0, store.id_col, data.ids)
            frames.append(df)
    else:
        per_fold = [f for f in man.get("test_folds", []) if f != S.FULL_TEST_FOLD]
        folds = "all" if per_fold and sorted(per_fold) == store.fold_ids else "mean"
        data = store.load_test([model], tta=tta, folds=folds, output=output)
        fold_names = store.fold_ids if folds == "all" else ["mean"]
        preds = data.preds[0] if folds == "all" else data.preds[0][None]
        for k, fname in enumerate(fold_names):
            for j, view in enumerate(data.tta_views):
                df = pd.DataFrame(preds[k, j], columns=store.class_names)
                df.insert(0, "tta", view)
                df.insert(0, S.FOLD_COLUMN, fname)
                df.insert(0, store.id_col, data.ids)
                frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    to = os.fspath(to)
    if to.lower().endswith((".parquet", ".pq")):
        out.to_parquet(to, index=False)
    else:
        out.to_csv(to, index=False)
    return out
