"""Reading: aligned OOF and test arrays, checked block by block."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from oof_store import _schema as S
from oof_store._blocks import MAX_ABS_VALUE, _first
from oof_store._cache import cache_file, read_cache, write_cache
from oof_store._convert import convert
from oof_store._errors import CorruptFileError, FoldMismatchError, IncompleteModelError, StoreError
from oof_store._tta import tta_plan
from oof_store._validating import manifest_problems

__all__ = ["OOFSet", "TestSet"]

_N_THREADS = min(8, (os.cpu_count() or 2) * 2)
_VERIFIED: dict[tuple[str, int, int, int], str] = {}  # block files whose hash was checked


class BlockVanishedError(IncompleteModelError):
    """A block file named by a manifest is not there (deleted, or replaced by a newer write)."""


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

class _Reader:
    """Reading methods of :class:`Store` (a mixin)."""

    def _read_block_bytes(
        self, split: str, model: str, fold: int, tta: int, entry: dict[str, Any],
        *, always_hash: bool = False,
    ) -> tuple[bytes, bool]:
        """The bytes of one block file, checked against the size and SHA-256 recorded.

        Returns the bytes and whether their hash was computed on this read.

        The hash is computed the first time a file is read in this process; later reads of
        the same file (same path, inode, size and modification time: the array cache's key)
        skip it, unless ``always_hash`` (``validate``).
        """
        where = self._where(split, model, fold, tta)
        rel = entry["file"]
        want = entry.get("sha256")
        key = None
        try:
            if want and self._fs.local and not always_hash:
                st = os.stat(self._fs.path(rel))
                key = (self._fs.path(rel), st.st_ino, st.st_size, st.st_mtime_ns)
            payload = self._fs.read_bytes(rel)
        except FileNotFoundError as exc:
            raise BlockVanishedError(
                f"{where}: the block file {self._fs.display(rel)} is missing"
            ) from exc
        except OSError as exc:
            raise CorruptFileError(f"{where}: cannot read {self._fs.display(rel)}: {exc}") from exc
        hashed = False
        if want:
            size = entry.get("bytes")
            if size is not None and len(payload) != size:
                raise CorruptFileError(
                    f"{where}: {self._fs.display(rel)} has {len(payload)} bytes, the manifest "
                    f"recorded {size}: the file was truncated or changed after it was written; "
                    "re-import or re-train the block (use --overwrite)"
                )
            if key is None or _VERIFIED.get(key) != want:
                got, hashed = S.content_hash(payload), True
                if got != want:
                    raise CorruptFileError(
                        f"{where}: {self._fs.display(rel)} fails its checksum (SHA-256 "
                        f"{got[:12]}..., the manifest recorded {want[:12]}...): the file changed "
                        "after it was written (a disk or copy fault, or an edit); re-import or "
                        "re-train the block (use --overwrite)"
                    )
                if key is not None:
                    if len(_VERIFIED) > 100_000:
                        _VERIFIED.clear()
                    _VERIFIED[key] = want
        return payload, hashed

    def _read_values(
        self, split: str, model: str, fold: int, tta: int, entry: dict[str, Any],
        *, always_hash: bool = False,
    ) -> np.ndarray:
        """Read one block, check it, and return its values ``(rows, C)`` in store order."""
        where = self._where(split, model, fold, tta)
        rel = entry["file"]
        payload, _ = self._read_block_bytes(
            split, model, fold, tta, entry, always_hash=always_hash
        )
        # The SHA-256 covers every page; page CRCs are checked only for blocks without one.
        table = self._fs.parse_parquet(rel, payload, verify_pages=not entry.get("sha256"))
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
        if values.size and (values.max() > MAX_ABS_VALUE or values.min() < -MAX_ABS_VALUE):
            self.check_magnitude(values, ids.to_numpy(zero_copy_only=False), where)
        return values

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
            seen = self.__dict__.setdefault("_manifest_checked", {})
            stamp = (m, man.get("generation"), man.get("created"))
            bad = seen[stamp] if stamp in seen else manifest_problems(self, m, man)
            if not bad:
                seen[stamp] = bad  # a manifest with the same generation passed already
            if bad:
                raise CorruptFileError(
                    f"{self._fs.display(S.manifest_path(m))}: " + "; ".join(bad)
                    + f". Re-import the model, or remove it with `oof rm {self.uri} --model {m}`"
                )
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

    def _read_many(self, jobs: list[tuple[str, str, int, int, dict]]) -> list[np.ndarray]:
        if len(jobs) <= 2:
            return [self._read_values(*j) for j in jobs]
        with ThreadPoolExecutor(_N_THREADS) as pool:
            return list(pool.map(lambda j: self._read_values(*j), jobs))

    def _entry(self, man: dict[str, Any], split: str, model: str, fold: int, tta: int) -> dict:
        """The manifest's record of one block (file, sha256)."""
        entry = self._manifest_entries(model, man).get(S.block_key(split, fold, tta))
        if entry is None:
            raise CorruptFileError(
                f"{self._where(split, model, fold, tta)}: the manifest "
                f"{self._fs.display(S.manifest_path(model))} does not list this block; "
                "re-import the model (use --overwrite)"
            )
        return entry

    def _retrying(self, load: Any, models: list[str]) -> Any:
        """Run ``load(used)``; if a block vanished because a writer committed meanwhile, again.

        ``load`` appends the manifests it read to ``used``; after a missing block, they are
        compared with the manifests now on disk (no extra read on the normal path).
        """
        for attempt in range(3):
            used: list[dict[str, Any]] = []
            try:
                return load(used)
            except BlockVanishedError:
                if attempt == 2 or [self._committed_manifest(m) for m in models] == used:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

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
        return self._retrying(lambda used: self._load_oof(models, tta, output, used), models)

    def _load_oof(self, models: list[str], tta: str | int, output: str, used: list) -> OOFSet:
        mans = self._manifests(models)
        used.extend(mans)
        picks, view_names = tta_plan(models, mans, tta)
        jobs = [
            ("oof", m, f, t, self._entry(man, "oof", m, f, t))
            for m, man, views in zip(models, mans, picks, strict=False)
            for t in views
            for f in self.fold_ids
        ]
        cache = cache_file(self, jobs, mans, (tta, output))
        out = read_cache(cache)
        if out is None:
            out = self._assemble_oof(models, mans, picks, jobs, len(view_names), tta, output)
            write_cache(cache, out)
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
        return self._retrying(lambda used: self._load_test(models, tta, folds, output, used), models)

    def _load_test(
        self, models: list[str], tta: str | int, folds: str, output: str, used: list
    ) -> TestSet:
        mans = self._manifests(models)
        used.extend(mans)
        picks, view_names = tta_plan(models, mans, tta)
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
            ("test", m, f, t, self._entry(man, "test", m, f, t))
            for m, man, views, fl in zip(models, mans, picks, fold_lists, strict=False)
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
