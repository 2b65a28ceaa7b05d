"""Exporting one model's predictions as CSV or Parquet."""

from __future__ import annotations

import os

import pandas as pd

from oof_store import _schema as S
from oof_store._store import Store


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
