"""The store: create, write blocks, finish models, load aligned arrays, validate."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oof_store import _schema as S
from oof_store._errors import (
    CorruptFileError,
    FoldMismatchError,
    IncompleteModelError,
    ModelNotFoundError,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
)
from oof_store._fs import FS

__all__ = ["Store", "OOFSet", "TestSet"]

PROB_SUM_TOL = 1e-3
CACHE_KEEP = 16
LOG_CLIP = 1e-7
_N_THREADS = min(8, (os.cpu_count() or 2) * 2)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _first(ids: np.ndarray, k: int = 5) -> str:
    shown = ", ".join(repr(str(i)) for i in ids[:k])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > k else "")


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (float32 in, float32 out)."""
    z = z - z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def convert(preds: np.ndarray, kind: str, output: str, task: str) -> np.ndarray:
    """Convert a block of predictions ``(..., C)`` of ``kind`` to ``output``.

    ``probs`` -> ``logits`` gives log-probabilities (clipped at 1e-7);
    ``logits`` -> ``probs`` applies a softmax. Regression values pass unchanged.
    """
    if output == "raw" or task == "regression" or kind == "raw" or kind == output:
        return preds
    if output == "probs":
        return softmax(preds.astype(np.float32, copy=True))
    return np.log(np.clip(preds, LOG_CLIP, None)).astype(np.float32)


@dataclass(frozen=True)
class OOFSet:
    """Aligned out-of-fold predictions of several models.

    Attributes
    ----------
    preds : ndarray of shape (n_models, n_tta, n_rows, n_classes), float32
        Rows in the store's targets order.
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Class index, regression target or soft targets (softclass).
    folds : ndarray of shape (n_rows,), int64
    ids : ndarray of shape (n_rows,), str
    """

    preds: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    ids: np.ndarray
    models: list[str]
    tta_views: list[str]
    kinds: list[str]
    task: str
    class_names: list[str]
    output: str = "raw"


@dataclass(frozen=True)
class TestSet:
    """Test predictions: ``preds`` is ``(M, T, Nt, C)`` (folds averaged) or ``(M, F, T, Nt, C)``."""

    preds: np.ndarray
    ids: np.ndarray
    models: list[str]
    tta_views: list[str]
    kinds: list[str]
    task: str
    class_names: list[str]
    folds: list[int] = field(default_factory=list)
    output: str = "raw"


def _read_cache(path: str | None) -> np.ndarray | None:
    if path is None or not os.path.exists(path):
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable cache: rebuild it


def _write_cache(path: str | None, arr: np.ndarray) -> None:
    """Save atomically; keep the cache folder to its newest ``CACHE_KEEP`` files."""
    if path is None:
        return
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
        files = sorted(
            (os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".npy")),
            key=os.path.getmtime,
        )
        for old in files[:-CACHE_KEEP]:
            os.remove(old)
    except OSError:
        pass  # a read-only store still loads, only without the cache


