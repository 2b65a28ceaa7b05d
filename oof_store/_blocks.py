"""Checking a block of predictions: shape, finite values, ids and folds, probability sums."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from itertools import islice
from typing import Any

import numpy as np

from oof_store import _schema as S
from oof_store._errors import FoldMismatchError, StoreError

PROB_SUM_TOL = 1e-3
#: The largest magnitude a stored value may have. float32 ends at 3.4e38: a logit of 3e38
#: overflows a softmax (x - max), and sums over folds, views and models overflow too. 1e30
#: leaves room for sums of 10^8 values and is far beyond any real prediction.
MAX_ABS_VALUE = 1e30


def _first(ids: Sized, k: int = 5) -> str:
    """The first ``k`` ids as plain quoted strings (never ``np.str_('...')``), and how many in all.

    The one id list of the store's error messages (blocks, targets, imports).
    """
    shown = ", ".join(repr(str(i)) for i in islice(ids, k))
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > k else "")


class _BlockChecks:
    """Block checks shared by writing, reading and validation (a mixin of :class:`Store`)."""

    def _where(self, split: str, model: str, fold: int, tta: int) -> str:
        return f"model {model!r}, split {split}, fold {fold}, TTA view {tta}"

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
        self.check_magnitude(values, ids, where)
        return values

    def check_magnitude(self, values: np.ndarray, ids: Any, where: str) -> None:
        """Refuse values beyond ``MAX_ABS_VALUE``: their softmax, mean or sum overflows."""
        big = np.abs(values) > MAX_ABS_VALUE
        if big.any():
            rows = np.flatnonzero(big.any(axis=1) if big.ndim == 2 else big)
            r = int(rows[0])
            v = values[r][np.flatnonzero(big[r])[0]] if big.ndim == 2 else values[r]
            raise StoreError(
                f"{where}: {int(big.sum())} value(s) beyond +-{MAX_ABS_VALUE:g} in {len(rows)} "
                f"row(s) (e.g. {float(v):.3g} for id {str(np.asarray(ids)[r])!r}; ids "
                f"{_first(np.asarray(ids)[rows])}): a softmax, mean or sum of them overflows "
                "float32. These are not predictions (a unit or export error?); fix or re-export "
                "them, or leave the model out"
            )

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
