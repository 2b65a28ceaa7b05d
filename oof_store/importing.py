"""Import predictions in the shapes people really have, and export them again.

Accepted files: a Kaggle-style CSV (an id column and one column per class), a Parquet
file, or a ``.npy`` array in targets (or test) order. One file may hold all folds (the
store's folds are used, and a fold column, when the file has one, is checked against
them) or a single fold (``fold=K``). :func:`import_files` imports every file matching a
template such as ``preds/oof_{model}.csv``.

Every file is read and checked before the first block is written, so a bad file leaves
the store exactly as it was. The checks are linear in the number of rows (hash lookups
of the ids, no sorting of strings against each other).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oof_store import _schema as S
from oof_store._blocks import PROB_SUM_TOL, _first
from oof_store._errors import FoldMismatchError, StoreError, StoreExistsError
from oof_store._store import Store

__all__ = [
    "ImportResult",
    "FileSpec",
    "import_predictions",
    "import_files",
    "expand_template",
    "read_table",
    "export_predictions",
]

PLACEHOLDERS = ("model", "fold", "tta")
_FOLD_NAME_RE = re.compile(r"^(k_?|cv_?)?folds?(_?(id|idx|index|no|num|number))?$", re.IGNORECASE)
# Perfect-score guard: thresholds far beyond any real model (see _implausibly_perfect).
PERFECT_LOGLOSS = 1e-4
PERFECT_REL_ERR = 1e-6
PERFECT_SOFT_ERR = 1e-4

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_predictions` wrote for one model.

    Attributes
    ----------
    model : str
    split : str
        ``"oof"`` or ``"test"``.
    blocks : list of tuple of (int, int)
        The (fold, TTA view index) blocks written.
    tta_view : str
        Name of the TTA view written (the views joined by ``,`` when several were).
    complete : bool
        Whether every OOF (fold, view) block is now stored, so the model was finished.
    missing : list of str
        What is still missing: OOF blocks (the model is incomplete) or TTA views of a
        test fold (the manifest is updated when they arrive).
    files : list of str
        The files imported.
    """

    model: str
    split: str
    blocks: list[tuple[int, int]]  # (fold, tta) written
    tta_view: str
    complete: bool
    missing: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: blocks written, TTA view, and whether the model is complete."""
        if self.complete and not self.missing:
            state = "complete"
        elif self.complete:
            state = "complete; still missing " + ", ".join(self.missing)
        else:
            state = "incomplete: still missing " + ", ".join(self.missing)
        return (
            f"model {self.model!r}: wrote {len(self.blocks)} {self.split} block(s) "
            f"(TTA view {self.tta_view!r}); {state}"
        )


@dataclass(frozen=True)
class FileSpec:
    """One file matched by a template, with the values of its placeholders.

    ``data`` holds the table or array itself when it is already in memory.
    """

    path: str
    model: str | None = None
    fold: int | None = None
    tta: str | None = None
    data: pd.DataFrame | np.ndarray | None = field(default=None, repr=False, compare=False)


# ------------------------------------------------------------------------------ reading
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# ------------------------------------------------------------------------------ templates
def expand_template(template: str | os.PathLike[str], model: str | None = None) -> list[FileSpec]:
    """The files matching ``template``, with the values of its placeholders.

    Parameters
    ----------
    template : str
        A path with ``{model}``, ``{fold}`` and ``{tta}`` placeholders (each may appear
        more than once; ``{fold}`` matches an integer). A path without placeholders is
        returned as is (it need not exist yet: reading it says so).
    model : str, optional
        The model of every file; not allowed together with a ``{model}`` placeholder.

    Returns
    -------
    list of FileSpec
        Sorted by model, TTA view, fold, path.
    """
    template = os.fspath(template)
    names = re.findall(r"\{([^{}]*)\}", template)
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise StoreError(
            f"--file {template!r}: unknown placeholder(s) {['{' + n + '}' for n in unknown]}; "
            "use {model}, {fold} and {tta}"
        )
    if "model" in names and model is not None:
        raise StoreError(
            f"--file {template!r} names the model with {{model}}; do not give --model as well"
        )
    if not names:
        if model is None:
            raise StoreError(
                f"--file {template!r}: give --model, or a {{model}} placeholder in the file name"
            )
        return [FileSpec(template, model)]
    if "model" not in names and model is None:
        raise StoreError(
            f"--file {template!r}: give --model, or a {{model}} placeholder in the file name"
        )
    pieces = re.split(r"(\{(?:model|fold|tta)\})", template)
    pattern, wildcard, seen = "", "", set()
    for piece in pieces:
        m = re.fullmatch(r"\{(model|fold|tta)\}", piece)
        if not m:
            pattern += re.escape(piece)
            wildcard += glob.escape(piece)
            continue
        name = m.group(1)
        wildcard += "*"
        if name in seen:
            pattern += f"(?P={name})"
        else:
            pattern += rf"(?P<{name}>-?\d+)" if name == "fold" else rf"(?P<{name}>[^/\\]+?)"
            seen.add(name)
    regex = re.compile(pattern + r"\Z")
    specs = []
    for path in glob.glob(wildcard):
        m = regex.match(path)
        if not m or not os.path.isfile(path):
            continue
        groups = m.groupdict()
        specs.append(
            FileSpec(
                path,
                groups.get("model") or model,
                int(groups["fold"]) if groups.get("fold") is not None else None,
                groups.get("tta"),
            )
        )
    if not specs:
        raise StoreError(f"--file {template!r}: no file matches (looked for {wildcard!r})")
    for s in specs:
        S.check_model_name(str(s.model))
    return sorted(specs, key=lambda s: (s.model, _view_order(s.tta), s.fold or 0, s.path))


def _view_order(tta: str | None) -> tuple[int, int, str]:
    """Order of TTA view values: indices by number, then 'none' (the plain view), then names."""
    if tta is None:
        return (0, 0, "")
    if tta.isdigit():
        return (0, int(tta), "")
    return (1, 0 if tta == "none" else 1, tta)


# ------------------------------------------------------------------------------ columns
def _fold_like(name: Any) -> bool:
    """Whether a column name reads as a fold id column (``fold``, ``kfold``, ``fold_id``...)."""
    return bool(_FOLD_NAME_RE.match(str(name))) or str(name) == S.FOLD_COLUMN


def _reserved_columns(
    store: Store, split: str, df: pd.DataFrame, icol: str, fold_cols: list[str]
) -> dict[str, str]:
    """Columns never taken as predictions without ``--columns``, with the reason."""
    out: dict[str, str] = {icol: "the id column"}
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


# ------------------------------------------------------------------------------ planning
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


def _prob_problems(
    values: np.ndarray, ids: np.ndarray, cols: list[str], sums: bool = True
) -> str | None:
    """Why ``values`` are not probabilities (negative, above 1, rows not summing to 1).

    ``sums=False`` checks the range only (one column: a binary store's positive class).
    """
    neg = values < -PROB_SUM_TOL
    if neg.any():
        r, c = np.argwhere(neg)[0]
        return (
            f"{_plural(int(neg.sum()), 'negative value')} (e.g. id {str(ids[r])!r}, column "
            f"{cols[c]!r}: {values[r, c]:.4g}): these look like logits"
        )
    high = values > 1 + PROB_SUM_TOL
    if high.any():
        r, c = np.argwhere(high)[0]
        return (
            f"{_plural(int(high.sum()), 'value')} above 1 (e.g. id {str(ids[r])!r}, column "
            f"{cols[c]!r}: {values[r, c]:.4g}): these look like logits or scores"
        )
    if not sums:
        return None
    total = values.sum(axis=1)
    bad = np.abs(total - 1.0) > PROB_SUM_TOL
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        return (
            f"{_plural(int(bad.sum()), 'row')} that do not sum to 1 (e.g. id {str(ids[r])!r} sums "
            f"to {total[r]:.4f})"
        )
    return None


def _implausibly_perfect(store: Store, pos: np.ndarray, values: np.ndarray, kind: str) -> str | None:
    """A description of the score when OOF predictions are too good to be predictions.

    Regression: every prediction equals the target (to float32 precision). Binary and
    multiclass: accuracy 1 and log loss below 1e-4. Softclass: the soft targets themselves.
    """
    if len(pos) == 0:
        return None
    y = store.y[pos]
    if store.task == "regression":
        err = np.abs(values[:, 0].astype(np.float64) - y)
        scale = max(float(np.abs(y).max()), 1e-12)
        if err.max() <= PERFECT_REL_ERR * scale:
            rmse = float(np.sqrt(np.mean(err**2)))
            return f"RMSE {rmse:.3g} over {len(y)} rows: every value equals the store's target"
        return None
    p = np.asarray(values, dtype=np.float64)
    if kind != "probs":
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    if store.task == "softclass":
        err = float(np.abs(p - y).max())
        if err <= PERFECT_SOFT_ERR:
            return f"the predictions equal the soft targets (largest difference {err:.2g})"
        return None
    acc = float((p.argmax(axis=1) == y).mean())
    ll = abs(float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0)).mean()))
    if acc == 1.0 and ll <= PERFECT_LOGLOSS:
        return f"accuracy 1.0 and log loss {ll:.2g} over {len(y)} rows"
    return None


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
        data = read_table(path)

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
        if split == "oof" and fold is not None:
            pos = np.flatnonzero(store.folds == int(fold))
        else:
            pos = np.arange(len(all_ids))
        if len(raw) != len(pos):
            raise StoreError(
                f"{path}: {len(raw)} rows, but {len(pos)} expected "
                f"({'fold ' + str(fold) + ' of ' if fold is not None and split == 'oof' else ''}"
                f"the store's {'targets' if split == 'oof' else 'test'} order)"
            )
        ids = np.asarray(all_ids, dtype=object)[pos]
    else:
        df = data.copy(deep=False)
        df.columns = [str(c) for c in df.columns]
        icol = id_col or store.id_col
        if icol not in df.columns:
            raise StoreError(
                f"{path}: no id column {icol!r}; its columns: {list(df.columns)} (use --id COL)"
            )
        if isinstance(fold, str) and fold not in df.columns:
            raise StoreError(f"{path}: no fold column {fold!r}; its columns: {list(df.columns)}")
        fold_cols = [c for c in df.columns if c != icol and (_fold_like(c) or c == fold)]
        reserved = _reserved_columns(store, split, df, icol, fold_cols)
        cols = _pick_columns(df, store, columns, reserved, path)
        if df[icol].isna().any():
            rows = np.flatnonzero(df[icol].isna().to_numpy())
            raise StoreError(f"{path}: {len(rows)} row(s) have no id (rows {rows[:5].tolist()})")
        id_series = df[icol].astype(str)
        pos = index.positions(split, pa.array(id_series))
        ids = id_series.to_numpy(dtype=object)
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


def _commit(store: Store, plan: _Plan, params: dict[str, Any] | None, overwrite: bool) -> ImportResult:
    """Write a checked plan's blocks in one store write, committed all at once.

    A complete model gets its manifest; an incomplete one its pending record. A failure (or
    a kill) before the commit point leaves the model as it was (:class:`Transaction`).
    """
    missing_oof, missing_test = _finish_state(store, plan)
    written: list[tuple[int, int]] = []
    with store.transaction(plan.model, "import") as tx:
        for (f, t), (bids, bvals, _) in sorted(plan.blocks.items()):
            tx.write_block(plan.split, f, t, bids, bvals, overwrite=overwrite)
            written.append((f, t))
        if not missing_oof and not missing_test:
            old = store.manifest(plan.model) if plan.model in store.models() else {}
            merged = {**old.get("params", {}), **(params or {})}
            merged["files"] = [*merged.get("files", []), *plan.files]
            tx.finish_model(
                kind=plan.kind, tta_views=plan.views, params=merged, source="import",
                overwrite=True,
            )
        else:
            tx.pending_extra.update(tta_views=plan.views, kind=plan.kind)
    ts = sorted({t for _, t in written})
    view = ",".join(plan.views[t] for t in ts)
    return ImportResult(
        plan.model, plan.split, written, view, not missing_oof, missing_oof or missing_test,
        list(plan.files),
    )


def import_files(
    store: Store,
    split: str,
    template: str | os.PathLike[str] | Sequence[FileSpec],
    *,
    model: str | None = None,
    id_col: str | None = None,
    fold: int | str | None = None,
    tta: int | str = 0,
    kind: str = "probs",
    columns: str | list[str] | None = None,
    overwrite: bool = False,
    allow_perfect: bool = False,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[ImportResult]:
    """Import every file matching ``template`` (see :func:`expand_template`).

    Every file is read and checked, and the blocks of every model are checked against
    what the store already holds, before the first block is written. The checked blocks
    are held in memory (float32) until then.

    Parameters
    ----------
    template : str or list of FileSpec
        ``preds/oof_{model}.csv``, ``vit_fold{fold}.parquet``, ``b4_{tta}.csv`` ...
    model : str, optional
        The model of every file, when the template has no ``{model}``.
    progress : callable, optional
        Called as ``progress(phase, done, total)`` with phase ``"check"`` or ``"write"``.

    Returns
    -------
    list of ImportResult
        One per model, in name order.
    """
    S.check_split(split)
    if kind not in S.KINDS:
        raise StoreError(f"kind must be one of {list(S.KINDS)}, got {kind!r}")
    if store.task == "regression":
        kind = "raw"
    specs = (
        list(template)
        if not isinstance(template, (str, os.PathLike))
        else expand_template(template, model)
    )
    index = _Index(store)
    plans: dict[str, _Plan] = {}
    for i, spec in enumerate(specs):
        name = spec.model or model
        if name is None:
            raise StoreError(f"{spec.path}: no model name; give --model")
        if name not in plans:
            plans[name] = _new_plan(store, name, split, kind)
        _plan_file(
            store, index, plans[name], spec, spec.data,
            id_col=id_col, fold=fold, tta=tta, columns=columns, overwrite=overwrite,
            allow_perfect=allow_perfect,
        )
        if progress:
            progress("check", i + 1, len(specs))
    results = []
    for i, name in enumerate(sorted(plans)):
        results.append(_commit(store, plans[name], params, overwrite))
        if progress:
            progress("write", i + 1, len(plans))
    return results


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
    allow_perfect: bool = False,
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
        the file's own fold ids, which must agree with the store's. Whatever ``fold`` is,
        a column named ``fold`` (or ``kfold``, ``fold_id``...) is checked against the
        store's folds and never read as a prediction.
    tta : int or str
        The TTA view index, or its name (a new name becomes the next view).
    kind : {"probs", "logits", "raw"}
        Must be the kind of the model's earlier imports.
    allow_perfect : bool
        Import OOF predictions that equal the targets (accuracy 1 and log loss ~0, or
        RMSE 0); refused by default, as they are almost always the targets themselves.

    Raises
    ------
    StoreError
        Before anything is written, for any problem in the file.
    """
    if isinstance(file, (str, os.PathLike)):
        spec = FileSpec(os.fspath(file), model)
    else:
        spec = FileSpec(f"<{type(file).__name__}>", model, data=file)
    return import_files(
        store, split, [spec], model=model, id_col=id_col, fold=fold, tta=tta, kind=kind,
        columns=columns, overwrite=overwrite, allow_perfect=allow_perfect, params=params,
    )[0]


# ------------------------------------------------------------------------------ export
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