class Store:
    """A directory of OOF and test predictions keyed by model, fold and TTA view.

    Open an existing store with ``Store(uri)``; make a new one with :meth:`create`.
    ``uri`` is a local path or any URI ``pyarrow.fs`` opens (``s3://...``).

    Thread and process safety: many writers may write *different* blocks at once (each is
    its own file, written under a temporary name and renamed). Two writers of the same
    block race; the last rename wins. Readers never see a half-written file.
    """

    # ------------------------------------------------------------------ opening
    def __init__(self, uri: str | os.PathLike[str]) -> None:
        self._fs = FS(uri)
        self.uri = self._fs.uri
        if not self._fs.exists(S.STORE_FILE):
            raise StoreNotFoundError(
                f"no OOF store at {self._fs.display('')} (no {S.STORE_FILE}); "
                "create one with `oof init`"
            )
        meta = self._fs.read_json(S.STORE_FILE)
        version = meta.get("format_version")
        if version != S.FORMAT_VERSION:
            raise StoreError(
                f"{self._fs.display(S.STORE_FILE)} has format version {version!r}; this "
                f"version of oof_store reads version {S.FORMAT_VERSION}"
            )
        self.meta: dict[str, Any] = meta
        self.task: str = meta["task"]
        self.class_names: list[str] = list(meta["class_names"])
        self.id_col: str = meta["id_col"]
        self.target_cols: list[str] = list(meta["target_cols"])
        self.n_classes: int = len(self.class_names)

    def __repr__(self) -> str:
        return f"Store({self.uri!r}, task={self.task!r}, rows={len(self.ids)}, folds={self.n_folds})"

    @classmethod
    def create(
        cls,
        uri: str | os.PathLike[str],
        targets: pd.DataFrame,
        *,
        id_col: str = "id",
        target_cols: str | Sequence[str] = "target",
        fold_col: str = "fold",
        group_col: str | None = None,
        task: str | None = None,
        class_names: Sequence[str] | None = None,
        test_ids: Iterable[Any] | None = None,
        overwrite: bool = False,
        source: str = "",
    ) -> Store:
        """Create a store from a targets table.

        Parameters
        ----------
        targets : DataFrame
            One row per training row: the id, the target column(s), the fold id, and any
            extra columns (kept for breakdowns, e.g. ``source``).
        target_cols : str or list of str
            One column (binary, multiclass, regression) or one column per class holding
            soft targets that sum to 1 (softclass).
        task : {"binary", "multiclass", "softclass", "regression"}, optional
            Inferred when omitted.
        class_names : list of str, optional
            Class order; by default the sorted distinct targets (softclass: the columns).
        test_ids : iterable, optional
            The ids of the test rows, in submission order.
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
        }
        fs.write_json(S.STORE_FILE, meta)  # last: its presence marks a complete store
        return cls(uri)

    # ------------------------------------------------------------------ targets
    @cached_property
    def targets(self) -> pd.DataFrame:
        """The targets table: id, target column(s), fold, optional group and extra columns."""
        return self._fs.read_parquet(S.TARGETS_FILE).to_pandas()

    @cached_property
    def ids(self) -> np.ndarray:
        return self.targets[self.id_col].astype(str).to_numpy()

    @cached_property
    def folds(self) -> np.ndarray:
        return self.targets[S.FOLD_COLUMN].to_numpy(dtype=np.int64)

    @cached_property
    def fold_ids(self) -> list[int]:
        return sorted(int(f) for f in np.unique(self.folds))

    @property
    def n_folds(self) -> int:
        return len(self.fold_ids)

    @cached_property
    def groups(self) -> np.ndarray | None:
        col = self.meta.get("group_col")
        return None if not col else self.targets[col].to_numpy()

    @cached_property
    def y(self) -> np.ndarray:
        """Class index ``(N,)``, regression target ``(N,)`` or soft targets ``(N, C)``."""
        t = self.targets
        if self.task == "regression":
            return t[self.target_cols[0]].to_numpy(dtype=np.float64)
        if self.task == "softclass":
            return t[self.target_cols].to_numpy(dtype=np.float64)
        codes = pd.Categorical(t[self.target_cols[0]].astype(str), categories=self.class_names).codes
        return codes.astype(np.int64)

    @cached_property
    def y_hard(self) -> np.ndarray:
        """The class index of each row (argmax of soft targets for softclass)."""
        if self.task == "softclass":
            return self.y.argmax(axis=1)
        return self.y

    @cached_property
    def test_ids(self) -> np.ndarray:
        tab = self._fs.read_parquet(S.TEST_FILE)
        return tab.column(0).to_numpy(zero_copy_only=False).astype(str)

    @cached_property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    @cached_property
    def _fold_rows(self) -> dict[int, np.ndarray]:
        """Row positions of each fold, in targets order."""
        return {k: np.flatnonzero(self.folds == k) for k in self.fold_ids}

    @cached_property
    def _fold_fingerprints(self) -> dict[str, str]:
        return {str(k): S.fingerprint(self.ids[rows]) for k, rows in self._fold_rows.items()}

    def _expected_ids(self, split: str, fold: int) -> pa.Array:
        """The ids a block must hold, in order, as an Arrow array (cached; compared in C++)."""
        cache = self.__dict__.setdefault("_expected_cache", {})
        key = (split, fold)
        if key not in cache:
            ids = self.ids[self._fold_rows[fold]] if split == "oof" else self.test_ids
            cache[key] = pa.array(ids, pa.string())
        return cache[key]

    @cached_property
    def _id_pos(self) -> pd.Index:
        return pd.Index(self.ids)

    @cached_property
    def _test_pos(self) -> pd.Index:
        return pd.Index(self.test_ids)

    # ------------------------------------------------------------------ models
    def models(self, include_incomplete: bool = False) -> list[str]:
        """Names of the models with a manifest (and, if asked, those still incomplete)."""
        names = {
            i.base_name[: -len(".json")]
            for i in self._fs.list_dir(S.MODELS_DIR)
            if i.base_name.endswith(".json") and not i.base_name.startswith(".")
        }
        if include_incomplete:
            for split in S.SPLITS:
                for info in self._fs.list_dir(f"{S.PREDS_DIR}/split={split}"):
                    if info.base_name.startswith("model="):
                        names.add(info.base_name[len("model=") :])
        return sorted(names)

    def manifest(self, model: str) -> dict[str, Any]:
        """The manifest of a finished model."""
        rel = S.manifest_path(S.check_model_name(model))
        if not self._fs.exists(rel):
            if model in self.models(include_incomplete=True):
                raise IncompleteModelError(
                    f"model {model!r} has prediction blocks but no manifest: it is incomplete "
                    "(a writer is still running, crashed, or some folds were never imported). "
                    f"Run `oof validate {self.uri}` to see what is missing, finish it, or "
                    f"`oof rm {self.uri} --model {model}`"
                )
            raise ModelNotFoundError(
                f"no model {model!r} in the store {self.uri}; available: "
                f"{', '.join(self.models()) or '(none)'}"
            )
        return self._fs.read_json(rel)

    def has_block(self, split: str, model: str, fold: int, tta: int) -> bool:
        S.check_split(split)
        return self._fs.exists(S.block_path(split, S.check_model_name(model), fold, tta))

    def blocks(self, model: str, split: str | None = None) -> list[tuple[str, int, int]]:
        """``(split, fold, tta)`` of every block written for ``model``, sorted."""
        out = []
        for sp in [split] if split else S.SPLITS:
            base = f"{S.PREDS_DIR}/split={sp}/model={model}"
            for rel in self._fs.walk_files(base):
                parts = rel.split("/")
                if parts[-1] != S.PART_FILE:
                    continue
                try:
                    fold = int(parts[-3].split("=", 1)[1])
                    tta = int(parts[-2].split("=", 1)[1])
                except (IndexError, ValueError):
                    continue
                out.append((sp, fold, tta))
        return sorted(out)

    def stray_files(self) -> list[str]:
        """Temporary files left by interrupted writers (safe to delete)."""
        return [
            r
            for r in self._fs.walk_files(S.PREDS_DIR) + self._fs.walk_files(S.MODELS_DIR)
            if r.rsplit("/", 1)[-1].startswith(S.TMP_PREFIX)
        ]

    # ------------------------------------------------------------------ writing
    def _where(self, split: str, model: str, fold: int, tta: int) -> str:
        return f"model {model!r}, split {split}, fold {fold}, TTA view {tta}"

    def write_block(
        self,
        split: str,
        model: str,
        fold: int,
        tta: int,
        ids: Iterable[Any],
        preds: np.ndarray,
        *,
        overwrite: bool = False,
    ) -> None:
        """Check and atomically write one (split, model, fold, tta) block.

        Parameters
        ----------
        ids : array-like of shape (n,)
            Row ids: for ``oof`` exactly the rows of ``fold`` in the store; for ``test``
            every test id.
        preds : array-like of shape (n, n_classes)
            Probabilities, logits or regression values (a 1-D array when n_classes is 1).
        """
        S.check_split(split)
        S.check_model_name(model)
        fold, tta = int(fold), int(tta)
        where = self._where(split, model, fold, tta)
        if tta < 0:
            raise StoreError(f"{where}: the TTA view index must be >= 0")
        rel = S.block_path(split, model, fold, tta)
        if not overwrite and self._fs.exists(rel):
            raise StoreExistsError(
                f"{where} is already in the store ({self._fs.display(rel)}); pass "
                "overwrite=True (--overwrite) to replace it"
            )
        ids, values = self.check_block(split, model, fold, tta, ids, preds)
        columns = {self.id_col: pa.array(ids, pa.string())}
        for c, name in enumerate(self.class_names):
            columns[name] = pa.array(values[:, c], pa.float32())
        self._fs.write_parquet(rel, pa.table(columns), fast=True)

    def check_block(
        self, split: str, model: str, fold: int, tta: int, ids: Iterable[Any], preds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check a block without writing it; return ``(ids, values)`` in store order.

        Raises the same errors :meth:`write_block` would (shape, NaN/inf, unknown, missing or
        duplicate ids, rows of another fold).
        """
        S.check_split(split)
        S.check_model_name(model)
        where = self._where(split, model, int(fold), int(tta))
        ids = np.asarray([str(i) for i in ids] if not isinstance(ids, np.ndarray) else ids.astype(str))
        values = self._check_values(np.asarray(preds), ids, where)
        return self._align_block(split, int(fold), ids, values, where)

    def _check_values(self, preds: np.ndarray, ids: np.ndarray, where: str) -> np.ndarray:
        if preds.ndim == 1 and self.n_classes == 1:
            preds = preds[:, None]
        if preds.ndim != 2 or preds.shape[1] != self.n_classes:
            raise StoreError(
                f"{where}: predictions have shape {preds.shape}, but the store has "
                f"{self.n_classes} class column(s) {self.class_names}; expected "
                f"({len(ids)}, {self.n_classes})"
            )
        if len(preds) != len(ids):
            raise StoreError(f"{where}: {len(ids)} ids but {len(preds)} prediction rows")
        if not np.issubdtype(preds.dtype, np.number):
            raise StoreError(f"{where}: predictions are not numbers (dtype {preds.dtype})")
        values = preds.astype(np.float32)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            n_nan = int(np.isnan(values).sum())
            raise StoreError(
                f"{where}: {n_nan} NaN and {int(bad.sum()) - n_nan} infinite value(s) in "
                f"{len(rows)} row(s) (ids {_first(ids[rows])}); fix or re-export the "
                "predictions, or leave the model out"
            )
        return values

    def _align_block(
        self, split: str, fold: int, ids: np.ndarray, values: np.ndarray, where: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check the ids of a block and return them (and values) in store order."""
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise StoreError(
                f"{where}: ids predicted more than once: {_first(uniq[counts > 1])}; each row "
                "must appear once per block"
            )
        if split == "test":
            if fold != S.FULL_TEST_FOLD and fold not in self.fold_ids:
                raise StoreError(
                    f"{where}: fold {fold} is not a fold of the store ({self.fold_ids}); use "
                    f"{S.FULL_TEST_FOLD} for one prediction of the whole test set"
                )
            index, expected = self._test_pos, self.test_ids
            pos = index.get_indexer(ids)
            if (pos < 0).any():
                raise StoreError(
                    f"{where}: {int((pos < 0).sum())} id(s) are not test ids of the store: "
                    f"{_first(ids[pos < 0])}"
                )
            if len(ids) != len(expected):
                missing = np.setdiff1d(expected, ids)
                raise StoreError(
                    f"{where}: {len(missing)} test row(s) are never predicted: {_first(missing)}"
                )
        else:
            if fold not in self.fold_ids:
                raise FoldMismatchError(
                    f"{where}: fold {fold} is not a fold of the store ({self.fold_ids})"
                )
            pos = self._id_pos.get_indexer(ids)
            if (pos < 0).any():
                raise StoreError(
                    f"{where}: {int((pos < 0).sum())} id(s) are not in the store's targets: "
                    f"{_first(ids[pos < 0])}"
                )
            wrong = self.folds[pos] != fold
            if wrong.any():
                other = self.folds[pos[wrong]]
                raise FoldMismatchError(
                    f"{where}: {int(wrong.sum())} row(s) belong to other folds in the store "
                    f"(ids {_first(ids[wrong])}, store folds {sorted(set(other.tolist()))}). The "
                    "model was validated on other rows than the store's fold assignment: its "
                    "OOF cannot be blended honestly with the others; retrain it with the store's folds"
                )
            expected_rows = self._fold_rows[fold]
            if len(ids) != len(expected_rows):
                missing = np.setdiff1d(self.ids[expected_rows], ids)
                raise StoreError(
                    f"{where}: {len(missing)} OOF row(s) of fold {fold} are never predicted: "
                    f"{_first(missing)}"
                )
            order = np.argsort(pos, kind="stable")
            return ids[order], values[order]
        order = np.argsort(pos, kind="stable")
        return ids[order], values[order]

    def finish_model(
        self,
        model: str,
        *,
        kind: str = "probs",
        tta_views: Sequence[str] | None = None,
        params: dict[str, Any] | None = None,
        source: str = "import",
        parents: Sequence[str] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Check that every OOF block of ``model`` is present, then write its manifest.

        The manifest is written last, so a model is visible to readers only once complete.
        It records the store's fingerprint (row ids and fold assignment), so predictions
        made with other folds are caught later even if the store changes.
        """
        S.check_model_name(model)
        if kind not in S.KINDS:
            raise StoreError(f"kind must be one of {list(S.KINDS)}, got {kind!r}")
        if self.task == "regression" and kind != "raw":
            kind = "raw"
        rel = S.manifest_path(model)
        if self._fs.exists(rel) and not overwrite:
            raise StoreExistsError(
                f"model {model!r} is already finished ({self._fs.display(rel)}); pass "
                "overwrite=True (--overwrite) to replace its manifest"
            )
        blocks = self.blocks(model)
        oof = {(f, t) for s, f, t in blocks if s == "oof"}
        test = {(f, t) for s, f, t in blocks if s == "test"}
        if not oof:
            raise IncompleteModelError(f"model {model!r} has no OOF blocks; write them first")
        n_tta = max(t for _, t in oof) + 1
        if tta_views is None:
            tta_views = ["none"] if n_tta == 1 else [f"view{t}" for t in range(n_tta)]
        tta_views = [str(v) for v in tta_views]
        if len(tta_views) != n_tta or len(set(tta_views)) != n_tta:
            raise StoreError(
                f"model {model!r}: {n_tta} TTA view(s) written, but tta_views is {tta_views}; "
                "give one distinct name per view, in index order"
            )
        missing = [(f, t) for f in self.fold_ids for t in range(n_tta) if (f, t) not in oof]
        extra = sorted(oof - {(f, t) for f in self.fold_ids for t in range(n_tta)})
        if missing or extra:
            parts = []
            if missing:
                parts.append(
                    "missing OOF blocks (fold, TTA view): "
                    + ", ".join(f"({f}, {tta_views[t]})" for f, t in missing)
                )
            if extra:
                parts.append(f"blocks for folds the store does not have: {extra}")
            raise IncompleteModelError(f"model {model!r} is incomplete: {'; '.join(parts)}")
        test_folds = sorted({f for f, _ in test})
        for f in test_folds:
            gaps = [t for t in range(n_tta) if (f, t) not in test]
            if gaps:
                raise IncompleteModelError(
                    f"model {model!r}: test fold {f} lacks TTA view(s) "
                    f"{[tta_views[t] for t in gaps]}"
                )
        if kind == "probs":
            for sp, keys in (("oof", oof), ("test", test)):
                for f, t in sorted(keys):
                    self.check_prob_sums(sp, model, f, t, self._read_values(sp, model, f, t))
        manifest = {
            "format_version": S.FORMAT_VERSION,
            "name": model,
            "kind": kind,
            "tta_views": tta_views,
            "n_classes": self.n_classes,
            "class_names": self.class_names,
            "oof_folds": self.fold_ids,
            "test_folds": test_folds,
            "params": params or {},
            "source": source,
            "parents": list(parents or []),
            "created": _now(),
            "fingerprint": self.fingerprint,
            "fold_fingerprints": self._fold_fingerprints,
        }
        self._fs.write_json(rel, manifest)
        self._fs.delete_file(S.pending_path(model))
        return manifest

    def remove_model(self, model: str) -> None:
        """Delete a model: its manifest first (so it turns incomplete), then its blocks."""
        S.check_model_name(model)
        if model not in self.models(include_incomplete=True):
            raise ModelNotFoundError(
                f"no model {model!r} in the store {self.uri}; available: "
                f"{', '.join(self.models(include_incomplete=True)) or '(none)'}"
            )
        self._fs.delete_file(S.manifest_path(model))
        self._fs.delete_file(S.pending_path(model))
        for split in S.SPLITS:
            self._fs.delete_dir(f"{S.PREDS_DIR}/split={split}/model={model}")

    # ------------------------------------------------------------------ reading
    def _read_values(self, split: str, model: str, fold: int, tta: int) -> np.ndarray:
        """Read one block, check it, and return its values ``(rows, C)`` in store order."""
        where = self._where(split, model, fold, tta)
        rel = S.block_path(split, model, fold, tta)
        try:
            table = self._fs.read_parquet(rel)
        except FileNotFoundError as exc:
            raise IncompleteModelError(
                f"{where}: the block file {self._fs.display(rel)} is missing"
            ) from exc
        names = table.column_names
        wanted = [self.id_col, *self.class_names]
        if names != wanted:
            raise CorruptFileError(
                f"{where}: {self._fs.display(rel)} has columns {names}, expected {wanted}"
            )
        ids = table.column(0)
        known = split == "test" or fold in self._fold_rows
        if not known or not self._expected_ids(split, fold).equals(ids.combine_chunks()):
            # Slow path: say exactly what is wrong.
            raw_ids = ids.to_numpy(zero_copy_only=False).astype(str)
            self._align_block(split, fold, raw_ids, np.zeros((len(raw_ids), 1)), where)
            raise FoldMismatchError(
                f"{where}: the rows of {self._fs.display(rel)} are not in the store's order; "
                "rewrite the block"
            )
        if table.num_rows == 0:
            return np.zeros((0, self.n_classes), np.float32)
        values = np.empty((table.num_rows, self.n_classes), dtype=np.float32)
        for c in range(self.n_classes):
            col = table.column(c + 1)
            if col.type != pa.float32():
                raise CorruptFileError(
                    f"{where}: column {self.class_names[c]!r} has type {col.type}, expected float"
                )
            values[:, c] = col.to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise StoreError(
                f"{where}: {int(bad.sum())} NaN or infinite value(s) (ids "
                f"{_first(ids.to_numpy(zero_copy_only=False)[rows])}); re-import the block or "
                "leave the model out"
            )
        return values

    def check_prob_sums(
        self, split: str, model: str, fold: int, tta: int, values: np.ndarray
    ) -> None:
        if self.task == "regression" or len(values) == 0:
            return
        sums = values.sum(axis=1)
        bad = np.abs(sums - 1.0) > PROB_SUM_TOL
        if bad.any() or (values < -PROB_SUM_TOL).any():
            ids = (self.ids[self._fold_rows[fold]] if split == "oof" else self.test_ids)
            rows = np.flatnonzero(bad | (values < -PROB_SUM_TOL).any(axis=1))
            raise StoreError(
                f"{self._where(split, model, fold, tta)}: kind is 'probs' but {len(rows)} row(s) "
                f"do not sum to 1 (e.g. id {ids[rows[0]]!r} sums to {sums[rows[0]]:.4f}); "
                "import them as --kind logits, or normalise them"
            )

    def _resolve_models(self, models: Sequence[str] | str | None) -> list[str]:
        if models is None:
            found = self.models()
            if not found:
                raise StoreError(f"the store {self.uri} holds no finished model yet")
            return found
        if isinstance(models, str):
            models = [models]
        models = list(models)
        dup = sorted({m for m in models if models.count(m) > 1})
        if dup:
            raise StoreError(f"model(s) named more than once: {dup}")
        return models

    def _manifests(self, models: list[str]) -> list[dict[str, Any]]:
        out = []
        for m in models:
            man = self.manifest(m)
            if man.get("fingerprint") != self.fingerprint:
                theirs = man.get("fold_fingerprints", {})
                ours = self._fold_fingerprints
                differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
                raise FoldMismatchError(
                    f"model {m!r} was produced with another fold assignment or other rows than "
                    f"this store's (fingerprint {man.get('fingerprint')} vs {self.fingerprint}; "
                    f"folds that differ: {differ}). Its OOF cannot be blended honestly: re-run it "
                    "with the store's folds, or remove it"
                )
            if man.get("n_classes") != self.n_classes:
                raise CorruptFileError(
                    f"model {m!r} has {man.get('n_classes')} classes, the store {self.n_classes}"
                )
            out.append(man)
        return out

    def _read_many(self, jobs: list[tuple[str, str, int, int]]) -> list[np.ndarray]:
        if len(jobs) <= 2:
            return [self._read_values(*j) for j in jobs]
        with ThreadPoolExecutor(_N_THREADS) as pool:
            return list(pool.map(lambda j: self._read_values(*j), jobs))

    @staticmethod
    def _tta_index(tta: str | int, views: list[str], model: str) -> int | None:
        if tta in ("all", "mean"):
            return None
        if isinstance(tta, str) and not tta.lstrip("-").isdigit():
            if tta not in views:
                raise StoreError(f"model {model!r} has no TTA view {tta!r}; its views: {views}")
            return views.index(tta)
        t = int(tta)
        if not 0 <= t < len(views):
            raise StoreError(f"model {model!r} has {len(views)} TTA view(s) {views}; got {tta!r}")
        return t

    def _tta_plan(
        self, models: list[str], mans: list[dict[str, Any]], tta: str | int
    ) -> tuple[list[list[int]], list[str]]:
        """Which views to read for each model, and the names of the output T axis."""
        views = [m["tta_views"] for m in mans]
        if tta == "all":
            counts = {len(v) for v in views}
            if len(counts) > 1:
                detail = ", ".join(f"{m}: {len(v)}" for m, v in zip(models, views, strict=False))
                raise StoreError(
                    f"models have different numbers of TTA views ({detail}); load with "
                    "tta='mean' (--tta mean) or a view index"
                )
            return [list(range(len(v))) for v in views], list(views[0])
        if tta == "mean":
            return [list(range(len(v))) for v in views], ["mean"]
        picks = [[self._tta_index(tta, v, m)] for m, v in zip(models, views, strict=False)]
        return picks, [str(tta)]  # type: ignore[list-item]

    def load_oof(
        self,
        models: Sequence[str] | str | None = None,
        *,
        tta: str | int = "all",
        output: str = "raw",
    ) -> OOFSet:
        """Load aligned OOF predictions.

        Parameters
        ----------
        models : list of str, optional
            Default: every finished model.
        tta : "all", "mean", int or view name
            ``"all"`` keeps every view; ``"mean"`` averages them (in the stored space);
            an index or a name picks one. The T axis is always kept.
        output : {"raw", "probs", "logits"}

        Returns
        -------
        OOFSet
            ``preds`` of shape (n_models, n_tta, n_rows, n_classes), rows in targets order.
        """
        if output not in ("raw", "probs", "logits"):
            raise StoreError(f"output must be 'raw', 'probs' or 'logits', got {output!r}")
        models = self._resolve_models(models)
        mans = self._manifests(models)
        picks, view_names = self._tta_plan(models, mans, tta)
        jobs = [
            ("oof", m, f, t) for m, views in zip(models, picks, strict=False) for t in views for f in self.fold_ids
        ]
        cache = self._cache_file(jobs, mans, (tta, output))
        out = _read_cache(cache)
        if out is None:
            out = self._assemble_oof(models, mans, picks, jobs, len(view_names), tta, output)
            _write_cache(cache, out)
        return OOFSet(
            preds=out,
            y=self.y,
            folds=self.folds,
            ids=self.ids,
            models=models,
            tta_views=view_names,
            kinds=[m["kind"] for m in mans],
            task=self.task,
            class_names=self.class_names,
            output=output,
        )

    def _assemble_oof(self, models, mans, picks, jobs, n_out_t, tta, output) -> np.ndarray:
        values = iter(self._read_many(jobs))
        out = np.empty((len(models), n_out_t, len(self.ids), self.n_classes), dtype=np.float32)
        for i, (m, man, views) in enumerate(zip(models, mans, picks, strict=False)):
            acc = np.zeros((len(self.ids), self.n_classes), np.float32) if tta == "mean" else None
            for j, t in enumerate(views):
                for f in self.fold_ids:
                    block = next(values)
                    if man["kind"] == "probs":
                        self.check_prob_sums("oof", m, f, t, block)
                    rows = self._fold_rows[f]
                    if acc is not None:
                        acc[rows] += block
                    else:
                        out[i, j, rows] = block
            if acc is not None:
                out[i, 0] = acc / len(views)
            out[i] = convert(out[i], man["kind"], output, self.task)
        return out

    def _cache_file(self, jobs, mans, options) -> str | None:
        """Where an assembled array of these exact block files is cached (local stores).

        The key hashes the options, the manifests and each block file's inode, size and
        modification time: blocks are replaced by rename, so any rewrite changes the key.
        ``OOF_STORE_CACHE=0`` turns the cache off.
        """
        if not self._fs.local or os.environ.get("OOF_STORE_CACHE", "1") == "0":
            return None
        h = hashlib.sha1(repr((options, self.fingerprint, [m["created"] for m in mans])).encode())
        try:
            for split, m, f, t in jobs:
                st = os.stat(self._fs.path(S.block_path(split, m, f, t)))
                h.update(f"{m}/{f}/{t}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            return None  # a missing block: let the normal path name it
        return self._fs.path(f"{S.CACHE_DIR}/{h.hexdigest()}.npy")

    def load_test(
        self,
        models: Sequence[str] | str | None = None,
        *,
        tta: str | int = "all",
        folds: str = "mean",
        output: str = "raw",
    ) -> TestSet:
        """Load test predictions.

        ``folds="mean"`` averages each model's fold models (or takes its single
        whole-test prediction, fold -1) and returns ``(M, T, Nt, C)``; ``folds="all"``
        returns ``(M, F, T, Nt, C)`` and needs one block per store fold for every model.
        """
        if folds not in ("mean", "all"):
            raise StoreError(f"folds must be 'mean' or 'all', got {folds!r}")
        models = self._resolve_models(models)
        mans = self._manifests(models)
        picks, view_names = self._tta_plan(models, mans, tta)
        fold_lists = []
        for m, man in zip(models, mans, strict=False):
            tf = list(man.get("test_folds", []))
            if not tf:
                raise IncompleteModelError(
                    f"model {m!r} has no test predictions; import them with "
                    f"`oof import {self.uri} --model {m} --split test --file ...`"
                )
            per_fold = [f for f in tf if f != S.FULL_TEST_FOLD]
            if folds == "all":
                if sorted(per_fold) != self.fold_ids:
                    raise StoreError(
                        f"model {m!r} has test predictions for folds {tf}, not one per store fold "
                        f"{self.fold_ids}; load with folds='mean'"
                    )
                fold_lists.append(self.fold_ids)
            else:
                fold_lists.append(per_fold if per_fold else [S.FULL_TEST_FOLD])
        jobs = [
            ("test", m, f, t)
            for m, views, fl in zip(models, picks, fold_lists, strict=False)
            for t in views
            for f in fl
        ]
        values = iter(self._read_many(jobs))
        nt, c, nv = len(self.test_ids), self.n_classes, len(view_names)
        if folds == "all":
            out = np.zeros((len(models), self.n_folds, nv, nt, c), np.float32)
        else:
            out = np.zeros((len(models), nv, nt, c), np.float32)
        for i, (m, man, views, fl) in enumerate(zip(models, mans, picks, fold_lists, strict=False)):
            for j, t in enumerate(views):
                jj = 0 if tta == "mean" else j
                for k, f in enumerate(fl):
                    block = next(values)
                    if man["kind"] == "probs":
                        self.check_prob_sums("test", m, f, t, block)
                    if folds == "all":
                        out[i, k, jj] += block / (len(views) if tta == "mean" else 1)
                    else:
                        out[i, jj] += block / (len(fl) * (len(views) if tta == "mean" else 1))
            out[i] = convert(out[i], man["kind"], output, self.task)
        return TestSet(
            preds=out,
            ids=self.test_ids,
            models=models,
            tta_views=view_names,
            kinds=[m["kind"] for m in mans],
            task=self.task,
            class_names=self.class_names,
            folds=self.fold_ids if folds == "all" else [],
            output=output,
        )

    # ------------------------------------------------------------------ checks
    def validate(self) -> list[str]:
        """Run every check on every model; return one message per problem (empty = fine)."""
        problems: list[str] = []
        for rel in self.stray_files():
            problems.append(
                f"leftover temporary file from an interrupted write: {self._fs.display(rel)} "
                "(safe to delete)"
            )
        finished = set(self.models())
        for m in self.models(include_incomplete=True):
            if m not in finished:
                try:
                    self.manifest(m)
                except StoreError as exc:
                    problems.append(str(exc))
                continue
            try:
                man = self._manifests([m])[0]
            except StoreError as exc:
                problems.append(str(exc))
                continue
            have = set(self.blocks(m))
            n_tta = len(man["tta_views"])
            for f in self.fold_ids:
                for t in range(n_tta):
                    if ("oof", f, t) not in have:
                        problems.append(
                            f"{self._where('oof', m, f, t)}: block missing (the OOF row(s) of "
                            f"fold {f} are never predicted)"
                        )
            for sp, f, t in sorted(have):
                if t >= n_tta or (sp == "oof" and f not in self.fold_ids):
                    problems.append(
                        f"{self._where(sp, m, f, t)}: block not described by the manifest"
                    )
                    continue
                try:
                    block = self._read_values(sp, m, f, t)
                    if man["kind"] == "probs":
                        self.check_prob_sums(sp, m, f, t, block)
                except StoreError as exc:
                    problems.append(str(exc))
        return problems
