"""The store's face: opening a store, its targets and its models.

The work is done in one module per job: ``_creating`` (a new store), ``_writing``
(blocks, manifests), ``_blocks`` (block checks), ``_reading`` (aligned arrays), ``_tta``
(TTA planning), ``_cache`` (the load cache) and ``_validating`` (``validate``).
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oof_store import _schema as S
from oof_store._blocks import _BlockChecks
from oof_store._convert import convert, softmax
from oof_store._errors import (
    CorruptFileError,
    IncompleteModelError,
    ModelNotFoundError,
    StoreError,
    StoreNotFoundError,
)
from oof_store._fs import FS
from oof_store._reading import OOFSet, TestSet, _Reader
from oof_store._validating import _Validator, store_meta_problems
from oof_store._writing import _Writer

__all__ = ["Store", "OOFSet", "TestSet", "convert", "softmax"]


def _stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


class Store(_Writer, _Reader, _Validator, _BlockChecks):
    """A directory of OOF and test predictions keyed by model, fold and TTA view.

    Open an existing store with ``Store(uri)``; make a new one with :meth:`create`.
    ``uri`` is a local path or any URI ``pyarrow.fs`` opens (``s3://...``).

    Thread and process safety: many writers may write *different models* at once. One
    model has one writer at a time (a lock; a second writer gets ConcurrentWriteError), and
    each write of a model is committed in one atomic rename of its manifest, so readers see
    the model wholly as it was or wholly as it is now (see :meth:`transaction`).
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
        meta = self._fs.read_json_object(S.STORE_FILE, "store description")
        version = meta.get("format_version")
        if version not in S.READABLE_VERSIONS:
            raise StoreError(
                f"{self._fs.display(S.STORE_FILE)} has format version {version!r}; this "
                f"version of oof_store reads versions {list(S.READABLE_VERSIONS)}: "
                + ("upgrade oof-blend" if isinstance(version, int) and version > S.FORMAT_VERSION
                   else "the file is damaged; restore it from a backup")
            )
        problems = store_meta_problems(meta)
        if problems:
            raise CorruptFileError(
                f"{self._fs.display(S.STORE_FILE)}: " + "; ".join(problems)
                + ". Restore the file from a backup, or re-create the store with `oof init`"
            )
        self.meta: dict[str, Any] = meta
        self.task: str = meta["task"]
        self.class_names: list[str] = list(meta["class_names"])
        self.id_col: str = meta["id_col"]
        self.target_cols: list[str] = list(meta["target_cols"])
        self.n_classes: int = len(self.class_names)
        self.creation_notes: list[str] = []  # what `create` had to say (rows numbered, folds left out)

    def __repr__(self) -> str:
        return f"Store({self.uri!r}, task={self.task!r}, rows={len(self.ids)}, folds={self.n_folds})"

    @classmethod
    def create(
        cls,
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
        test_ids : iterable or int, optional
            The ids of the test rows, in submission order (an int: the row count of a
            test file without ids).
        id_col, fold_col, make_folds, positive
            See :func:`oof_store._creating.create_store`: ``id_col=None`` numbers the
            rows, ``fold_col`` may list one-hot columns, ``make_folds="stratified:5:42"``
            makes the folds, ``positive`` names a binary task's positive class.
        """
        from oof_store._creating import create_store

        meta = create_store(
            uri, targets, id_col=id_col, target_cols=target_cols, fold_col=fold_col,
            group_col=group_col, task=task, class_names=class_names, test_ids=test_ids,
            overwrite=overwrite, source=source, make_folds=make_folds, positive=positive,
        )
        store = cls(uri)
        store.creation_notes = list(meta.get("notes", []))
        return store

    # ------------------------------------------------------------------ targets
    @cached_property
    def targets(self) -> pd.DataFrame:
        """The targets table: id, target column(s), fold, optional group and extra columns."""
        return self._read_checked(S.TARGETS_FILE).to_pandas()

    def _read_checked(self, rel: str) -> pa.Table:
        """``targets.parquet`` or ``test.parquet``, checked against the SHA-256 in ``store.json``.

        Stores made before the checksums were recorded have none: read as they are (``oof
        validate`` notes it; the next write of any model records them).
        """
        try:
            payload = self._fs.read_bytes(rel)
        except OSError as exc:
            raise CorruptFileError(f"cannot read {self._fs.display(rel)}: {exc}") from exc
        want = (self.meta.get("checksums") or {}).get(rel)
        if want is not None:
            got = S.content_hash(payload)
            if got != want:
                raise CorruptFileError(
                    f"{self._fs.display(rel)} fails its checksum (SHA-256 {got[:12]}..., "
                    f"{S.STORE_FILE} recorded {want[:12]}...): it was changed after the store "
                    "was made (labels, ids or folds edited, or a damaged copy). Restore it "
                    "from a backup, or re-create the store with `oof init --overwrite`"
                )
        return self._fs.parse_parquet(rel, payload)

    def _record_checksums(self) -> None:
        """Record the SHA-256 of the targets and test ids in a store made before they were.

        Only when the targets still match the store's fingerprint (ids and folds): a file
        already changed is not blessed. Done by the first write to such a store.
        """
        from oof_store._creating import store_checksums

        try:
            if S.fingerprint(self.ids, self.folds) != self.fingerprint:
                return  # validate names the mismatch
            sums = store_checksums(self._fs)
        except (StoreError, OSError):
            return
        meta = {**self.meta, "checksums": sums}
        self._fs.write_json(S.STORE_FILE, meta)
        self.meta.update(meta)

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
        tab = self._read_checked(S.TEST_FILE)
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
        names = set()
        pending = set()
        for i in self._fs.list_dir(S.MODELS_DIR):
            n = i.base_name
            if n.endswith(".json") and not n.startswith("."):
                names.add(n[: -len(".json")])
            elif n.startswith(".pending-") and n.endswith(".json"):
                pending.add(n[len(".pending-") : -len(".json")])
        if include_incomplete:
            names |= pending
            for split in S.SPLITS:
                for info in self._fs.list_dir(f"{S.PREDS_DIR}/split={split}"):
                    if info.base_name.startswith("model="):
                        names.add(info.base_name[len("model=") :])
        return sorted(names)

    def manifest(self, model: str) -> dict[str, Any]:
        """The manifest of a finished model."""
        man = self._committed_manifest(S.check_model_name(model))
        if man is None:
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
        return man

    def _committed_manifest(self, model: str) -> dict[str, Any] | None:
        """The manifest, or None when the model has none."""
        rel = S.manifest_path(model)
        try:
            return self._fs.read_json_object(rel, "model manifest")
        except FileNotFoundError:
            return None

    def _pending(self, model: str) -> dict[str, Any]:
        """The pending record (blocks written, not committed); ``{}`` when there is none."""
        try:
            rec = self._fs.read_json_object(S.pending_path(model), "pending record")
        except FileNotFoundError:
            rec = {}
        tampered = S.checksum_problem(rec)
        if tampered:
            raise CorruptFileError(
                f"{self._fs.display(S.pending_path(model))}: {tampered}; remove the model's "
                f"pending blocks with `oof rm {self.uri} --model {model}` and import them again"
            )
        if not isinstance(rec.get("blocks", {}), dict):
            raise CorruptFileError(
                f"{self._fs.display(S.pending_path(model))}: 'blocks' is not an object; "
                f"remove the model's pending blocks with `oof rm {self.uri} --model {model}`"
            )
        if "blocks" not in rec and 1 in (self.meta.get("format_version"), self.meta.get("upgraded_from")):
            legacy = self._legacy_pending(model)
            if legacy:
                rec = {**rec, "blocks": legacy}
        return rec

    def _legacy_pending(self, model: str) -> dict[str, dict[str, Any]]:
        """Version 1 block files (``part-0.parquet``) of a model that its manifest does not name.

        Version 1 had no pending record: the blocks of a model being built were the files
        on disk. They stay pending blocks after the upgrade, so no written fold is lost.
        """
        man = self._committed_manifest(model)
        if man is not None and "blocks" in man:
            return {}  # committed since the upgrade: any part-0 file left is an old generation
        named = {e["file"] for e in self._manifest_entries(model, man).values()} if man else set()
        out = {}
        for d in S.model_dirs(model):
            for rel in self._fs.walk_files(d):
                parts = rel.split("/")
                if parts[-1] != S.LEGACY_PART_FILE or rel in named:
                    continue
                try:
                    split = parts[1].split("=", 1)[1]
                    fold = int(parts[3].split("=", 1)[1])
                    tta = int(parts[4].split("=", 1)[1])
                except (IndexError, ValueError):
                    continue
                out[S.block_key(split, fold, tta)] = {"file": rel, "sha256": None}
        return out

    def _manifest_entries(self, model: str, man: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``block key -> {"file", "sha256", ...}`` of a manifest (version 1: fixed names)."""
        blocks = man.get("blocks")
        if isinstance(blocks, dict):
            return blocks
        if blocks is not None:
            raise CorruptFileError(
                f"{self._fs.display(S.manifest_path(model))}: 'blocks' is not an object"
            )
        views = range(len(man.get("tta_views", [])))  # format version 1: no hashes
        keys = [("oof", f, t) for f in man.get("oof_folds", []) for t in views]
        keys += [("test", f, t) for f in man.get("test_folds", []) for t in views]
        return {
            S.block_key(s, f, t): {"file": S.legacy_block_path(s, model, f, t), "sha256": None}
            for s, f, t in keys
        }

    def _block_entries(self, model: str) -> dict[str, dict[str, Any]]:
        """Every block of ``model``: the committed ones overlaid with the pending ones."""
        man = self._committed_manifest(model)
        base = self._manifest_entries(model, man) if man is not None else {}
        return {**base, **self._pending(model).get("blocks", {})}

    def _referenced_files(self, model: str) -> set[str]:
        """Every file the manifest or the pending record names (both generations)."""
        man = self._committed_manifest(model)
        entries = list(self._manifest_entries(model, man).values()) if man is not None else []
        entries += list(self._pending(model).get("blocks", {}).values())
        return {e["file"] for e in entries if isinstance(e, dict) and "file" in e}

    def writer_mix(self, model: str) -> str | None:
        """Why ``model`` mixes blocks of writers whose writes interleaved (None when it does not).

        Each block records the session that wrote it and when (``origin``). Two sessions
        whose spans of writes overlap are two per-fold write sequences that ran at once: the
        model holds some folds of one and some of the other. Sessions one after the other (a
        model built over days, or rewritten fold by fold) are not a mix.
        """
        by: dict[str, list[tuple[float, str, dict]]] = {}
        for key, entry in self._block_entries(model).items():
            o = entry.get("origin") if isinstance(entry, dict) else None
            if isinstance(o, dict) and isinstance(o.get("at"), (int, float)) and o.get("session"):
                by.setdefault(str(o["session"]), []).append((float(o["at"]), key, o))
        span = {s: [min(v)[0], max(v)[0]] for s, v in by.items()}
        for rec in (self._committed_manifest(model) or {}, self._pending(model)):
            for s, sp in (rec.get("writers") or {}).items():  # spans of overwritten blocks too
                if s in span and isinstance(sp, list) and len(sp) == 2 and all(
                        isinstance(x, (int, float)) for x in sp):
                    span[s] = [min(span[s][0], sp[0]), max(span[s][1], sp[1])]
        spans = sorted((a, b, s) for s, (a, b) in span.items())
        clash = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
        if not clash:
            return None
        names = {clash[0][0][2], clash[0][1][2]}

        def who(s: str) -> str:
            rows = sorted(by[s], key=lambda x: x[1])
            o = rows[0][2]
            return (f"{', '.join(k for _, k, _ in rows)} by {o.get('op', 'a write')} "
                    f"(session {s}, writing from {_stamp(span[s][0])} to {_stamp(span[s][1])})")

        return (
            f"model {model!r} mixes blocks of {len(names)} writers whose writes interleaved: "
            + "; ".join(who(s) for s in sorted(names))
            + ". Two per-fold write sequences ran at once, so its folds come from different "
            "runs. Re-write every fold from one run (`oof import ... --overwrite` with a {fold} "
            "template writes them in one go), or remove the model"
        )

    def has_block(self, split: str, model: str, fold: int, tta: int) -> bool:
        """Whether the block is written (committed, or pending for the next commit)."""
        S.check_split(split)
        return S.block_key(split, fold, tta) in self._block_entries(S.check_model_name(model))

    def blocks(self, model: str, split: str | None = None) -> list[tuple[str, int, int]]:
        """``(split, fold, tta)`` of every block written for ``model`` (pending included), sorted."""
        out = []
        for key in self._block_entries(S.check_model_name(model)):
            try:
                b = S.parse_block_key(key)
            except ValueError:
                continue  # validate names it
            if split is None or b[0] == split:
                out.append(b)
        return sorted(out)

    def block_file(self, split: str, model: str, fold: int, tta: int) -> str:
        """The path (as shown in messages) of the file holding a block now."""
        entry = self._block_entries(S.check_model_name(model)).get(S.block_key(split, fold, tta))
        if entry is None:
            raise IncompleteModelError(f"{self._where(split, model, fold, tta)}: no such block")
        return self._fs.display(entry["file"])

    def committed_files(self, split: str | None = None) -> list[str]:
        """Paths of the block files of every finished model, for other readers.

        ``pyarrow.dataset.dataset(store.committed_files(), partitioning="hive",
        partition_base_dir=...)`` reads exactly the committed predictions, never a block of
        a write that is under way or was interrupted.
        """
        out = []
        for m in self.models():
            for key, entry in self._manifest_entries(m, self.manifest(m)).items():
                if split is None or key.startswith(f"{split}/"):
                    out.append(self._fs.path(entry["file"]))
        return sorted(out)

    def _record_temp_files(self, model: str) -> list[str]:
        """Temporary files of the model's manifest or pending record (left by a crash)."""
        pat = re.compile(rf"^{re.escape(S.TMP_PREFIX)}[0-9a-f]{{32}}-(\.pending-)?{re.escape(model)}\.json$")
        return [
            f"{S.MODELS_DIR}/{i.base_name}" for i in self._fs.list_dir(S.MODELS_DIR)
            if pat.match(i.base_name)
        ]

    def stray_files(self) -> list[str]:
        """Temporary files left by interrupted writers (safe to delete)."""
        return [
            r
            for r in self._fs.walk_files(S.PREDS_DIR) + self._fs.walk_files(S.MODELS_DIR)
            if r.rsplit("/", 1)[-1].startswith(S.TMP_PREFIX)
        ]
