"""Writing: blocks, finishing a model (its manifest), removing a model."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from oof_store import _schema as S
from oof_store._errors import IncompleteModelError, ModelNotFoundError, StoreError, StoreExistsError


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _Writer:
    """Writing methods of :class:`Store` (a mixin)."""

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
