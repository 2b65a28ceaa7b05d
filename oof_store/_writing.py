"""Writing: blocks, committing a model (its manifest), removing a model.

Every change to a model is one *write* (:class:`Transaction`) holding the model's lock:

1. new block files are written beside the old ones, each under a new name
   ``part-<gen>.parquet`` (temporary name, then rename), and hashed;
2. the commit point is one atomic rename: of the manifest ``models/<m>.json`` when the
   model is (still) complete, otherwise of its pending record ``models/.pending-<m>.json``;
3. the files no record refers to any more (the previous generation) are deleted.

A writer killed before step 2 leaves the model exactly as it was (plus unreferenced files
that ``validate`` lists and the next write of that model deletes); killed after it, the
model is wholly new. Readers only follow the manifest, so they see one or the other.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import pyarrow as pa

from oof_store import _schema as S
from oof_store._errors import (
    ConcurrentWriteError,
    IncompleteModelError,
    ModelNotFoundError,
    StoreError,
    StoreExistsError,
)
from oof_store._lock import ModelLock

__all__ = ["Transaction"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


SESSION_ENV = "OOF_STORE_SESSION"
WRITERS_KEPT = 32  # sessions remembered per model (manifest ``writers``)
_SESSION: ContextVar[str | None] = ContextVar("oof_store_session", default=None)


def writer_session() -> str:
    """Who is writing, for the ``origin`` of each block: one id per run of writes.

    ``OOF_STORE_SESSION`` when set; inside :func:`session` (the ``oof`` commands: the shell
    or script that runs them, so one loop of per-fold imports is one session) its name;
    otherwise this process.
    """
    return os.environ.get(SESSION_ENV) or _SESSION.get() or f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def session(name: str) -> Iterator[None]:
    """Write as session ``name`` inside the block (see :func:`writer_session`)."""
    token = _SESSION.set(name)
    try:
        yield
    finally:
        _SESSION.reset(token)


class Transaction:
    """One write of one model: blocks, then a single commit; all of it or none of it.

    Use it through :meth:`Store.transaction`::

        with store.transaction("b4") as tx:
            for k in store.fold_ids:
                tx.write_block("oof", k, 0, ids_k, preds_k, overwrite=True)
            tx.finish_model(kind="logits")      # commit: the manifest switches at once

    Leaving the block without ``finish_model`` records the new blocks in the model's
    pending record (one atomic write), to be committed by a later ``finish_model``. An
    exception inside the block commits nothing and deletes the files it wrote.

    With ``replace=True`` the write starts from an empty model: the blocks it writes are the
    model's only blocks once it commits (``finish_model(overwrite=True)``), so a model is
    replaced all at once, never removed first and rewritten.
    """

    def __init__(self, store: Any, model: str, op: str = "write", *, replace: bool = False) -> None:
        self.store = store
        self.replace = replace
        self.model = S.check_model_name(model)
        self.gen = uuid.uuid4().hex[:16]
        self._lock = ModelLock(store._fs, model, op)
        self.new: dict[str, dict[str, Any]] = {}
        self.pending_extra: dict[str, Any] = {}
        self.manifest: dict[str, Any] | None = None  # set by finish_model
        self._open = False
        self._checkpointed = False

    # ------------------------------------------------------------ life cycle
    def __enter__(self) -> Transaction:
        refuse_links(self.store._fs, self.model, self._lock.op)
        self._lock.__enter__()
        self._open = True
        try:
            fs = self.store._fs
            if self.store.meta.get("format_version") == 1:  # upgrade once, before writing v2 files
                upgraded = {**self.store.meta, "format_version": S.FORMAT_VERSION, "upgraded_from": 1}
                fs.write_json(S.STORE_FILE, upgraded)
                self.store.meta.update(upgraded)
            if "checksums" not in self.store.meta:
                self.store._record_checksums()
            self.committed = self.store._committed_manifest(self.model)
            self.pending = self.store._pending(self.model)
            self._base = (_gen(self.committed), _gen(self.pending))
            if self.replace:  # start from an empty model: earlier pending blocks set aside too
                self.pending = {}
        except BaseException:
            self._lock.__exit__(None, None, None)
            self._open = False
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is not None:
                self._discard()
                if self._checkpointed:  # files its checkpoints stopped naming
                    with contextlib.suppress(OSError):
                        self._collect_garbage()
                return
            if self.manifest is None and (self.new or self.pending_extra):
                self._commit_pending()
            if self.new or self.manifest is not None or self._checkpointed:
                self._collect_garbage()
        finally:
            self._open = False
            self._lock.__exit__(None, None, None)

    def _commit_pending(self) -> None:
        """Record this write's blocks in the pending record (one atomic rename)."""
        record = {**self.pending, **self.pending_extra}
        record["blocks"] = {**self._pending_blocks(), **self.new}
        record["writers"] = self._writers()
        record["generation"] = self.gen
        try:
            self._check_generation()
            record = S.with_checksum(record)
            self.store._fs.write_json(S.pending_path(self.model), record)  # commit point
        except BaseException:
            self._discard()
            raise
        self.pending, self.new = record, {}
        self._base = (self._base[0], _gen(record))

    def checkpoint(self) -> None:
        """Record the blocks written so far as pending, keeping the lock.

        A long writer (a trainer, fold by fold) calls it after each fold: killed later, its
        finished folds survive as pending blocks for a resumed run, while a second writer of
        the model is refused for the whole run.
        """
        if not self._open:
            raise StoreError("use the transaction inside `with store.transaction(model) as tx:`")
        if self.new or self.pending_extra:
            self._commit_pending()
            self._checkpointed = True

    def _discard(self) -> None:
        """Delete this write's block files: no record names them, so nothing else to undo."""
        try:
            for entry in self.new.values():
                self.store._fs.delete_file(entry["file"])
            for d in S.model_dirs(self.model):
                self.store._fs.prune_empty_dirs(d)
        except OSError:
            pass

    def _check_generation(self) -> None:
        """Refuse to commit over another writer's commit (the lock's stand-in off local disks)."""
        now = (_gen(self.store._committed_manifest(self.model)), _gen(self.store._pending(self.model)))
        if now != self._base:
            raise ConcurrentWriteError(
                f"model {self.model!r} was changed by another writer while this one ran "
                f"(generation {now} instead of {self._base}); nothing of this write was "
                "committed. Run it again"
            )

    def _collect_garbage(self) -> None:
        """Delete the model's files that neither the manifest nor the pending record names."""
        fs = self.store._fs
        keep = self.store._referenced_files(self.model)
        for d in S.model_dirs(self.model):
            for rel in fs.walk_files(d):
                if rel not in keep:
                    fs.delete_file(rel)
            fs.prune_empty_dirs(d)
        for rel in self.store._record_temp_files(self.model):
            fs.delete_file(rel)

    def _writers(self) -> dict[str, list[float]]:
        """``session -> [first, last]`` write times of the model's latest writing sessions.

        Carried from record to record (the ``WRITERS_KEPT`` latest), so a session's span
        survives its overwritten blocks: it is how :meth:`Store.writer_mix` sees two per-fold
        sequences that interleaved (B writes fold 0, A overwrites it, B goes on with 1-4).
        """
        spans: dict[str, list[float]] = {}

        def add(who: Any, first: Any, last: Any) -> None:
            if isinstance(who, str) and isinstance(first, (int, float)) and isinstance(last, (int, float)):
                a, b = spans.get(who, [first, last])
                spans[who] = [min(a, first), max(b, last)]

        for rec in (self.committed or {}, self.pending):
            for who, span in (rec.get("writers") or {}).items():
                if isinstance(span, list) and len(span) == 2:
                    add(who, *span)
        for entry in self.new.values():
            o = entry.get("origin") or {}
            add(o.get("session"), o.get("at"), o.get("at"))
        recent = sorted(spans, key=lambda w: spans[w][1])[-WRITERS_KEPT:]
        return {who: spans[who] for who in sorted(recent)}

    # ------------------------------------------------------------ blocks
    def entries(self) -> dict[str, dict[str, Any]]:
        """Every block of the model as this write will leave it: committed, pending, new."""
        base = ({} if self.replace or not self.committed
                else self.store._manifest_entries(self.model, self.committed))
        return {**base, **self._pending_blocks(), **self.new}

    def _pending_blocks(self) -> dict[str, dict[str, Any]]:
        # with ``replace`` the pending record holds only this write's checkpoints (the
        # model's earlier pending blocks were set aside when it began)
        return self.pending.get("blocks", {})

    def blocks(self, split: str | None = None) -> list[tuple[str, int, int]]:
        """``(split, fold, tta)`` of every block, as :meth:`Store.blocks`, this write included."""
        out = [S.parse_block_key(k) for k in self.entries()]
        return sorted(b for b in out if split is None or b[0] == split)

    def write_block(
        self,
        split: str,
        fold: int,
        tta: int,
        ids: Iterable[Any],
        preds: np.ndarray,
        *,
        overwrite: bool = False,
    ) -> None:
        """Check one block and write it to a new file (committed with the write)."""
        if not self._open:
            raise StoreError("use the transaction inside `with store.transaction(model) as tx:`")
        S.check_split(split)
        st, model = self.store, self.model
        fold, tta = int(fold), int(tta)
        where = st._where(split, model, fold, tta)
        if tta < 0:
            raise StoreError(f"{where}: the TTA view index must be >= 0")
        key = S.block_key(split, fold, tta)
        if not overwrite and key in self.entries():
            raise StoreExistsError(
                f"{where} is already in the store ({st._fs.display(self.entries()[key]['file'])}); "
                "pass overwrite=True (--overwrite) to replace it"
            )
        ids, values = st.check_block(split, model, fold, tta, ids, preds)
        columns = {st.id_col: pa.array(ids, pa.string())}
        for c, name in enumerate(st.class_names):
            columns[name] = pa.array(values[:, c], pa.float32())
        payload = st._fs.parquet_bytes(pa.table(columns), fast=True)
        rel = S.block_file(split, model, fold, tta, self.gen)
        old = self.new.get(key)
        st._fs.put_bytes(rel, payload)
        self.new[key] = {"file": rel, "sha256": S.content_hash(payload), "bytes": len(payload),
                         "rows": len(ids), "origin": {"session": writer_session(),
                                                      "op": self._lock.op, "pid": os.getpid(),
                                                      "at": round(time.time(), 3)}}
        if old is not None and old["file"] != rel:  # pragma: no cover - same gen, same name
            st._fs.delete_file(old["file"])

    def finish_model(
        self,
        *,
        kind: str | None = None,
        tta_views: Sequence[str] | None = None,
        params: dict[str, Any] | None = None,
        source: str | None = None,
        parents: Sequence[str] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Check that every OOF block is present, then commit the manifest (atomically).

        ``kind``, ``tta_views``, ``params``, ``source`` and ``parents`` default to those of
        the model's current manifest (``probs``, view names ``none``/``view<t>``, ``{}``,
        ``import``, ``[]`` for a new model).
        """
        st, model = self.store, self.model
        old = self.committed or {}
        kind = kind if kind is not None else old.get("kind", "probs")
        if kind not in S.KINDS:
            raise StoreError(f"kind must be one of {list(S.KINDS)}, got {kind!r}")
        if st.task == "regression" and kind != "raw":
            kind = "raw"
        rel = S.manifest_path(model)
        if self.committed is not None and not overwrite:
            raise StoreExistsError(
                f"model {model!r} is already finished ({st._fs.display(rel)}); pass "
                "overwrite=True (--overwrite) to replace its manifest"
            )
        entries = self.entries()
        blocks = [S.parse_block_key(k) for k in entries]
        oof = {(f, t) for s, f, t in blocks if s == "oof"}
        test = {(f, t) for s, f, t in blocks if s == "test"}
        if not oof:
            raise IncompleteModelError(f"model {model!r} has no OOF blocks; write them first")
        n_tta = max(t for _, t in oof) + 1
        if tta_views is None:
            tta_views = old.get("tta_views") or self.pending.get("tta_views")
            if tta_views is None or len(tta_views) != n_tta:
                tta_views = ["none"] if n_tta == 1 else [f"view{t}" for t in range(n_tta)]
        tta_views = [str(v) for v in tta_views]
        if len(tta_views) != n_tta or len(set(tta_views)) != n_tta:
            raise StoreError(
                f"model {model!r}: {n_tta} TTA view(s) written, but tta_views is {tta_views}; "
                "give one distinct name per view, in index order"
            )
        missing = [(f, t) for f in st.fold_ids for t in range(n_tta) if (f, t) not in oof]
        extra = sorted(oof - {(f, t) for f in st.fold_ids for t in range(n_tta)})
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
        for key, entry in entries.items():  # blocks of a version 1 model: hash them now
            if not entry.get("sha256"):
                payload = st._fs.read_bytes(entry["file"])
                entries[key] = {**entry, "sha256": S.content_hash(payload), "bytes": len(payload)}
        if kind == "probs":
            for sp, keys in (("oof", oof), ("test", test)):
                for f, t in sorted(keys):
                    entry = entries[S.block_key(sp, f, t)]
                    st.check_prob_sums(sp, model, f, t, st._read_values(sp, model, f, t, entry))
        manifest = {
            "format_version": S.FORMAT_VERSION,
            "name": model,
            "kind": kind,
            "tta_views": tta_views,
            "n_classes": st.n_classes,
            "class_names": st.class_names,
            "oof_folds": st.fold_ids,
            "test_folds": test_folds,
            "params": params if params is not None else old.get("params", {}),
            "source": source if source is not None else old.get("source", "import"),
            "parents": list(parents if parents is not None else old.get("parents", [])),
            "created": _now(),
            "fingerprint": st.fingerprint,
            "fold_fingerprints": st._fold_fingerprints,
            "generation": self.gen,
            "blocks": {k: entries[k] for k in sorted(entries)},
            "writers": self._writers(),
        }
        manifest = S.with_checksum(manifest)
        self._check_generation()
        st._fs.write_json(rel, manifest)  # the commit point
        self.manifest = manifest
        self.committed, self.new = manifest, {}
        st._fs.delete_file(S.pending_path(model))  # everything pending is in the manifest now
        self.pending = {}
        return manifest


def refuse_links(fs: Any, model: str, op: str) -> None:
    """Refuse to write a model whose directories hold or sit below a symbolic link.

    The file operations themselves never follow a link (:class:`~oof_store._fs.FS`); this
    names the link before anything starts, instead of half-way through.
    """
    for rel in (S.MODELS_DIR, *S.model_dirs(model)):
        links = fs.links_below(rel) if rel != S.MODELS_DIR else (
            [fs.path(rel)] if fs.is_link(rel) else [])
        if links:
            from oof_store._fs import symlink_error

            raise symlink_error(links[0], f"this {op} of model {model!r}")


def _gen(record: dict[str, Any] | None) -> str | None:
    return None if record is None else str(record.get("generation", record.get("created", "")))


class _Writer:
    """Writing methods of :class:`Store` (a mixin)."""

    def transaction(self, model: str, op: str = "write", *, replace: bool = False) -> Transaction:
        """One all-or-nothing write of ``model``, holding its lock (see :class:`Transaction`).

        ``replace=True``: the write's blocks replace every block the model had, at its commit.
        Raises :class:`ConcurrentWriteError` at once when another writer holds the model.
        """
        return Transaction(self, model, op, replace=replace)

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
        """Check and write one (split, model, fold, tta) block as a pending block.

        The block becomes visible to readers when the model's manifest is next committed
        (:meth:`finish_model`), together with every other pending block: a model being
        rewritten block by block keeps its old predictions until then.

        Parameters
        ----------
        ids : array-like of shape (n,)
            Row ids: for ``oof`` exactly the rows of ``fold`` in the store; for ``test``
            every test id.
        preds : array-like of shape (n, n_classes)
            Probabilities, logits or regression values (a 1-D array when n_classes is 1).
        """
        S.check_split(split)
        with self.transaction(model, "write_block") as tx:
            tx.write_block(split, fold, tta, ids, preds, overwrite=overwrite)

    def finish_model(
        self,
        model: str,
        *,
        kind: str | None = None,
        tta_views: Sequence[str] | None = None,
        params: dict[str, Any] | None = None,
        source: str | None = None,
        parents: Sequence[str] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Check that every OOF block of ``model`` is present, then commit its manifest.

        The manifest is written last, in one atomic rename, so a model is visible to
        readers only once complete, and a rewritten model changes all at once. It records
        each block's file and SHA-256, and the store's fingerprint (row ids and fold
        assignment), so predictions made with other folds are caught later even if the
        store changes.
        """
        with self.transaction(model, "finish") as tx:
            return tx.finish_model(
                kind=kind, tta_views=tta_views, params=params, source=source,
                parents=parents, overwrite=overwrite,
            )

    def remove_model(self, model: str) -> None:
        """Delete a model: its manifest first (it is gone at once), then its files."""
        S.check_model_name(model)
        if model not in self.models(include_incomplete=True):
            raise ModelNotFoundError(
                f"no model {model!r} in the store {self.uri}; available: "
                f"{', '.join(self.models(include_incomplete=True)) or '(none)'}"
            )
        refuse_links(self._fs, model, "rm")
        with ModelLock(self._fs, model, "rm"):
            self._fs.delete_file(S.manifest_path(model))
            self._fs.delete_file(S.pending_path(model))
            for d in S.model_dirs(model):
                self._fs.delete_dir(d)
            for rel in self._record_temp_files(model):
                self._fs.delete_file(rel)
