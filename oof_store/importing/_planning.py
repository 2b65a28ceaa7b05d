"""Planning an import: read and check each file into in-memory blocks; nothing is written."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oof_store import _schema as S
from oof_store._blocks import _first
from oof_store._errors import FoldMismatchError, StoreError, StoreExistsError
from oof_store._store import Store
from oof_store.importing._columns import (
    _expand_binary,
    _fold_like,
    _int_folds,
    _pick_columns,
    _reserved_columns,
)
from oof_store.importing._plausibility import _implausibly_perfect, _prob_problems
from oof_store.importing._readers import _plural, read_table
from oof_store.importing._templates import FileSpec


@dataclass
class _Plan:
    """The checked blocks of one model, held in memory until every file has passed."""

    model: str
    split: str
    kind: str
    views: list[str]
    existing: set[tuple[str, int, int]]  # (split, fold, tta) already in the store
    blocks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Index:
    """Hash indexes (Arrow) of the store's training and test ids, built once per import."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sets: dict[str, pa.Array] = {}

    def positions(self, split: str, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Row of each id in the store's targets (``oof``) or test order; -1 if unknown."""
        if split not in self._sets:
            known = self.store.ids if split == "oof" else self.store.test_ids
            self._sets[split] = pa.array(np.asarray(known, dtype=object), pa.string())
        found = pc.index_in(ids, value_set=self._sets[split]).fill_null(-1)
        return np.asarray(found.to_numpy(), dtype=np.int64)

    def numeric_positions(
        self, split: str, ids: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, str | None]:
        """Match the ids not found as text by their integer value, when both sides agree.

        Ids are text (``00501`` is not ``501``) unless every source agrees they are numbers:
        every id of the file and of the store reads as an integer and no two store ids
        share a value. Then ``501`` finds the store's ``00501``, and the note says so.
        """
        known = np.asarray(self.store.ids if split == "oof" else self.store.test_ids, dtype=str)
        mine = _as_integers(ids)
        theirs = _as_integers(known)
        if mine is None or theirs is None or len(np.unique(theirs)) != len(theirs):
            return pos, None
        lookup = pd.Index(theirs)
        by_value = np.asarray(lookup.get_indexer(mine), dtype=np.int64)
        if (by_value < 0).any():
            return pos, None
        changed = int((pos != by_value).sum())
        first = int(np.flatnonzero(pos != by_value)[0])
        return by_value, (
            f"{changed} id(s) matched the store's ids as numbers, not as text (e.g. "
            f"{str(ids[first])!r} = {str(known[by_value[first]])!r}); the store keeps its spelling"
        )


def _as_integers(values: np.ndarray) -> np.ndarray | None:
    """``values`` as int64 when every one is an integer written in digits, else None."""
    text = pd.Series(np.asarray(values, dtype=str)).str.strip()
    if not text.str.fullmatch(r"[+-]?\d{1,18}").all():
        return None
    return text.astype(np.int64).to_numpy()


def _refuse_without_ids(df: pd.DataFrame, icol: str, named: bool, path: str) -> None:
    """Refuse a file without the id column unless it plainly has no ids at all.

    A file is taken in row order only when ``--id`` was not given and none of its columns
    looks like an id: a name ending in ``id`` (``image_id``, ``PassengerId``) or a
    column of text.
    """
    cols = list(df.columns)
    if named:
        raise StoreError(f"{path}: no id column {icol!r}; its columns: {cols} (use --id COL)")
    id_like = [
        c for c in cols
        if c.lower().endswith("id") or c.lower().startswith("id_")
        or not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    if id_like:
        raise StoreError(
            f"{path}: no id column {icol!r}; its columns: {cols}. Column(s) {id_like} look like "
            f"ids: name the id column with --id {id_like[0]} (a file without any id column is "
            "matched to the store's rows by order)"
        )


def _row_order(
    store: Store, split: str, fold: int | str | None, n: int, path: str, why: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and ids of a file taken in the store's row order (training or test)."""
    all_ids = store.ids if split == "oof" else store.test_ids
    if split == "oof" and fold is not None:
        pos = np.flatnonzero(store.folds == int(fold))
        where = f"the rows of fold {fold} in the store's training order"
    else:
        pos = np.arange(len(all_ids))
        where = "the store's training rows" if split == "oof" else "the store's test rows"
    if n != len(pos):
        raise StoreError(
            f"{path}: {why}, so its rows are matched by order, but it has {n} rows and "
            f"{where} are {len(pos)}; give the file an id column (--id COL) or import the "
            f"{'test' if split == 'oof' else 'OOF'} file with --split "
            f"{'test' if split == 'oof' else 'oof'} if that is what it holds"
        )
    return pos, np.asarray(all_ids, dtype=object)[pos]


def _initial_views(store: Store, model: str) -> list[str]:
    if model in store.models():
        return list(store.manifest(model)["tta_views"])
    if store._fs.exists(S.pending_path(model)):
        return list(store._fs.read_json(S.pending_path(model)).get("tta_views", []))
    n = max((t for _, _, t in store.blocks(model)), default=-1) + 1
    return ["none"] if n == 1 else [f"view{t}" for t in range(n)]


def _place_view(views: list[str], written: bool, tta: int | str) -> int:
    """Index of view ``tta`` in ``views``, appending it (and any gap) when it is new."""
    if isinstance(tta, str) and not tta.isdigit():
        if tta in views:
            return views.index(tta)
        if views == ["none"] and not written:
            views.clear()
        views.append(tta)
        return len(views) - 1
    t = int(tta)
    while len(views) <= t:
        views.append("none" if not views else f"view{len(views)}")
    return t


def _stored_kind(store: Store, model: str) -> str | None:
    """The kind the model's earlier blocks were imported as (manifest, or pending note)."""
    if model in store.models():
        return store.manifest(model)["kind"]
    if store._fs.exists(S.pending_path(model)):
        return store._fs.read_json(S.pending_path(model)).get("kind")
    return None


def _new_plan(store: Store, model: str, split: str, kind: str) -> _Plan:
    S.check_model_name(model)
    existing = set(store.blocks(model))
    have = _stored_kind(store, model)
    if have is not None and have != kind:
        folds = sorted({f for s, f, _ in existing if s == "oof"})
        where = f"its OOF fold(s) {folds}" if folds else "its blocks"
        raise StoreError(
            f"model {model!r}: {where} were imported as --kind {have}, but this import says "
            f"--kind {kind}; one model has one kind. Import it as --kind {have}, or replace "
            f"the model (`oof rm STORE --model {model}`) first"
        )
    return _Plan(model, split, kind, _initial_views(store, model), existing)


def _plan_file(
    store: Store,
    index: _Index,
    plan: _Plan,
    spec: FileSpec,
    data: pd.DataFrame | np.ndarray | None,
    *,
    id_col: str | None,
    fold: int | str | None,
    tta: int | str,
    columns: str | list[str] | None,
    overwrite: bool,
    allow_perfect: bool,
) -> None:
    """Read and check one file; add its blocks to ``plan``. Writes nothing.

    Every step is linear in the rows: ids are looked up in a hash table (Arrow
    ``index_in``), duplicates and missing rows are found from the row positions.
    """
    model, split, kind = plan.model, plan.split, plan.kind
    path = spec.path
    if spec.fold is not None:
        if fold is not None:
            raise StoreError(f"{path}: the file name gives fold {spec.fold}; do not give --fold too")
        fold = spec.fold
    if spec.tta is not None:
        tta = spec.tta
    if isinstance(fold, str) and fold.lstrip("-").isdigit():
        fold = int(fold)
    if isinstance(fold, int):
        allowed = store.fold_ids if split == "oof" else [S.FULL_TEST_FOLD, *store.fold_ids]
        if fold not in allowed:
            raise FoldMismatchError(
                f"{path}: model {model!r}: fold {fold} is not a fold of the store ({store.fold_ids})"
                + ("; use -1 for one prediction of the whole test set" if split == "test" else "")
            )
    all_ids = store.ids if split == "oof" else store.test_ids
    if split == "test" and len(all_ids) == 0:
        raise StoreError(
            "the store has no test ids; create it with --test FILE to import test predictions"
        )
    if data is None:
        data = read_table(path, text_columns=[id_col or store.id_col])

    file_folds: list[tuple[str, np.ndarray]] = []
    if isinstance(data, np.ndarray):
        raw = np.asarray(data)
        if raw.ndim == 1:
            raw = raw[:, None]
        if raw.ndim != 2:
            raise StoreError(f"{path}: a .npy file of shape {raw.shape}; expected (rows, classes)")
        cols = [f"column {j}" for j in range(raw.shape[1])]
        if isinstance(fold, str):
            raise StoreError(f"{path}: a .npy file has no fold column {fold!r}; give --fold K")
        pos, ids = _row_order(store, split, fold, len(raw), path, "a .npy file")
    else:
        df = data.copy(deep=False)
        df.columns = [str(c) for c in df.columns]
        icol: str | None = id_col or store.id_col
        if icol not in df.columns:
            _refuse_without_ids(df, icol, id_col is not None, path)
            icol = None
        if isinstance(fold, str) and fold not in df.columns:
            raise StoreError(f"{path}: no fold column {fold!r}; its columns: {list(df.columns)}")
        fold_cols = [c for c in df.columns if c != icol and (_fold_like(c) or c == fold)]
        reserved = _reserved_columns(store, split, df, icol, fold_cols)
        cols = _pick_columns(df, store, columns, reserved, path)
        if icol is None:
            if fold_cols:
                raise StoreError(
                    f"{path}: no id column {store.id_col!r} but a fold column {fold_cols[0]!r}: "
                    "rows are matched by order only in a file without ids and folds; add the "
                    "ids (--id COL names the id column)"
                )
            pos, ids = _row_order(store, split, fold, len(df), path, "it has no id column")
            plan.notes.append(
                f"{path}: no id column {store.id_col!r}; its {len(df)} rows were matched by order "
                f"to the store's {'training' if split == 'oof' else 'test'} rows"
            )
        else:
            if df[icol].isna().any():
                rows = np.flatnonzero(df[icol].isna().to_numpy())
                raise StoreError(f"{path}: {len(rows)} row(s) have no id (rows {rows[:5].tolist()})")
            id_series = df[icol].astype(str)
            pos = index.positions(split, pa.array(id_series))
            ids = id_series.to_numpy(dtype=object)
            if (pos < 0).any():
                pos, note = index.numeric_positions(split, ids, pos)
                if note:
                    plan.notes.append(f"{path}: {note}")
        try:
            raw = df[cols].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{path}: columns {cols} are not all numeric ({exc})") from exc
        for c in fold_cols:
            file_folds.append((c, df[c].to_numpy()))

    if raw.shape[1] != store.n_classes and not (store.task == "binary" and raw.shape[1] == 1):
        raise StoreError(
            f"{path}: {raw.shape[1]} prediction column(s) {cols} for model {model!r}, but the "
            f"store has {store.n_classes} class(es) {store.class_names}"
        )
    if not np.issubdtype(raw.dtype, np.number):
        raise StoreError(f"{path}: the predictions are not numbers (dtype {raw.dtype})")

    if (pos < 0).any():
        bad = ids[pos < 0]
        what = "the store's targets" if split == "oof" else "the store's test ids"
        raise StoreError(
            f"{path}: {len(bad)} id(s) of model {model!r} are not in {what}: {_first(bad)}"
        )

    # The fold of each row: the store's (OOF) or the file's own (test, when it has one).
    if split == "oof":
        row_folds = store.folds[pos]
        for c, values in file_folds:
            theirs = _int_folds(values, c, path)
            wrong = theirs != row_folds
            if wrong.any():
                k = np.flatnonzero(wrong)[:5]
                shown = ", ".join(
                    f"{str(ids[i])!r} (file {theirs[i]}, store {row_folds[i]})" for i in k
                )
                raise FoldMismatchError(
                    f"{path}: model {model!r} was validated with another fold assignment: column "
                    f"{c!r} gives {_plural(int(wrong.sum()), 'row')} another fold than the "
                    f"store's: {shown}. Its OOF cannot be blended honestly with models made on "
                    "the store's folds; retrain it with the store's folds"
                )
        if isinstance(fold, int):
            wrong = row_folds != fold
            if wrong.any():
                other = sorted(set(row_folds[wrong].tolist()))
                raise FoldMismatchError(
                    f"{path}: model {model!r}, fold {fold}: {_plural(int(wrong.sum()), 'row')} "
                    f"belong to other folds in the store (ids {_first(ids[wrong])}, store folds "
                    f"{other}). The model was validated on other rows than the store's fold "
                    "assignment: retrain it with the store's folds"
                )
    else:
        row_folds = np.full(len(ids), fold if isinstance(fold, int) else S.FULL_TEST_FOLD)
        if file_folds:
            c, values = file_folds[0]
            theirs = _int_folds(values, c, path, mean_is_full=True)
            if isinstance(fold, int) and (theirs != fold).any():
                i = int(np.flatnonzero(theirs != fold)[0])
                raise FoldMismatchError(
                    f"{path}: --fold {fold}, but column {c!r} says fold {theirs[i]} for id "
                    f"{str(ids[i])!r}"
                )
            unknown = sorted(set(theirs.tolist()) - {S.FULL_TEST_FOLD, *store.fold_ids})
            if unknown:
                raise FoldMismatchError(
                    f"{path}: column {c!r} holds fold(s) {unknown} that the store does not have "
                    f"({store.fold_ids}; -1 means the whole test set)"
                )
            row_folds = theirs

    # Duplicates (a test file with a fold column holds each id once per fold).
    n_all = len(all_ids)
    key = pos if split == "oof" else pos + n_all * (row_folds.astype(np.int64) + 1)
    dup = pd.Index(key).duplicated()
    if dup.any():
        shown = pd.unique(ids[dup])
        raise StoreError(
            f"{path}: {len(shown)} id(s) appear more than once for model {model!r}: "
            f"{_first(shown)}"
        )

    # Rows never predicted.
    if split == "oof":
        seen = np.zeros(n_all, dtype=bool)
        seen[pos] = True
        expected = store.folds == fold if isinstance(fold, int) else np.ones(n_all, bool)
        missing = store.ids[expected & ~seen]
        if len(missing):
            where = f"fold {fold} of the store" if isinstance(fold, int) else "the store"
            raise StoreError(
                f"{path}: {len(missing)} OOF row(s) of {where} are never predicted by model "
                f"{model!r} (e.g. {_first(missing)}); import every row, or one fold per file "
                "with --fold K"
            )
    else:
        for f in np.unique(row_folds):
            sel = row_folds == f
            if sel.sum() != n_all:
                seen = np.zeros(n_all, bool)
                seen[pos[sel]] = True
                raise StoreError(
                    f"{path}: model {model!r}, split test, fold {int(f)}: "
                    f"{int((~seen).sum())} test row(s) are never predicted: "
                    f"{_first(all_ids[~seen])}"
                )

    # Values: finite, probabilities when kind is probs, not implausibly perfect.
    bad = ~np.isfinite(raw)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        r = rows[0]
        n_nan = int(np.isnan(raw).sum())
        n_inf = int(bad.sum()) - n_nan
        parts = [_plural(n_nan, "NaN value")] if n_nan else []
        parts += [_plural(n_inf, "infinite value")] if n_inf else []
        col = cols[int(np.flatnonzero(bad[r])[0])]
        raise StoreError(
            f"{path}: model {model!r}, split {split}, fold {int(row_folds[r])}: "
            f"{' and '.join(parts)} in {_plural(len(rows), 'row')} (first: id {str(ids[r])!r}, "
            f"column {col!r}; ids {_first(ids[rows])}); fix or re-export the predictions, or "
            "leave the model out"
        )
    store.check_magnitude(raw, ids, f"{path}: model {model!r}, split {split}")  # issue 23
    if kind == "probs" and store.task != "regression":
        problem = _prob_problems(raw, ids, cols, sums=raw.shape[1] > 1)
        if problem:
            raise StoreError(
                f"{path}: model {model!r}, split {split}: --kind probs, but {problem}; import "
                "them with --kind logits, or normalise them"
            )
    values = _expand_binary(raw, store, kind)
    if split == "oof" and not allow_perfect:
        perfect = _implausibly_perfect(store, pos, values, kind)
        if perfect:
            raise StoreError(
                f"{path}: model {model!r}: its OOF predictions are implausibly perfect "
                f"({perfect}). Were the targets imported as predictions? Check the file's "
                "columns (--columns); if the model really is this good, pass --allow-perfect"
            )

    values = values.astype(np.float32, copy=False)

    # Blocks in the store's row order: scatter by row position (no sort).
    t = _place_view(plan.views, bool(plan.existing or plan.blocks), tta)
    known_ids = np.asarray(all_ids, dtype=object)
    if split == "oof":
        folds_here = [fold] if isinstance(fold, int) else store.fold_ids
    else:
        folds_here = sorted(int(f) for f in np.unique(row_folds))
    scattered: np.ndarray | None = None  # OOF: one array, each row in its own fold's block
    for f in folds_here:
        if (f, t) in plan.blocks:
            raise StoreError(
                f"model {model!r}, split {split}, fold {f}, TTA view {plan.views[t]!r} comes from "
                f"two files: {plan.blocks[(f, t)][2]} and {path}"
            )
        if not overwrite and (split, f, t) in plan.existing:
            raise StoreExistsError(
                f"{path}: model {model!r}, split {split}, fold {f}, TTA view {plan.views[t]!r} is "
                "already in the store; pass --overwrite to replace it"
            )
        if split == "test" or scattered is None:
            sel = row_folds == f if split == "test" else slice(None)
            scattered = np.empty((n_all, values.shape[1]), np.float32)
            scattered[pos[sel]] = values[sel]
        rows = np.flatnonzero(store.folds == f) if split == "oof" else np.arange(n_all)
        plan.blocks[(f, t)] = (known_ids[rows], scattered[rows], path)
    plan.files.append(path)


def _finish_state(store: Store, plan: _Plan) -> tuple[list[str], list[str]]:
    """(OOF blocks missing, test views missing) once the plan is written."""
    have = plan.existing | {(plan.split, f, t) for f, t in plan.blocks}
    views = plan.views
    missing_oof = [
        f"OOF fold {f} view {views[t]!r}"
        for t in range(len(views))
        for f in store.fold_ids
        if ("oof", f, t) not in have
    ]
    test_folds = sorted({f for s, f, _ in have if s == "test"})
    missing_test = [
        f"test fold {f} view {views[t]!r}"
        for f in test_folds
        for t in range(len(views))
        if ("test", f, t) not in have
    ]
    return missing_oof, missing_test
